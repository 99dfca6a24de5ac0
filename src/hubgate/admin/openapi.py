"""The admin API's OpenAPI 3.1 document, built from the route table and the pydantic
request models, and `/admin/docs`: the same rendered as one self-contained HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from hubgate import __version__
from hubgate.admin.common import json_response
from hubgate.admin.registry import AdminRoute

OPENAPI = web.AppKey("admin_openapi", dict)

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"], "description": "the offending field, if any"},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_AUTH_TEXT = {"adminBearer": "admin key", "apiKey": "caller API key", "": "none"}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminBearer": []}, {"adminHeader": []}],
    "api_key": [{"apiKey": []}],
    "none": [],
}
_ERRORS = {
    "400": "Invalid input; `error.param` names the field",
    "401": "Missing or wrong credentials",
    "403": "The admin API is disabled (no admin_key configured)",
    "404": "Not found",
    "409": "Already exists",
}


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = dict(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return schema


def _operation(route: AdminRoute, components: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    if route.query is not None:
        schema = _schema(route.query, components)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "security": _SECURITY[route.auth],
        "parameters": params,
        "responses": {
            str(route.status): {
                "description": "OK",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }
    if route.body is not None:
        _schema(route.body, components)
        ref = {"$ref": f"#/components/schemas/{route.body.__name__}"}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for status, text in _ERRORS.items():
        relevant = (
            route.auth != "none"
            if status in ("401", "403")
            else route.body or route.query or "{" in route.path
        )
        if relevant:
            op["responses"][status] = {"description": text, **error}
    return op


def build_openapi(routes: Sequence[AdminRoute]) -> dict[str, Any]:
    """The OpenAPI document of `routes` (every path they serve, nothing else)."""
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hubgate admin API",
            "version": __version__,
            "description": "Guarded by admin_key: send `Authorization: Bearer <admin_key>` or "
            "`x-admin-key: <admin_key>`. Money is exact: `*_usd` decimal strings and `*_micros` "
            "integers. Lists are keyset-paged: pass `next_cursor` back as `?cursor=`. Every change is "
            "written to the audit log (`GET /admin/audit`), secrets redacted.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "adminBearer": {"type": "http", "scheme": "bearer", "description": "the admin_key"},
                "adminHeader": {"type": "apiKey", "in": "header", "name": "x-admin-key"},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "a caller's hubgate API key"},
            },
        },
    }


# --- the HTML page ---------------------------------------------------------------------------------


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(dict.fromkeys(_type(s) for s in schema["anyOf"]))
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    kind = schema.get("type", "any")
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _constraints(schema: dict[str, Any]) -> str:
    names = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "pattern", "maxLength", "default")
    parts = [f"{n}: {json.dumps(schema[n])}" for n in names if n in schema]
    for option in schema.get("anyOf", ()):
        parts += [f"{n}: {json.dumps(option[n])}" for n in names if n in option and n != "pattern"]
    if "description" in schema:
        parts.insert(0, str(schema["description"]))
    return "; ".join(parts)


def _rows(cells: list[list[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    cells = [
        [name, _type(prop), "yes" if name in required else "", _constraints(prop)]
        for name, prop in schema.get("properties", {}).items()
    ]
    head = "<tr><th>field</th><th>type</th><th>required</th><th>notes</th></tr>"
    return f"<table>{head}{_rows(cells)}</table>"


def render_docs(spec: dict[str, Any]) -> str:
    """The OpenAPI document as readable HTML with no external scripts or styles."""
    schemas = spec["components"]["schemas"]
    sections: list[str] = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            auth = _AUTH_TEXT[next(iter(op["security"][0]), "") if op["security"] else ""]
            body = [
                f'<h3><span class="m {method}">{method.upper()}</span> <code>{html.escape(path)}</code></h3>',
                f"<p>{html.escape(op['summary'])} <em>(auth: {auth})</em></p>",
            ]
            if op["parameters"]:
                cells = [[p["name"], p["in"], _type(p["schema"]), "yes" if p["required"] else "",
                          _constraints(p["schema"])] for p in op["parameters"]]  # fmt: skip
                head = "<tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>notes</th></tr>"
                body.append(f"<table>{head}{_rows(cells)}</table>")
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                body.append(f"<p>JSON body <code>{html.escape(ref)}</code>:</p>{_fields_table(schemas[ref])}")
            sections.append(f'<section id="{html.escape(op["operationId"])}">{"".join(body)}</section>')
    style = (
        "body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;vertical-align:top}code{background:#f3f3f3;padding:1px 4px}"
        ".m{display:inline-block;min-width:4.5em;font-size:.8em;color:#fff;border-radius:3px;padding:2px 6px;"
        "text-align:center}.get{background:#2a7}.post{background:#27c}.patch{background:#c82}"
        ".put{background:#a5c}.delete{background:#c33}section{border-top:1px solid #eee}"
    )
    info = spec["info"]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(info['title'])}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(info['title'])} "
        f"<small>{html.escape(info['version'])}</small></h1><p>{html.escape(info['description'])}</p>"
        f"<p>Machine-readable: <a href='/admin/openapi.json'>/admin/openapi.json</a></p>"
        f"{''.join(sections)}</body></html>"
    )


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=render_docs(request.app[OPENAPI]), content_type="text/html")


ROUTES = [
    AdminRoute("GET", "/admin/openapi.json", openapi_json, "This API as an OpenAPI 3.1 document", "docs",
               auth="none"),
    AdminRoute("GET", "/admin/docs", docs, "This API as an HTML page", "docs", auth="none"),
]  # fmt: skip
