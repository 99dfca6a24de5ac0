"""JSON log lines, tagged with the id of the request they were logged for."""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from hubgate.observability.logging import (
    JsonFormatter,
    bind_request_id,
    configure_logging,
    current_request_id,
)


class Lines:
    """A logger whose lines land in memory, formatted as JSON."""

    def __init__(self, name: str) -> None:
        self.stream = io.StringIO()
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(JsonFormatter())
        self.logger = logging.getLogger(name)
        self.logger.handlers = [handler]
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)

    def read(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def lines(request: pytest.FixtureRequest) -> Lines:
    return Lines(f"hubgate.test.{request.node.name}")


def test_a_line_is_one_json_object(lines: Lines) -> None:
    lines.logger.warning("upstream %s answered %d", "main", 503)
    (line,) = lines.read()
    assert set(line) == {"ts", "level", "logger", "msg"}  # no request bound here
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["level"] == "WARNING"
    assert line["logger"] == lines.logger.name
    assert line["msg"] == "upstream main answered 503"


async def test_lines_carry_their_own_request_id(lines: Lines) -> None:
    async def request(request_id: str) -> None:
        bind_request_id(request_id)  # what the edge middleware does, in the request's task
        await asyncio.sleep(0)
        lines.logger.info("handling")

        async def later() -> None:  # e.g. a usage estimate started by the request
            await asyncio.sleep(0.01)
            lines.logger.info("estimated")

        await asyncio.create_task(later())

    await asyncio.gather(request("req-a"), request("req-b"))
    got = sorted((line["request_id"], line["msg"]) for line in lines.read())
    assert got == [
        ("req-a", "estimated"),
        ("req-a", "handling"),
        ("req-b", "estimated"),
        ("req-b", "handling"),
    ]
    assert current_request_id() is None  # each request's task kept its id to itself


def test_exceptions_become_a_string(lines: Lines) -> None:
    def fail() -> None:
        bind_request_id("req-c")
        try:
            raise ValueError("bad upstream body")
        except ValueError:
            lines.logger.exception("could not decode")

    contextvars.copy_context().run(fail)  # a context of its own: the id does not leak into other tests
    (line,) = lines.read()
    assert line["request_id"] == "req-c"
    assert line["level"] == "ERROR"
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad upstream body" in line["exc"]


def test_an_explicit_request_id_wins(lines: Lines) -> None:
    lines.logger.info("settled", extra={"request_id": "req-d"})
    assert lines.read()[0]["request_id"] == "req-d"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield root
    root.handlers[:], level = saved
    root.setLevel(level)


def test_configure_logging_picks_the_format(root_logger: logging.Logger) -> None:
    configure_logging("debug", "json")
    assert root_logger.level == logging.DEBUG
    (handler,) = root_logger.handlers
    assert isinstance(handler.formatter, JsonFormatter)
    configure_logging("warning", "text")
    (handler,) = root_logger.handlers
    assert root_logger.level == logging.WARNING
    assert not isinstance(handler.formatter, JsonFormatter)
    with pytest.raises(ValueError, match="json"):
        configure_logging("info", "yaml")
