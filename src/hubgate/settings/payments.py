"""Online top-up: Stripe Checkout and EPay, amounts and bonus tiers."""

from decimal import Decimal
from typing import Literal

from pydantic import Field

from hubgate.settings.base import Frozen, Money, NonEmpty


class StripeSettings(Frozen):
    secret_key: NonEmpty  # sk_live_... / sk_test_...: Bearer key of the REST API
    webhook_secret: NonEmpty  # whsec_...: signs the events sent to /api/payments/stripe/webhook
    api_base: str = "https://api.stripe.com"  # a fake in tests
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")  # a two-decimal currency
    exchange_rate: Decimal = Field(default=Decimal(1), gt=0)  # `currency` units charged per USD credited


class EpaySettings(Frozen):
    url: NonEmpty  # the EPay site; customers are sent to <url>/submit.php
    pid: NonEmpty  # merchant id
    key: NonEmpty  # merchant key: the MD5 signing secret
    exchange_rate: Decimal = Field(default=Decimal("7.3"), gt=0)  # CNY charged per USD credited
    types: tuple[Literal["alipay", "wxpay", "qqpay"], ...] = ("alipay", "wxpay")


class BonusTier(Frozen):
    from_usd: Money  # top-ups of at least this much ...
    percent: Decimal = Field(gt=0, le=100)  # ... are credited this much more


class PaymentSettings(Frozen):
    """Online top-up (README "Top-up"): Stripe Checkout and EPay, amounts and bonus tiers."""

    stripe: StripeSettings | None = None
    epay: EpaySettings | None = None
    public_url: str | None = None  # base of webhook/return URLs (default: console.public_url)
    min_usd: Money = Field(default=Decimal(1), gt=0)
    max_usd: Money = Field(default=Decimal(10000), gt=0)
    presets_usd: tuple[Money, ...] = (Decimal(5), Decimal(10), Decimal(20), Decimal(50), Decimal(100))
    bonus_tiers: tuple[BonusTier, ...] = ()  # the highest tier reached applies
