"""Price groups: the config file's multipliers, overridden at run time through the admin API.

An override is stored (table `group_multipliers`), applied to the running Billing at
once and again at every start, and wins over the config file's value.
"""

from __future__ import annotations

import re
from decimal import Decimal

from aiohttp import web

from hubgate.admin.common import audit, decimal_text, gateway, json_response, parse_body
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import NAME_PATTERN, GroupPut
from hubgate.errors import InvalidRequest
from hubgate.gateway import Gateway
from hubgate.storage.admin_lists import accounts_per_group
from hubgate.storage.groups import GroupRepository


async def effective_groups(gw: Gateway) -> dict[str, tuple[Decimal, str]]:
    """Every group's multiplier and where it comes from ("config" or "admin")."""
    groups = {name: (multiplier, "config") for name, multiplier in gw.settings.groups.items()}
    for name, multiplier in (await GroupRepository(gw.engine).all()).items():
        groups[name] = (multiplier, "admin")
    return groups


async def require_group(gw: Gateway, name: str, param: str = "group") -> None:
    """400 unless `name` is a known group."""
    groups = await effective_groups(gw)
    if name not in groups:
        known = ", ".join(sorted(groups))
        raise InvalidRequest(
            f"Invalid field '{param}': unknown group '{name}'; groups: {known}.",
            param=param,
            code="unknown_group",
        )


def apply_group(gw: Gateway, name: str, multiplier: Decimal) -> None:
    """Make the running Billing price the group's accounts with `multiplier`."""
    # TODO(billing): Billing.set_group(name: str, multiplier: Decimal) -> None is being added
    # to billing.py by its owner; drop this ignore once it exists.
    gw.billing.set_group(name, multiplier)


async def list_groups(request: web.Request) -> web.Response:
    gw = gateway(request)
    counts = await accounts_per_group(gw.engine)
    data = [
        {"name": name, "multiplier": decimal_text(m), "source": source, "accounts": counts.get(name, 0)}
        for name, (m, source) in sorted((await effective_groups(gw)).items())
    ]
    return json_response({"object": "list", "data": data})


async def put_group(request: web.Request) -> web.Response:
    gw = gateway(request)
    name = request.match_info["name"]
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequest(
            f"Invalid path parameter 'name': {name!r} is not a group name (letters, digits and . _ @ -, "
            "at most 64).",
            param="name",
        )
    body = await parse_body(request, GroupPut)
    previous = (await effective_groups(gw)).get(name)
    await GroupRepository(gw.engine).put(name, body.multiplier)
    apply_group(gw, name, body.multiplier)
    view = {"name": name, "multiplier": decimal_text(body.multiplier), "source": "admin"}
    before = (
        {"name": name, "multiplier": decimal_text(previous[0]), "source": previous[1]} if previous else None
    )
    await audit(request, "groups.put", name, before=before, after=view)
    return json_response(view)


ROUTES = [
    AdminRoute("GET", "/admin/groups", list_groups, "List price groups and their multipliers", "groups"),
    AdminRoute("PUT", "/admin/groups/{name}", put_group, "Create or change a group's multiplier", "groups",
               body=GroupPut),
]  # fmt: skip
