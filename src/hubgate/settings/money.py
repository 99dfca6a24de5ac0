"""Money: accounts, keys (budgets, limits, hold caps), prices, and USD -> micro-dollars."""

import ipaddress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from hubgate.settings.base import Frozen, Money, Name, NonEmpty, Secret, Slug


class AccountSettings(Frozen):
    """A prepaid account; `balance_usd` is the initial credit only (the database owns the balance)."""

    name: Name
    balance_usd: Money = Decimal(0)
    group: str = "default"
    max_request_cost_usd: Money | None = None  # caps an uncapped request's hold; None: the global


class KeySettings(Frozen):
    """A bootstrap API key; `key` is an optional fixed secret."""

    name: Slug
    account: str | None = None
    key: Secret | None = None
    models: tuple[NonEmpty, ...] | None = None
    budget_usd: Money | None = None
    budget_period: Literal["daily", "weekly", "monthly"] | None = None  # None: the budget is for life
    price_multiplier: Money | None = None  # on top of the account group's multiplier
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)
    max_request_cost_usd: Money | None = None  # caps an uncapped request's hold; None: the account's
    allowed_ips: tuple[str, ...] | None = None  # CIDR ranges the key may be used from
    expires_at: datetime | None = None

    @field_validator("allowed_ips")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for cidr in value or ():
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad range
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class PriceSettings(Frozen):
    """A model's price in USD per 1M tokens (`per_request` in USD per request)."""

    input: Money
    output: Money = Decimal(0)
    cached_input: Money | None = None
    cache_write: Money | None = None
    per_request: Money | None = None


def usd_to_micros(value: Decimal) -> int:
    """Convert USD to integer micro-dollars exactly, rounding half-up at the sixth decimal."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    return ratio_to_micros(*value.as_integer_ratio())


def ratio_to_micros(numerator: int, denominator: int) -> int:
    """USD `numerator / denominator` (denominator > 0) in micro-dollars, half-up away from zero:
    exact integer arithmetic, no decimal context (this runs twice per metered request)."""
    whole, rest = divmod(abs(numerator) * 1_000_000, denominator)
    if 2 * rest >= denominator:
        whole += 1
    return whole if numerator >= 0 else -whole
