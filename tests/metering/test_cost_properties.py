"""Properties of cost_micros over generated usage and prices (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hubgate.formats import hub
from hubgate.metering.cost import bound_micros, cost_micros
from hubgate.metering.price import Price, Tier
from hubgate.metering.prices import BUILTIN_PRICES

COUNTS = st.integers(min_value=0, max_value=5_000_000)
AMOUNTS = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def prices(draw: st.DrawFn) -> Price:
    """A built-in price, or an arbitrary one (optionally with a dearer long-context tier)."""
    if draw(st.booleans()):
        return draw(st.sampled_from(list(BUILTIN_PRICES.values())))
    base = Price(
        input=draw(AMOUNTS),
        output=draw(AMOUNTS),
        cached_input=draw(st.none() | AMOUNTS),
        cache_write=draw(st.none() | AMOUNTS),
        cache_write_1h=draw(st.none() | AMOUNTS),
        per_request=draw(st.decimals(min_value=0, max_value=1, places=6)),
        output_thinking=draw(st.none() | AMOUNTS),
    )
    if not draw(st.booleans()):
        return base
    bump = draw(AMOUNTS)
    dearer = Price(
        input=base.input + bump,
        output=base.output + bump,
        cached_input=base.cached_input_rate + bump,
        cache_write=base.cache_write_rate + bump,
        cache_write_1h=base.cache_write_1h_rate + bump,
        per_request=base.per_request,
        output_thinking=base.output_rate(reasoned=True) + bump,
    )
    return Price(
        input=base.input,
        output=base.output,
        cached_input=base.cached_input,
        cache_write=base.cache_write,
        cache_write_1h=base.cache_write_1h,
        per_request=base.per_request,
        output_thinking=base.output_thinking,
        tiers=(Tier(draw(st.integers(min_value=0, max_value=10_000_000)), dearer),),
    )


def _cost(parts: tuple[int, int, int, int, int, int], price: Price, multiplier: Decimal = Decimal(1)) -> int:
    """Cost from independent parts: uncached, cache reads, 5-minute writes, 1-hour
    writes, answer tokens, reasoning tokens."""
    uncached, reads, writes_5m, writes_1h, answer, reasoning = parts
    usage = hub.Usage(
        prompt_tokens=uncached + reads + writes_5m + writes_1h,
        completion_tokens=answer + reasoning,
        cached_tokens=reads,
        cache_write_tokens=writes_5m + writes_1h,
        reasoning_tokens=reasoning,
    )
    return cost_micros(usage, price, multiplier=multiplier, cache_write_1h_tokens=writes_1h)


PARTS = st.tuples(COUNTS, COUNTS, COUNTS, COUNTS, COUNTS, st.just(0) | COUNTS)


# Reasoning tokens (index 5) are left out: the first one can switch a response to a
# thinking-mode output rate, which an arbitrary generated price may set lower.
@given(parts=PARTS, price=prices(), which=st.integers(min_value=0, max_value=4), more=COUNTS)
def test_cost_is_monotone_in_each_token_count(
    parts: tuple[int, int, int, int, int, int], price: Price, which: int, more: int
) -> None:
    grown = list(parts)
    grown[which] += more
    assert _cost(tuple(grown), price) >= _cost(parts, price)  # type: ignore[arg-type]


@given(parts=PARTS, price=prices(), low=AMOUNTS, high=AMOUNTS)
def test_cost_is_monotone_in_the_multiplier(
    parts: tuple[int, int, int, int, int, int], price: Price, low: Decimal, high: Decimal
) -> None:
    low, high = sorted((low, high))
    assert _cost(parts, price, low) <= _cost(parts, price, high)


@given(
    prompt=st.integers(min_value=-(10**9), max_value=10**9),
    completion=st.integers(min_value=-(10**9), max_value=10**9),
    cached=st.integers(min_value=-(10**9), max_value=10**9),
    written=st.integers(min_value=-(10**9), max_value=10**9),
    reasoning=st.integers(min_value=-(10**9), max_value=10**9),
    writes_1h=st.integers(min_value=-(10**9), max_value=10**9),
    price=prices(),
    multiplier=AMOUNTS,
)
def test_any_usage_costs_a_non_negative_integer(
    prompt: int,
    completion: int,
    cached: int,
    written: int,
    reasoning: int,
    writes_1h: int,
    price: Price,
    multiplier: Decimal,
) -> None:
    usage = hub.Usage(prompt, completion, cached, written, reasoning)
    cost = cost_micros(usage, price, multiplier=multiplier, cache_write_1h_tokens=writes_1h)
    assert type(cost) is int
    assert cost >= 0


@given(parts=PARTS, price=prices())
def test_cost_is_within_half_a_micro_of_the_exact_sum(
    parts: tuple[int, int, int, int, int, int], price: Price
) -> None:
    uncached, reads, writes_5m, writes_1h, answer, reasoning = parts
    rate = price.for_prompt(uncached + reads + writes_5m + writes_1h)
    exact = (
        uncached * rate.input
        + reads * rate.cached_input_rate
        + writes_5m * rate.cache_write_rate
        + writes_1h * rate.cache_write_1h_rate
        + (answer + reasoning) * rate.output_rate(reasoned=reasoning > 0)
    ) + rate.per_request * 1_000_000
    cost = _cost(parts, price)
    assert -Decimal("0.5") < cost - exact <= Decimal("0.5")


@given(
    price=prices(),
    prompt=COUNTS,
    completion=COUNTS,
    reasoned=st.booleans(),
    multiplier=st.just(Decimal(1)) | AMOUNTS,
)
def test_a_holds_bound_costs_what_the_same_usage_costs(
    price: Price, prompt: int, completion: int, reasoned: bool, multiplier: Decimal
) -> None:
    """bound_micros (a hold's size, no Usage built) agrees with cost_micros exactly."""
    usage = hub.Usage(prompt_tokens=prompt, completion_tokens=completion, reasoning_tokens=int(reasoned))
    assert bound_micros(price, prompt, completion, reasoned, multiplier) == cost_micros(
        usage, price, multiplier=multiplier
    )
