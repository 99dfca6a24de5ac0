"""The admin route table: one entry per route, read both by the router and by OpenAPI,
so the documentation cannot drift from what is served."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class AdminRoute:
    method: str  # GET, POST, PATCH, PUT, DELETE
    path: str  # aiohttp form: /admin/keys/{name}
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: Literal["admin", "api_key", "none"] = "admin"  # api_key: a caller's key (self-service)
    status: int = 200  # the success status

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        """`{model:.+}` -> `{model}`: OpenAPI templates carry no patterns."""
        return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def audited(self) -> bool:
        return self.method != "GET"
