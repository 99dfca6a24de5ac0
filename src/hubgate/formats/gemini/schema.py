"""JSON Schema <-> Gemini `Schema` (the OpenAPI 3.0 subset `parameters` and
`responseSchema` accept).

Gemini's Schema message knows: type (upper-case), format, title, description,
nullable, enum (strings), items, properties, required, propertyOrdering, anyOf,
minItems/maxItems, minLength/maxLength, minProperties/maxProperties, minimum/maximum,
pattern, example, default. Any other key fails the whole request with 400 "Invalid
JSON payload received. Unknown name ...": `sanitize_schema` rewrites a caller's JSON
Schema (as pydantic, zod or MCP servers produce it) into that subset:

- `$ref` into `$defs` / `definitions` is inlined (a recursive reference, which Gemini
  cannot express, becomes a bare OBJECT carrying the referenced description);
- `anyOf` / `oneOf` with a `{"type": "null"}` member and type lists such as
  `["string", "null"]` become `nullable: true`; what is left of a union stays `anyOf`
  (oneOf is read as anyOf); `allOf` is merged into one schema;
- `const` becomes a one-value `enum`; enum values are strings;
- `format` is kept only where Gemini honours it (string: enum, date-time; integer:
  int32, int64; number: float, double);
- `$schema`, `$id`, `additionalProperties`, `default`, `examples`, `exclusiveMinimum`,
  `multipleOf`, `uniqueItems`, `prefixItems`, `not`, ... are dropped.

`to_json_schema` reads a Gemini Schema (either spelling) back into JSON Schema.
"""

from __future__ import annotations

from typing import Any

from hubgate.formats.gemini.wire import JSON, get

_TYPES = {"string", "number", "integer", "boolean", "array", "object"}
_FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}
_COPIED = (
    "title",
    "description",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "example",
)
_INT64_FIELDS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")


# ----------------------------------------------------------- JSON Schema -> Gemini


def sanitize_schema(schema: Any, *, order_properties: bool = False) -> JSON:
    """A caller's JSON Schema -> a Gemini Schema. `order_properties` adds
    `propertyOrdering` (structured output keeps the caller's key order)."""
    if not isinstance(schema, dict):
        return {}
    defs: JSON = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _Sanitizer(defs, order_properties).convert(schema, ())


class _Sanitizer:
    def __init__(self, defs: JSON, order_properties: bool) -> None:
        self.defs = defs
        self.order_properties = order_properties

    def convert(self, node: Any, refs: tuple[str, ...]) -> JSON:
        if not isinstance(node, dict):
            return {}  # `true` / `false` schemas: anything goes
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._ref(ref, {k: v for k, v in node.items() if k != "$ref"}, refs)
        node = self._merge_all_of(node)

        nullable = node.get("nullable") is True
        kind = node.get("type")
        others: list[str] = []
        if isinstance(kind, list):
            nullable = nullable or "null" in kind
            others = [t for t in kind if isinstance(t, str) and t != "null"]
            kind = others[0] if len(others) == 1 else None
        if kind == "null":
            nullable, kind = True, None

        union = node.get("anyOf", node.get("oneOf"))
        if isinstance(union, list):
            members = [m for m in union if not (isinstance(m, dict) and m.get("type") == "null")]
            nullable = nullable or len(members) < len(union)
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            if len(members) == 1:  # Optional[X]: X itself, nullable
                out = self.convert(members[0], refs)
                for key, value in self.convert(rest, refs).items():
                    out.setdefault(key, value)
                if nullable:
                    out["nullable"] = True
                return out
            out = self._plain(rest, kind if isinstance(kind, str) else None, refs)
            if members:
                out["anyOf"] = [self.convert(m, refs) for m in members]
        elif len(others) > 1:
            out = self._plain(node, None, refs)
            out["anyOf"] = [self.convert({**node, "type": t}, refs) for t in others]
        else:
            out = self._plain(node, kind if isinstance(kind, str) else None, refs)
        if nullable or (isinstance(node.get("enum"), list) and None in node["enum"]):
            out["nullable"] = True
        return out

    def _plain(self, node: JSON, kind: str | None, refs: tuple[str, ...]) -> JSON:
        """Everything but unions: copied keys, enum, type, format, children."""
        out: JSON = {}
        for key in _COPIED:
            if node.get(key) is not None:
                out[key] = node[key]
        values = node.get("enum")
        if "const" in node:
            values = [node["const"]]
        if isinstance(values, list):
            values = [v for v in values if v is not None]
            if all(isinstance(v, str) for v in values):
                out["enum"] = values
                kind = kind or "string"
            else:  # Gemini enums are strings: keep the type, say the values in words
                allowed = ", ".join(_json_text(v) for v in values)
                note = f"Allowed values: {allowed}."
                out["description"] = f"{out['description']} {note}" if out.get("description") else note
        if kind is None:
            if isinstance(node.get("properties"), dict):
                kind = "object"
            elif "items" in node:
                kind = "array"
        if kind is not None and kind.lower() in _TYPES:
            out["type"] = kind.upper()
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), set()):
            out["format"] = fmt
        if out.get("type") == "OBJECT":
            self._object(node, out, refs)
        elif out.get("type") == "ARRAY":
            items = node.get("items")
            if isinstance(items, list):  # draft-4 tuple form
                items = {"anyOf": items} if len(items) > 1 else (items[0] if items else {})
            if items is not None:
                out["items"] = self.convert(items, refs)
        return out

    def _object(self, node: JSON, out: JSON, refs: tuple[str, ...]) -> None:
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            return
        out["properties"] = {name: self.convert(sub, refs) for name, sub in props.items()}
        required = node.get("required")
        if isinstance(required, list):
            kept = [r for r in required if isinstance(r, str) and r in props]
            if kept:
                out["required"] = list(dict.fromkeys(kept))
        if self.order_properties and len(props) > 1:
            out["propertyOrdering"] = list(props)

    def _ref(self, ref: str, siblings: JSON, refs: tuple[str, ...]) -> JSON:
        """Inline the definition `ref` names; a recursive (or unknown) reference
        becomes a bare OBJECT, since Gemini schemas are trees."""
        name = ref.rsplit("/", 1)[-1]
        target = self.defs.get(name)
        if name in refs or not isinstance(target, dict):
            out: JSON = {"type": "OBJECT"}
            description = siblings.get("description")
            if description is None and isinstance(target, dict):
                description = target.get("description")
            if isinstance(description, str):
                out["description"] = description
            if siblings.get("nullable") is True:
                out["nullable"] = True
            return out
        return self.convert({**target, **siblings}, (*refs, name))

    def _resolve(self, node: JSON) -> JSON:
        """One `$ref` hop (for allOf members, merged before conversion)."""
        for _ in range(8):
            ref = node.get("$ref")
            target = self.defs.get(ref.rsplit("/", 1)[-1]) if isinstance(ref, str) else None
            if not isinstance(target, dict):
                break
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def _merge_all_of(self, node: JSON) -> JSON:
        parts = node.get("allOf")
        if not isinstance(parts, list):
            return node
        merged: JSON = {k: v for k, v in node.items() if k != "allOf"}
        for part in parts:
            if not isinstance(part, dict):
                continue
            for key, value in self._merge_all_of(self._resolve(part)).items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*merged.get("required", []), *value]
                elif key != "$ref":
                    merged.setdefault(key, value)
        return merged


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return str(value)


# ----------------------------------------------------------- Gemini -> JSON Schema


def to_json_schema(schema: Any) -> JSON:
    """A Gemini Schema (camelCase or snake_case keys) -> JSON Schema."""
    if not isinstance(schema, dict):
        return {}
    out: JSON = {}
    kind = get(schema, "type")
    if isinstance(kind, str) and kind.lower() in _TYPES:
        out["type"] = kind.lower()
    for key in _COPIED:
        value = get(schema, key)
        if value is None:
            continue
        if key in _INT64_FIELDS and isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if key == "example":
            out["examples"] = [value]
        else:
            out[key] = value
    fmt = get(schema, "format")
    if isinstance(fmt, str) and fmt != "enum":
        out["format"] = fmt
    enum = get(schema, "enum")
    if isinstance(enum, list):
        out["enum"] = list(enum)
    default = schema.get("default")
    if default is not None:
        out["default"] = default
    props = get(schema, "properties")
    if isinstance(props, dict):
        out["properties"] = {name: to_json_schema(sub) for name, sub in props.items()}
    required = get(schema, "required")
    if isinstance(required, list):
        out["required"] = list(required)
    items = get(schema, "items")
    if items is not None:
        out["items"] = to_json_schema(items)
    any_of = get(schema, "anyOf")
    if isinstance(any_of, list):
        out["anyOf"] = [to_json_schema(member) for member in any_of]
    if get(schema, "nullable") is True:
        _make_nullable(out)
    return out


def _make_nullable(out: JSON) -> None:
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    elif "anyOf" in out:
        out["anyOf"].append({"type": "null"})


__all__ = ["sanitize_schema", "to_json_schema"]
