"""What a top-up of N US dollars charges and credits: minimum, maximum, bonus tiers, exchange rate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from hubgate.settings import PaymentSettings, usd_to_micros

CENT = Decimal("0.01")


class AmountError(ValueError):
    """The amount is not a number, or outside what the configuration allows."""


@dataclass(frozen=True, slots=True)
class Quote:
    amount_micros: int  # the USD bought
    bonus_micros: int  # added by the bonus tier reached
    bonus_percent: Decimal
    currency: str  # what the customer is charged in
    charge: Decimal  # in `currency`, two decimals

    @property
    def credit_micros(self) -> int:
        return self.amount_micros + self.bonus_micros

    @property
    def charge_minor(self) -> int:
        """The charge in the currency's smallest unit (cents, fen)."""
        return int(self.charge.scaleb(2))


def parse_usd(text: str | Decimal | int | float) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise AmountError(f"amount must be a number of US dollars, not {str(text)[:40]!r}") from None
    if not value.is_finite():
        raise AmountError("amount must be a finite number")
    if value != value.quantize(CENT):
        raise AmountError("amount has at most two decimals (whole cents)")
    return value


def bonus_percent(settings: PaymentSettings, usd: Decimal) -> Decimal:
    reached = [tier.percent for tier in settings.bonus_tiers if usd >= tier.from_usd]
    return max(reached, default=Decimal(0))


def quote(settings: PaymentSettings, usd: Decimal, currency: str, exchange_rate: Decimal) -> Quote:
    """Check `usd` against the limits and price it; raise AmountError with a clear message."""
    if usd < settings.min_usd:
        raise AmountError(f"the minimum top-up is ${settings.min_usd:.2f} (asked: ${usd:.2f})")
    if usd > settings.max_usd:
        raise AmountError(f"the maximum top-up is ${settings.max_usd:.2f} (asked: ${usd:.2f})")
    amount = usd_to_micros(usd)
    percent = bonus_percent(settings, usd)
    bonus = int(amount * percent / 100)
    charge = (usd * exchange_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    if charge <= 0:
        raise AmountError("the amount is too small to charge")
    return Quote(amount, bonus, percent, currency, charge)
