"""The user API's OpenAPI 3.1 document, built from its route table and pydantic models
(served at `/api/openapi.json`, without authentication)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from hubgate import __version__
from hubgate.http.user_api.routes import ROUTES, UserRoute

_ENVELOPE = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {
        "success": {"type": "boolean"},
        "message": {"type": "string", "description": "empty on success; the reason on failure"},
        "data": {"description": "the answer; absent on failure"},
    },
}
_ERRORS = {
    "400": "Invalid input; `message` names the field",
    "401": "Missing, unknown, revoked or expired token, or a New-Api-User that is not its user",
    "403": "The key belongs to another user",
    "404": "No such key",
    "409": "A key with this name exists",
    "429": "Rate limit of the api class; see Retry-After",
}
_DESCRIPTION = (
    "hubgate's user API, for a customer's own automation, on new-api's paths and "
    "`{success, message, data}` shapes. Authenticate with a personal access token made in the "
    "console (`/ui/tokens`): `Authorization: Bearer hgu-...`; new-api's `New-Api-User: <id>` "
    "header is accepted and must name the token's user. Money: `*_usd` fields are exact "
    "decimal strings (and `*_micros` integers); new-api's `quota` fields count 500,000 per "
    "US dollar (micro-dollars / 2, rounded down)."
)


def _params(route: UserRoute) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in re.findall(r"\{(\w+)\}", route.path)
    ]
    if route.query is not None:
        schema = route.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            out.append({"name": name, "in": "query", "required": False, "schema": prop})
    return out


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = dict(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build() -> dict[str, Any]:
    components: dict[str, Any] = {"Envelope": _ENVELOPE}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}
        responses: dict[str, Any] = {str(route.status): {"description": route.answer, "content": envelope}}
        responses |= {code: {"description": text, "content": envelope} for code, text in _ERRORS.items()}
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": route.handler.__name__,
            "parameters": _params(route),
            "responses": responses,
        }
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(route.body, components)}},
            }
        if route.auth:
            op["security"] = [{"personalAccessToken": []}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "hubgate user API", "version": __version__, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"personalAccessToken": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(build()), content_type="application/json")
