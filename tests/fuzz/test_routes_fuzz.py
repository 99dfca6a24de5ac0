"""No caller input gets a 5xx: hypothesis mutates valid bodies of every caller route.

Each route gets `HUBGATE_FUZZ_EXAMPLES` bodies (default 2,000) per run, derandomized so CI
sees the same bodies every time; a longer local run with fresh bodies:
`HUBGATE_FUZZ_EXAMPLES=50000 HUBGATE_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/fuzz`.
Every answer must be 2xx or a 4xx in the caller's error shape, a stream must finish without
an error event, and the gateway must log no error (see `harness.py`).
"""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.harness import Harness
from tests.fuzz.mutations import encode, hostile_requests
from tests.fuzz.routes import ROUTES, Route

EXAMPLES = int(os.environ.get("HUBGATE_FUZZ_EXAMPLES", "2000"))
RANDOM = os.environ.get("HUBGATE_FUZZ_RANDOM", "").lower() in ("1", "true", "yes")
BATCH = 10  # bodies per hypothesis example, sent at once: per-example costs are paid once a batch


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_no_5xx_for_any_body(fuzzed: tuple[asyncio.AbstractEventLoop, Harness], route: Route) -> None:
    loop, harness = fuzzed
    sent = harness.sent

    @settings(
        max_examples=-(-EXAMPLES // BATCH),
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests=hostile_requests(route.paths, route.bodies, BATCH))
    def answers_are_sane(requests: list[tuple[str, bytes]]) -> None:
        problems = loop.run_until_complete(harness.send_all(route, requests))
        wrong = [
            f"POST {path} answered {p}\nbody: {raw[:4000]!r}"
            for (path, raw), p in zip(requests, problems, strict=True)
            if p
        ]
        assert not wrong, "\n\n".join(wrong)

    answers_are_sane()
    assert harness.sent - sent >= EXAMPLES


def test_usage_rows_of_fuzzed_requests_are_written(fuzzed: tuple[asyncio.AbstractEventLoop, Harness]) -> None:
    """Odd requests leave usage rows the writer can store: one per authenticated request."""
    loop, harness = fuzzed
    long_model = encode({"model": "m" * 5000, "messages": [{"role": "user", "content": "x"}]})
    assert loop.run_until_complete(harness.send_all(ROUTES[0], [("/v1/chat/completions", long_model)])) == [
        None
    ]
    for route in ROUTES:  # requests of its own, for when it runs alone
        batch = [(path, encode(body)) for path in route.paths for body in route.bodies]
        assert loop.run_until_complete(harness.send_all(route, batch)) == [None] * len(batch)
    rows = loop.run_until_complete(harness.usage_rows())
    assert rows >= harness.sent * 0.9  # every request authenticates; a few may still be estimating
    assert not harness.logs.records
