"""The cost of one request in integer micro-dollars, from hub usage and a Price.

hub.Usage already speaks one convention whatever the upstream (see formats/hub.py):
`prompt_tokens` counts everything read, cache reads (`cached_tokens`) and writes
(`cache_write_tokens`) included; `completion_tokens` includes reasoning. So the
Anthropic codec's input_tokens + cache_read + cache_creation, OpenAI's
prompt_tokens with cached_tokens, and Gemini's promptTokenCount with
cachedContentTokenCount (and thoughtsTokenCount added to the output) all price here
the same way.

The sum is exact rational arithmetic on the prices' Decimals (integer numerators and
denominators, no decimal context), rounded half-up once, at the end, to whole
micro-dollars. Inconsistent counts are clamped, never turned into a negative cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hubgate.formats import hub
from hubgate.metering.hold import Ceiling
from hubgate.metering.price import Price
from hubgate.settings import ratio_to_micros

ONE = Decimal(1)


def _clamp(value: int, upper: int) -> int:
    return min(max(value, 0), max(upper, 0))


def cost_micros(
    usage: hub.Usage,
    price: Price,
    *,
    multiplier: Decimal = ONE,
    cache_write_1h_tokens: int = 0,
) -> int:
    """What `usage` costs at `price` times `multiplier` (a key's or group's factor).

    `cache_write_1h_tokens` is the part of `usage.cache_write_tokens` written with
    Anthropic's 1-hour TTL (its `cache_creation.ephemeral_1h_input_tokens`); the
    rest are priced as 5-minute writes. Cache reads and writes are taken as parts
    of `prompt_tokens` and clamped into it if the upstream's numbers disagree.
    """
    return counts_micros(
        price,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        cache_write_1h_tokens,
        usage.reasoning_tokens,
        multiplier,
    )


def counts_micros(
    price: Price,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    reasoning_tokens: int = 0,
    multiplier: Decimal = ONE,
) -> int:
    """`cost_micros` from the counts themselves (a usage row's), without building a Usage."""
    if multiplier is not ONE:
        check_multiplier(multiplier)
    prompt = prompt_tokens if prompt_tokens > 0 else 0
    if cached_tokens or cache_write_tokens:
        cached = _clamp(cached_tokens, prompt)
        writes = _clamp(cache_write_tokens, prompt - cached)
        writes_1h = _clamp(cache_write_1h_tokens, writes)
    else:  # the common case: no cache read or write (and so no 1-hour write either)
        cached = writes = writes_1h = 0
    uncached = prompt - cached - writes
    completion = completion_tokens if completion_tokens > 0 else 0

    # Rates are USD per million tokens, so tokens x rate is micro-dollars (price.Rates holds
    # them as integers over one denominator, per_request included).
    r = price.for_prompt(prompt).rates
    output = r.output_thinking if reasoning_tokens > 0 else r.output
    numerator = (
        r.per_request
        + uncached * r.input
        + cached * r.cached_input
        + (writes - writes_1h) * r.cache_write
        + writes_1h * r.cache_write_1h
        + completion * output
    )
    return _micros(numerator, r.denominator, multiplier)


def bound_micros(
    price: Price, prompt_tokens: int, completion_tokens: int, reasoned: bool, multiplier: Decimal = ONE
) -> int:
    """`cost_micros` of a usage with only these counts (no cache reads or writes; reasoning
    tokens present or not), without building it: the size of a request's hold, per request."""
    check_multiplier(multiplier)
    prompt = max(prompt_tokens, 0)
    r = price.for_prompt(prompt).rates
    output = r.output_thinking if reasoned else r.output
    numerator = r.per_request + prompt * r.input + max(completion_tokens, 0) * output
    return _micros(numerator, r.denominator, multiplier)


@dataclass(slots=True, frozen=True)
class HoldPlan:
    """A token-priced hold as integers: `(base + prompt * input + completion * output) /
    denominator` micro-dollars, rounded as pricing rounds (cost.bound_micros, exactly)."""

    base: int
    input: int
    output: int
    denominator: int
    default_output: int  # the completion held when the body names no cap
    cap: int | None  # max_request_cost: caps a hold with no output cap named

    @classmethod
    def of(cls, price: Price, multiplier: Decimal, default_output: int, cap: int | None) -> HoldPlan:
        """`price` (untiered) at `multiplier`, with the integers `bound_micros` uses."""
        check_multiplier(multiplier)
        n, d = (1, 1) if multiplier is ONE or multiplier == ONE else multiplier.as_integer_ratio()
        r = price.rates
        thinking = price.output_thinking is not None and price.output_thinking > price.output
        output = r.output_thinking if thinking else r.output
        return cls(
            r.per_request * n, r.input * n, output * n, r.denominator * d * 1_000_000, default_output, cap
        )

    def micros(self, ceiling: Ceiling) -> int:
        """The hold of a request of at most `ceiling` (token counts; its units are not read)."""
        return self.tokens(ceiling.prompt_tokens, ceiling.completion_tokens)

    def tokens(self, prompt: int, named: int | None) -> int:
        """The hold of at most `prompt` tokens in and `named` out (None: no cap named)."""
        completion = self.default_output if named is None else named
        if prompt + completion == 0:
            return 0
        if prompt < 0 or completion < 0:  # as bound_micros: a negative count is none
            prompt, completion = max(prompt, 0), max(completion, 0)
        micros = ratio_to_micros(self.base + prompt * self.input + completion * self.output, self.denominator)
        return micros if named is not None or self.cap is None or micros < self.cap else self.cap


def check_multiplier(multiplier: Decimal) -> None:
    if multiplier is not ONE and not (multiplier.is_finite() and multiplier >= 0):
        raise ValueError(f"price multiplier must be a finite number >= 0, not {multiplier}")


def _micros(numerator: int, denominator: int, multiplier: Decimal) -> int:
    if multiplier is not ONE and multiplier != ONE:
        n, d = multiplier.as_integer_ratio()
        numerator, denominator = numerator * n, denominator * d
    return ratio_to_micros(numerator, denominator * 1_000_000)  # micro-dollars -> USD
