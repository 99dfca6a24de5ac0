"""System settings an admin changes at run time (site name, announcement, sign-up, new
accounts' credit and group, the low-balance mail, top-up limits, default key rate limits):
stored in the database over the config file's values, which stay the bootstrap; every
replica applies a change within a second."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from hubgate.admin.common import audit, gateway, json_response, parse_body
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import Name, NonNegativeUsd, PositiveUsd, _Body
from hubgate.errors import InvalidRequest
from hubgate.gateway import Gateway
from hubgate.http.payment_routes import sync_payments
from hubgate.jobs.system_settings import reload_settings
from hubgate.settings import RUNTIME_SETTINGS, Settings
from hubgate.storage.system_settings import SystemSettingsRepository


class SystemSettingsPatch(_Body):
    """Only the fields sent change; null removes the stored value (the config file's applies)."""

    site_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None
    announcement: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = Field(
        default=None, description="a banner on every console page; empty: none"
    )
    signup: Literal["open", "invite", "closed"] | None = None
    new_account_credit_usd: NonNegativeUsd | None = None
    new_account_group: Name | None = None
    low_balance_usd: NonNegativeUsd | None = Field(
        default=None, description="mail an account's people once when its balance falls below (needs smtp)"
    )
    topup_min_usd: PositiveUsd | None = None
    topup_max_usd: PositiveUsd | None = None
    default_rpm: int | None = Field(
        default=None, ge=0, le=10**9, description="requests a minute for keys without their own; 0: unlimited"
    )
    default_tpm: int | None = Field(
        default=None, ge=0, le=10**12, description="tokens a minute for keys without their own; 0: unlimited"
    )
    default_max_concurrency: int | None = Field(
        default=None, ge=0, le=10**6, description="requests at once for keys without their own; 0: unlimited"
    )


def _values(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (section, field) in RUNTIME_SETTINGS.items():
        value = getattr(getattr(settings, section), field)
        out[name] = str(value) if isinstance(value, Decimal) else value
    return out


async def view_of(gw: Gateway) -> dict[str, Any]:
    stored = await SystemSettingsRepository(gw.engine).all()
    return {
        "object": "system_settings",
        "values": _values(gw.settings),  # what applies now
        "stored": stored,  # what admins set here
        "file": _values(gw.file_settings or gw.settings),  # the config file's
    }


async def get_settings(request: web.Request) -> web.Response:
    return json_response(await view_of(gateway(request)))


async def patch_settings(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, SystemSettingsPatch)
    changes: dict[str, Any] = {}
    for name in sorted(body.model_fields_set):
        value = getattr(body, name)
        if name == "announcement" and value == "":
            value = None
        changes[name] = str(value) if isinstance(value, Decimal) else value
    before = await view_of(gw)
    low = changes.get("topup_min_usd", before["values"]["topup_min_usd"])
    high = changes.get("topup_max_usd", before["values"]["topup_max_usd"])
    if low is not None and high is not None and Decimal(str(low)) > Decimal(str(high)):
        raise InvalidRequest(
            "Invalid field 'topup_min_usd': must not exceed topup_max_usd.", param="topup_min_usd"
        )
    if changes:
        await SystemSettingsRepository(gw.engine).put(changes)
        await reload_settings(gw)
        sync_payments(request.app)
    after = await view_of(gw)
    if changes:
        await audit(request, "settings.update", "system", before=before["stored"], after=after["stored"])
    return json_response(after)


ROUTES = [
    AdminRoute("GET", "/admin/settings", get_settings,
               "Run-time settings: what applies, what is stored here, the config file's", "system"),
    AdminRoute("PATCH", "/admin/settings", patch_settings,
               "Change run-time settings (null: back to the config file's value)", "system",
               body=SystemSettingsPatch),
]  # fmt: skip
