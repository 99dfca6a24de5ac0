"""The fuzzed gateway, shared by the fuzz test and the pinned cases it found."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.fuzz.harness import Harness


@pytest.fixture(scope="package")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, Harness]]:
    """The gateway and its upstreams on an event loop of their own, which each example drives."""
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'hubgate.db'}"
    loop = asyncio.new_event_loop()
    harness = loop.run_until_complete(Harness.start(database_url))
    try:
        yield loop, harness
    finally:
        loop.run_until_complete(harness.close())
        loop.close()
