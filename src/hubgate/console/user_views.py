"""The screens of a signed-in person: dashboard, API keys, usage log, redeem, settings.

Everything here is scoped to the viewer's own account: a key, a log row or a task of
another account is answered as if it did not exist (404).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from hubgate.admin.schemas import KeyLabel, KeyLimits, key_columns
from hubgate.admin.session import SESSION, gateway
from hubgate.console.charts import Series, stacked_bars
from hubgate.console.i18n import N_, _
from hubgate.console.model_picker import chosen_models, groups, offered_ids, refused
from hubgate.console.usage_export import export_csv, key_prefix, name_rows
from hubgate.console.web import flash_to, form, form_list, limit, redirect, render, signed_in, take_flash
from hubgate.http.catalogue_routes import listed_models, pricing_item
from hubgate.storage.accounts import RedeemError
from hubgate.storage.admin_usage import UsageFilter, aggregate, logs_page
from hubgate.storage.keys import KeyExists, KeyRecord, utcnow
from hubgate.storage.users import Session

PAGE = 50


def viewer(request: web.Request) -> Session:
    session = request[SESSION]
    assert session is not None  # handlers here run behind `signed_in`
    return session


def label(key: KeyRecord) -> str:
    return key.name.removeprefix(key_prefix(key.account_id or 0))


async def own_keys(request: web.Request) -> list[KeyRecord]:
    return await gateway(request).key_repo.by_account(viewer(request).user.account_id)


async def own_key(request: web.Request, key_id: int) -> KeyRecord | None:
    return next((k for k in await own_keys(request) if k.id == key_id), None)


# The charts' titles, by what their bars are stacked by.
SPEND_BY = {"model": N_("Spend per day by model"), "channel": N_("Spend per day by channel"),
            "account": N_("Spend per day by account")}  # fmt: skip
TOKENS_BY = {"model": N_("Tokens per day by model"), "channel": N_("Tokens per day by channel"),
             "account": N_("Tokens per day by account")}  # fmt: skip


def not_found(request: web.Request, message: str | None = None) -> web.Response:
    return render(
        request, "error.html", status=404, title=_("Not found"), message=message or _("No such page.")
    )


# --- dashboard ---


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_charts(groups: list, days: list[str], by: str) -> tuple[str, str]:  # type: ignore[type-arg]
    """Spend and tokens per day, stacked by `by` (model, channel or account), as two SVGs."""
    cost: dict[str, dict[str, float]] = defaultdict(dict)
    tokens: dict[str, dict[str, float]] = defaultdict(dict)
    for g in groups:
        name = str(getattr(g, by) or "-")
        cost[name][g.day] = cost[name].get(g.day, 0.0) + g.cost_micros / 1e6
        tokens[name][g.day] = tokens[name].get(g.day, 0.0) + g.total_tokens
    ranked = sorted(cost, key=lambda n: -sum(tokens[n].values()) - 1e6 * sum(cost[n].values()))
    top, rest = ranked[:7], ranked[7:]

    def series(table: dict[str, dict[str, float]]) -> list[Series]:
        out = [Series(n, tuple(table[n].get(d, 0.0) for d in days)) for n in top]
        if rest:
            out.append(Series("other", tuple(sum(table[n].get(d, 0.0) for n in rest) for d in days)))
        return out

    return (
        stacked_bars(_(SPEND_BY[by]), days, series(cost), unit="$"),
        stacked_bars(_(TOKENS_BY[by]), days, series(tokens)),
    )


def last_days(now: datetime, n: int) -> list[str]:
    return [(now - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(n - 1, -1, -1)]


@signed_in
async def dashboard(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    user = viewer(request).user
    account = await gw.accounts.by_id(user.account_id)
    now = utcnow()
    mine = user.account_id
    _days, today = await aggregate(gw.engine, [], UsageFilter(account_id=mine, since=day_start(now)))
    _days, month = await aggregate(gw.engine, [], UsageFilter(account_id=mine, since=month_start(now)))
    days = last_days(now, 30)
    since = datetime.strptime(days[0], "%Y-%m-%d").replace(tzinfo=UTC)
    groups, _totals = await aggregate(
        gw.engine, ["day", "model"], UsageFilter(account_id=user.account_id, since=since)
    )
    spend_chart, token_chart = usage_charts(groups, days, "model")
    by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for g in groups:
        entry = by_model[g.model or "-"]
        entry[0] += g.requests
        entry[1] += g.total_tokens
        entry[2] += g.cost_micros
    return render(
        request, "dashboard.html", account=account, today=today, month=month,
        spend_chart=spend_chart, token_chart=token_chart,
        models=sorted(by_model.items(), key=lambda kv: -kv[1][2]),
    )  # fmt: skip


# --- API keys ---


class KeyForm(KeyLimits):
    name: KeyLabel


class FieldError(ValueError):
    """A form field's value is refused: `field` names the input, the message says what to enter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


KEY_HINTS = {  # what to enter, per field, when the shared key validation refuses a value
    "name": N_("Use 1 to 40 letters, digits, '.', '_' or '-'."),
    "budget_usd": N_("Enter an amount in dollars of 0 or more, e.g. 5 or 2.50."),
    "budget_period": N_("Choose daily, weekly, monthly or never."),
    "models": N_("Enter model names of 1 to 128 characters, separated by commas."),
    "rpm": N_("Enter a whole number of 1 or more, or leave it empty."),
    "tpm": N_("Enter a whole number of 1 or more, or leave it empty."),
    "max_concurrency": N_("Enter a whole number of 1 or more, or leave it empty."),
}


def _list(text: str) -> list[str] | None:
    items = [x.strip() for x in re.split(r"[,\s]+", text) if x.strip()]
    return items or None


def _refusal(exc: ValidationError, data: dict[str, str]) -> FieldError:
    """The first refused field of the shared key validation, in the form's words."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "name"
    if field == "allowed_ips":
        bad = error.get("input", data.get("allowed_ips", ""))
        return FieldError(
            field, _("'%(value)s' is not an address or a range like 10.0.0.0/8.") % {"value": bad}
        )
    if field == "expires_at":
        return FieldError("expires", _("Enter a date like 2027-01-31."))
    return FieldError(field, _(KEY_HINTS.get(field, "Check this value.")))


def parse_key_form(
    data: dict[str, str], now: datetime, allowed: Collection[str] | None = None
) -> dict[str, object]:
    """The key settings from the create or edit form, checked by the admin and user API's own
    `KeyLimits` (an empty field: no limit) and, given `allowed`, its models against the models
    offered; FieldError names the bad field."""
    expires = None
    if data.get("expires", "").strip():
        try:
            expires = datetime.strptime(data["expires"].strip(), "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise FieldError("expires", _("Enter a date like 2027-01-31.")) from None
        if expires <= now:
            raise FieldError("expires", _("Choose a date in the future."))
    raw = {
        "name": data.get("name", "").strip(),
        "models": _list(data.get("models", "")),
        "budget_usd": data.get("budget_usd", "").strip() or None,
        "budget_period": data.get("budget_period") or None,
        "rpm": data.get("rpm", "").strip() or None,
        "tpm": data.get("tpm", "").strip() or None,
        "max_concurrency": data.get("max_concurrency", "").strip() or None,
        "expires_at": expires,
        "allowed_ips": _list(data.get("allowed_ips", "")),
    }
    try:
        body = KeyForm.model_validate(raw)
    except ValidationError as exc:
        raise _refusal(exc, data) from None
    unknown = refused(body.models, allowed) if allowed is not None else []
    if unknown:
        message = _("Not a model you can choose here: %(models)s. Check models from the list.")
        raise FieldError("models", message % {"models": ", ".join(unknown)})
    return {"label": body.name, **key_columns(body, set(KeyLimits.model_fields))}


def catalogue_items(request: web.Request) -> list[dict[str, Any]]:
    """The models a key may be limited to: the catalogue's, served here, with prices."""
    gw = gateway(request)
    return [pricing_item(gw, item) for item in listed_models(gw)]


async def key_form_data(request: web.Request) -> dict[str, str]:
    """The key form's fields; the checked models joined into one `models` text."""
    data = await form(request)
    data["models"] = ", ".join(await form_list(request, "models"))
    return data


async def _keys_page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    keys = await own_keys(request)
    now = utcnow()
    rows = [(k, label(k), k.refusal(now)) for k in keys]
    context.setdefault("error", None)
    context.setdefault("notice", None)
    context.setdefault("created", None)
    context.setdefault("form", {})
    context.setdefault("errors", {})
    picker = groups(catalogue_items(request), chosen_models(context["form"].get("models", "")))
    return render(request, "keys.html", status=status, keys=rows, page_path="/ui/keys", picker=picker,
                  **context)  # fmt: skip


@signed_in
async def keys(request: web.Request) -> web.StreamResponse:
    flash = take_flash(request)
    created, notice, error = flash.get("created"), flash.get("notice"), flash.get("error")
    return await _keys_page(request, created=tuple(created) if isinstance(created, list) else None,
                            notice=notice if isinstance(notice, str) else None,
                            error=error if isinstance(error, str) else None)  # fmt: skip


@signed_in
async def create_key(request: web.Request) -> web.StreamResponse:
    data = await key_form_data(request)
    user = viewer(request).user
    try:
        fields = parse_key_form(data, utcnow(), offered_ids(catalogue_items(request)))
    except FieldError as exc:
        return await _keys_page(request, status=400, error=_("Check the field marked below."),
                                errors={exc.field: str(exc)}, form=data)  # fmt: skip
    name = key_prefix(user.account_id) + str(fields.pop("label"))
    try:
        record, secret = await gateway(request).key_repo.create(
            name,
            account_id=user.account_id,
            source="console",
            **fields,  # type: ignore[arg-type]
        )
    except KeyExists:
        taken = {"name": _("You already have a key with this name.")}
        return await _keys_page(
            request, status=409, error=_("Check the field marked below."), errors=taken, form=data
        )
    return flash_to(request, "/ui/keys", created=[label(record), secret])  # shown once, by the GET


@signed_in
async def revoke_key(request: web.Request) -> web.StreamResponse:
    key = await own_key(request, _int(request.match_info["key_id"]))
    if key is None:
        return not_found(request, _("No such key."))
    await gateway(request).key_repo.revoke(key.name)
    raise redirect("/ui/keys")


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return -1


# --- usage log ---


def _day(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


async def usage_filter(request: web.Request, account_id: int | None) -> tuple[UsageFilter, dict[str, str]]:
    q = request.query
    chosen = {k: q.get(k, "") for k in ("key", "model", "status", "since", "until")}
    key_name = None
    if chosen["key"]:
        key = await own_key(request, _int(chosen["key"])) if account_id is not None else None
        key_name = key.name if key is not None else "/no such key/"  # another account's: none match
    until = _day(chosen["until"])
    flt = UsageFilter(
        key=key_name,
        model=chosen["model"] or None,
        status=_int(chosen["status"]) if chosen["status"] else None,
        since=_day(chosen["since"]),
        until=until + timedelta(days=1) if until else None,  # the "until" day is included
        account_id=account_id,
    )
    return flt, chosen


@signed_in
async def usage(request: web.Request) -> web.StreamResponse:
    user = viewer(request).user
    flt, chosen = await usage_filter(request, user.account_id)
    cursor = _int(request.query.get("cursor")) if request.query.get("cursor") else None
    rows, next_cursor = await logs_page(gateway(request).engine, flt, limit=PAGE, cursor=cursor)
    await name_rows(gateway(request).engine, rows)
    keys = await own_keys(request)
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render(request, "usage.html", rows=rows, keys=[(k.id, label(k)) for k in keys], admin=False,
                  chosen=chosen, next_cursor=next_cursor, query=query)  # fmt: skip


@signed_in
async def usage_csv(request: web.Request) -> web.StreamResponse:
    flt, _query = await usage_filter(request, viewer(request).user.account_id)
    return await export_csv(request, gateway(request).engine, flt, "usage.csv")


# --- redeem ---


@signed_in
async def redeem_form(request: web.Request) -> web.StreamResponse:
    account = await gateway(request).accounts.by_id(viewer(request).user.account_id)
    credited = take_flash(request).get("credited")
    return render(request, "redeem.html", account=account, error=None,
                  credited=credited if isinstance(credited, int) else None)  # fmt: skip


@signed_in
async def redeem(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    await limit(request, "redeem", gw.settings.console.login_rpm)
    code = (await form(request)).get("code", "").strip()
    account_id = viewer(request).user.account_id
    try:
        credited = await gw.accounts.redeem(code, account_id)
    except RedeemError as exc:
        account = await gw.accounts.by_id(account_id)
        error = _("Could not redeem: %(reason)s.") % {"reason": exc}
        return render(request, "redeem.html", status=400, account=account, error=error, credited=None)
    gw.billing.accounts.invalidate([account_id])  # admission sees the new balance at once
    return flash_to(request, "/ui/redeem", credited=credited)
