"""The key form's model picker: the catalogue's models served here, by vendor, each with its
public name and price, as checkboxes (a plain form without JavaScript; console.js adds a
filter); and the check of what a form sends back. Pure functions.

A key may keep models it already has that are no longer offered (an admin or the user API
set them, or a channel went away): they are shown checked under "Not served now", and
saving leaves them be; anything else that is not offered is refused, naming the model.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import format_decimal

from hubgate.console.i18n import _, current

OTHER = ""  # the group of kept models that are not offered now


@dataclass(frozen=True, slots=True)
class Choice:
    model: str  # the id stored on the key
    name: str  # the catalogue's public name
    price: str  # e.g. "$2.5 in · $10 out / 1M tokens"; empty when unknown
    checked: bool


@dataclass(frozen=True, slots=True)
class VendorGroup:
    vendor: str  # OTHER: kept models no longer offered
    choices: tuple[Choice, ...]

    @property
    def checked(self) -> int:
        return sum(c.checked for c in self.choices)


def _usd(text: str | None) -> str | None:
    try:
        value = Decimal(text) if text is not None else None
    except InvalidOperation:
        return None
    if value is None:
        return None
    return "$" + format_decimal(value, format="#,##0.######", locale=current().locale)


def price_text(prices: Mapping[str, str]) -> str:
    """What a model costs, in a few words of the current language."""
    given, taken = _usd(prices.get("input")), _usd(prices.get("output"))
    if given is not None or taken is not None:
        return _("%(input)s in · %(output)s out / 1M tokens") % {
            "input": given or "-",
            "output": taken or "-",
        }
    for field, unit in (("per_image", _("per image")), ("per_second", _("per second")),
                        ("per_request", _("per request"))):  # fmt: skip
        amount = _usd(prices.get(field))
        if amount is not None:
            return f"{amount} {unit}"
    return ""


def chosen_models(text: str) -> list[str]:
    """The form's models (stored as a comma-separated text between the form and the page)."""
    return [m.strip() for m in text.split(",") if m.strip()]


def groups(items: Iterable[Mapping[str, Any]], chosen: Collection[str]) -> list[VendorGroup]:
    """`items`: the served models as `GET /api/pricing` lists them; `chosen`: the key's models.
    Vendors in name order, models by public name; kept models that are not offered last."""
    by_vendor: dict[str, list[Choice]] = {}
    offered: set[str] = set()
    for item in items:
        model = str(item["model_name"])
        ids = {str(i) for i in item.get("ids", [model])}
        offered |= ids
        choice = Choice(model, str(item.get("name") or model), price_text(item.get("prices", {})),
                        bool(ids & set(chosen)))  # fmt: skip
        by_vendor.setdefault(str(item.get("vendor") or "other"), []).append(choice)
    out = [VendorGroup(v, tuple(sorted(cs, key=lambda c: (c.name.lower(), c.model))))
           for v, cs in sorted(by_vendor.items())]  # fmt: skip
    kept = sorted(m for m in chosen if m not in offered)
    if kept:
        out.append(VendorGroup(OTHER, tuple(Choice(m, m, "", True) for m in kept)))
    return out


def offered_ids(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every name a key may be limited to: each model's id and its `vendor/model` id."""
    return {str(i) for item in items for i in item.get("ids", [item["model_name"]])}


def refused(models: Iterable[str] | None, allowed: Collection[str]) -> list[str]:
    """The models a form sent that are neither offered nor already on the key."""
    return [m for m in models or () if m not in allowed]
