"""The shape of a model's price: USD per 1M tokens as exact Decimals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    """A long-context price: `price` replaces the base price for a request whose
    prompt (cache reads and writes included) has more than `above` tokens."""

    above: int
    price: Price


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens. An unknown cache price falls back to the plain input price
    (no discount, no surcharge); an unknown 1-hour write price to the 5-minute one.

    `output_thinking`, when set, prices every completion token of a response that
    reasoned (reported reasoning tokens), as Qwen's thinking mode is billed.
    """

    input: Decimal
    output: Decimal = ZERO
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    per_request: Decimal = ZERO
    output_thinking: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    # The rates as integer numerators over one common denominator, made once here: pricing
    # a request is then a few integer products (metering/cost.py), no Decimal work.
    rates: Rates = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in ("tiers", "rates"):
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if not isinstance(value, Decimal):  # money is never a float
                raise TypeError(f"price {f.name} must be a Decimal, not {type(value).__name__}")
            if not (value.is_finite() and value >= 0):
                raise ValueError(f"price {f.name} must be a finite amount >= 0, not {value}")
        thresholds = [tier.above for tier in self.tiers]
        if thresholds != sorted(set(thresholds)) or any(t < 0 for t in thresholds):
            raise ValueError("price tiers must have distinct thresholds >= 0, in ascending order")
        if any(tier.price.tiers for tier in self.tiers):
            raise ValueError("a price tier cannot have tiers of its own")
        object.__setattr__(self, "rates", Rates.of(self))

    @property
    def cached_input_rate(self) -> Decimal:
        return self.input if self.cached_input is None else self.cached_input

    @property
    def cache_write_rate(self) -> Decimal:
        return self.input if self.cache_write is None else self.cache_write

    @property
    def cache_write_1h_rate(self) -> Decimal:
        return self.cache_write_rate if self.cache_write_1h is None else self.cache_write_1h

    def output_rate(self, *, reasoned: bool) -> Decimal:
        if reasoned and self.output_thinking is not None:
            return self.output_thinking
        return self.output

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The price that applies to a request with `prompt_tokens` of input."""
        chosen = self
        for tier in self.tiers:
            if prompt_tokens > tier.above:
                chosen = tier.price
        return chosen


@dataclass(frozen=True, slots=True)
class Rates:
    """A Price's USD-per-1M-token rates as `numerator / denominator` micro-dollars per token,
    all over one `denominator`; `per_request` is micro-dollars over the same denominator."""

    denominator: int
    input: int
    cached_input: int
    cache_write: int
    cache_write_1h: int
    output: int
    output_thinking: int
    per_request: int

    @classmethod
    def of(cls, price: Price) -> Rates:
        values = (
            price.input,
            price.cached_input_rate,
            price.cache_write_rate,
            price.cache_write_1h_rate,
            price.output,
            price.output_rate(reasoned=True),
            price.per_request * 1_000_000,
        )
        ratios = [v.as_integer_ratio() for v in values]
        denominator = math.lcm(*(d for _, d in ratios))
        numerators = [n * (denominator // d) for n, d in ratios]
        return cls(denominator, *numerators)
