"""The admin's system settings page: what applies now, the config file's value beside it;
saved through `PATCH /admin/settings` (validated, audited, applied on every replica)."""

from __future__ import annotations

from aiohttp import web

from hubgate.admin.routes_settings import view_of
from hubgate.admin.session import gateway
from hubgate.console.web import Handler, render, signed_in


async def _page(request: web.Request) -> web.StreamResponse:
    view = await view_of(gateway(request))
    return render(request, "admin/settings.html", values=view["values"], stored=view["stored"],
                  file=view["file"])  # fmt: skip


settings_page = signed_in(_page, admin=True)

PAGES: list[tuple[str, str, Handler]] = [("GET", "/ui/admin/settings", settings_page)]
