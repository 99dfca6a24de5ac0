from __future__ import annotations

from decimal import Decimal

from hubgate.formats.anthropic._shared import usage_from_wire, usage_to_wire
from hubgate.metering.cost import cost_micros
from hubgate.metering.price import Price


def test_one_hour_cache_writes_are_read_round_tripped_and_priced_apart() -> None:
    wire = {
        "input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens": 50,
    }
    usage = usage_from_wire(wire)
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens) == (1400, 1000, 300)
    assert usage.cache_write_1h_tokens == 200
    assert usage_to_wire(usage)["cache_creation"] == wire["cache_creation"]
    # Claude-style rates: input 3, read 0.30, 5m write 3.75, 1h write 6, output 15 (USD / 1M).
    price = Price(
        input=Decimal(3),
        output=Decimal(15),
        cached_input=Decimal("0.30"),
        cache_write=Decimal("3.75"),
        cache_write_1h=Decimal(6),
    )
    expected = 100 * 3 + 1000 * Decimal("0.30") + 100 * Decimal("3.75") + 200 * 6 + 50 * 15  # micro-USD
    assert cost_micros(usage, price, cache_write_1h_tokens=usage.cache_write_1h_tokens) == int(expected)
