"""Budget periods and the spend that counts against a key's budget right now."""

from __future__ import annotations

from datetime import datetime, timedelta

PERIODS = ("daily", "weekly", "monthly")


def period_start(period: str, now: datetime) -> datetime:
    """The UTC instant the current daily / weekly (Monday) / monthly period began."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    raise ValueError(f"unknown budget period {period!r}")


def counted_spend(
    *, lifetime: int, period: str | None, period_spent: int, period_started: datetime | None, now: datetime
) -> int:
    """Spend against the budget: lifetime, or this period's (0 once a new period began)."""
    if period is None:
        return lifetime
    if period_started is None or period_started < period_start(period, now):
        return 0
    return period_spent
