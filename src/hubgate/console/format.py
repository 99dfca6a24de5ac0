"""Template filters: integer micro-dollars as dollars, times, counts. Pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def dollars(micros: int | None, places: int = 2) -> str:
    """12_345_678 micros -> "$12.35" (places=2) or "$12.345678" (places=6); exact integer math."""
    if micros is None:
        return "-"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if places >= 6:
        whole, frac = divmod(micros, 1_000_000)
        return f"{sign}${whole:,}.{frac:06d}"
    step = 10 ** (6 - places)
    rounded = (micros + step // 2) // step
    whole, frac = divmod(rounded, 10**places)
    return f"{sign}${whole:,}.{frac:0{places}d}" if places else f"{sign}${whole:,}"


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
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


FILTERS: dict[str, Any] = {"dollars": dollars, "money": money, "when": when, "count": count}
