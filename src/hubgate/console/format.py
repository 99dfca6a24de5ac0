"""Template filters: integer micro-dollars as dollars, times, counts, in the current language's
formats (Babel's CLDR data: "$12.35" in English, "US$12.35" in Chinese; dates in Chinese as
"2026年12月2日 14:05:39 UTC"). The amounts are rounded here, exactly, before Babel writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal

from hubgate.console.i18n import DEFAULT, current


def dollars(micros: int | None, places: int = 2) -> str:
    """12_345_678 micros -> "$12.35" (places=2) or "$12.345678" (places=6); exact integer math."""
    if micros is None:
        return "-"
    places = min(max(places, 0), 6)
    step = 10 ** (6 - places)
    rounded = (abs(micros) + step // 2) // step * (-1 if micros < 0 else 1)  # half away from zero
    amount = Decimal(rounded).scaleb(-places)
    pattern = "¤#,##0" + ("." + "0" * places if places else "")
    return format_currency(amount, "USD", format=pattern, locale=current().locale, currency_digits=False)


def money(micros: int | None) -> str:
    """A balance or an amount to the cent, rounded half away from zero: the one format of
    balances on the user's pages and the admin's (the exact value goes in a title)."""
    return dollars(micros, 2)


def plain_dollars(micros: int) -> str:
    """12_345_678 micros -> "12.345678": exact, for files read by programs (no sign, no commas)."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def when(value: datetime | None) -> str:
    """A time in UTC: ISO-like in English, the locale's medium date and time otherwise."""
    if value is None:
        return "-"
    language = current()
    if language.code == DEFAULT:
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return format_datetime(aware, "medium", tzinfo=UTC, locale=language.locale) + " UTC"


def count(value: int | None) -> str:
    return format_decimal(value, locale=current().locale) if value is not None else "-"


FILTERS: dict[str, Any] = {"dollars": dollars, "money": money, "when": when, "count": count}
