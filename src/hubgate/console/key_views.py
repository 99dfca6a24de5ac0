"""A customer's own API keys after creation: edit their settings, disable and enable, delete.

The settings go through the same form parsing as a new key (`parse_key_form`, checked by the
admin and user API's `KeyLimits`); another account's key is answered as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.admin.session import gateway
from hubgate.console.i18n import _
from hubgate.console.model_picker import chosen_models, groups, offered_ids
from hubgate.console.usage_export import key_prefix
from hubgate.console.user_views import (
    FieldError,
    catalogue_items,
    key_form_data,
    label,
    not_found,
    own_key,
    parse_key_form,
    viewer,
)
from hubgate.console.web import flash_to, render, signed_in
from hubgate.storage.keys import KeyRecord, utcnow
from hubgate.storage.user_queries import delete_key


def _key_id(request: web.Request) -> int:
    text = request.match_info["key_id"]
    return int(text) if text.isdigit() else -1


def initial(key: KeyRecord) -> dict[str, str]:
    """The edit form's values for a stored key (empty: no limit)."""
    budget = "" if key.budget_micros is None else f"{key.budget_micros / 1e6:.6f}".rstrip("0").rstrip(".")
    return {
        "name": label(key),
        "budget_usd": budget,
        "budget_period": key.budget_period or "",
        "models": ", ".join(sorted(key.models)) if key.models is not None else "",
        "expires": key.expires_at.strftime("%Y-%m-%d") if key.expires_at else "",
        "allowed_ips": ", ".join(key.allowed_ips or ()),
        "rpm": str(key.rpm) if key.rpm is not None else "",
        "tpm": str(key.tpm) if key.tpm is not None else "",
        "max_concurrency": str(key.max_concurrency) if key.max_concurrency is not None else "",
    }


def _page(request: web.Request, key: KeyRecord, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("form", initial(key))
    context.setdefault("errors", {})
    context.setdefault("error", None)
    picker = groups(catalogue_items(request), chosen_models(context["form"].get("models", "")))
    return render(request, "key_edit.html", status=status, key=key, name=label(key), picker=picker,
                  page_path="/ui/keys", **context)  # fmt: skip


@signed_in
async def edit_form(request: web.Request) -> web.StreamResponse:
    key = await own_key(request, _key_id(request))
    if key is None:
        return not_found(request, _("No such key."))
    return _page(request, key)


@signed_in
async def save(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    key = await own_key(request, _key_id(request))
    if key is None:
        return not_found(request, _("No such key."))
    data = await key_form_data(request)
    allowed = offered_ids(catalogue_items(request)) | set(key.models or ())  # it may keep what it has
    try:
        fields = parse_key_form(data, utcnow(), allowed)
    except FieldError as exc:
        return _page(request, key, status=400, error=_("Check the field marked below."),
                     errors={exc.field: str(exc)}, form=data)  # fmt: skip
    new_label = str(fields.pop("label"))
    name = key_prefix(viewer(request).user.account_id) + new_label
    if name != key.name:
        if await gw.key_repo.by_name(name) is not None:
            taken = {"name": _("You already have a key with this name.")}
            return _page(request, key, status=409, error=_("Check the field marked below."),
                         errors=taken, form=data)  # fmt: skip
        fields["name"] = name
    await gw.key_repo.update_settings(key.name, **fields)  # type: ignore[arg-type]
    gw.keys.invalidate()
    return flash_to(request, "/ui/keys", notice=_("Key “%(name)s” saved.") % {"name": new_label})


@signed_in
async def disable(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    key = await own_key(request, _key_id(request))
    if key is None:
        return not_found(request, _("No such key."))
    await gw.key_repo.revoke(key.name)  # refused at once, even by a cache that still holds it
    gw.keys.invalidate()
    return flash_to(request, "/ui/keys", notice=_("Key “%(name)s” disabled.") % {"name": label(key)})


@signed_in
async def enable(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    key = await own_key(request, _key_id(request))
    if key is None:
        return not_found(request, _("No such key."))
    if key.expires_at is not None and key.expires_at <= utcnow():
        message = _("Key “%(name)s” has expired: change its expiry date before enabling it.")
        return flash_to(request, "/ui/keys", error=message % {"name": label(key)})
    await gw.key_repo.update_settings(key.name, revoked_at=None)
    gw.keys.invalidate()
    return flash_to(request, "/ui/keys", notice=_("Key “%(name)s” enabled.") % {"name": label(key)})


@signed_in
async def delete(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    key = await own_key(request, _key_id(request))
    if key is None:
        return not_found(request, _("No such key."))
    await gw.key_repo.revoke(key.name)
    await delete_key(gw.engine, key.id)  # its usage rows keep its name
    gw.keys.invalidate()
    return flash_to(request, "/ui/keys", notice=_("Key “%(name)s” deleted.") % {"name": label(key)})


PAGES = [
    ("GET", "/ui/keys/{key_id}/edit", edit_form),
    ("POST", "/ui/keys/{key_id}/edit", save),
    ("POST", "/ui/keys/{key_id}/disable", disable),
    ("POST", "/ui/keys/{key_id}/enable", enable),
    ("POST", "/ui/keys/{key_id}/delete", delete),
]
