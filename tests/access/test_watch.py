"""RevisionWatch: several tables followed by one poll (access/watch.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from hubgate.access.watch import RevisionWatch


class _Table:
    def __init__(self) -> None:
        self.revisions: dict[str, object] = {"a": (None, 0), "b": (None, 0)}
        self.reads: list[tuple[str, ...]] = []
        self.fail = False

    async def read(self, names: Sequence[str]) -> dict[str, object]:
        self.reads.append(tuple(names))
        if self.fail:
            raise OSError("database away")
        return {n: self.revisions[n] for n in names}


async def test_handlers_run_when_their_revision_moves_and_one_read_serves_all() -> None:
    table, calls = _Table(), []
    watch = RevisionWatch(table.read, 1.0, ("a", "b"))
    watch.follow("a", lambda: calls.append("a"))

    async def on_b() -> None:
        calls.append("b")

    watch.follow("b", on_b)
    await watch.poll()
    assert calls == []  # the first read is the baseline
    table.revisions["a"] = ("t1", 1)
    await watch.poll()
    assert calls == ["a"]
    await watch.poll()
    assert calls == ["a"]  # seen: not again
    table.revisions["b"] = ("t1", 1)
    table.revisions["a"] = ("t1", 0)  # a removal: the count moves
    await watch.poll()
    assert calls == ["a", "a", "b"]
    assert table.reads == [("a", "b")] * 4  # one read a poll, for every table


async def test_a_failing_handler_is_retried_and_holds_up_no_other(caplog: pytest.LogCaptureFixture) -> None:
    table, calls = _Table(), []
    broken = {"left": 1}

    def on_a() -> None:
        calls.append("a")
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("reload failed")

    watch = RevisionWatch(table.read, 1.0, ("a", "b"))
    watch.follow("a", on_a, "thing a")
    watch.follow("b", lambda: calls.append("b"))
    await watch.poll()
    table.revisions = {"a": ("t1", 1), "b": ("t1", 1)}
    with caplog.at_level(logging.WARNING, logger="hubgate.access.watch"):
        await watch.poll()
    assert calls == ["a", "b"]
    assert "thing a changed, but reloading failed" in caplog.text
    await watch.poll()
    assert calls == ["a", "b", "a"]  # a retried; b already seen
    await watch.poll()
    assert calls == ["a", "b", "a"]


async def test_a_failed_read_is_logged_and_the_next_poll_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    table, calls = _Table(), []
    watch = RevisionWatch(table.read, 1.0, ("a", "b"))
    watch.follow("a", lambda: calls.append("a"))
    await watch.poll()
    table.fail = True
    with caplog.at_level(logging.WARNING, logger="hubgate.access.watch"):
        await watch.poll()
    assert "revision poll failed (a)" in caplog.text
    table.fail = False
    table.revisions["a"] = ("t2", 3)
    await watch.poll()
    assert calls == ["a"]


async def test_a_name_followed_later_gets_its_baseline_at_the_next_poll() -> None:
    table, calls = _Table(), []
    watch = RevisionWatch(table.read, 1.0, ("a", "b"))
    watch.follow("a", lambda: calls.append("a"))
    await watch.poll()
    watch.follow("b", lambda: calls.append("b"))
    await watch.poll()
    assert calls == []
    table.revisions["b"] = ("t1", 1)
    await watch.poll()
    assert calls == ["b"]


async def test_a_change_between_the_baseline_and_the_load_is_not_missed() -> None:
    table, calls = _Table(), []
    watch = RevisionWatch(table.read, 1.0, ("a", "b"))
    await watch.baseline()  # before the copies are loaded
    table.revisions["b"] = ("t1", 1)  # another process, while this one loads
    watch.follow("b", lambda: calls.append("b"))  # followed after the load
    await watch.poll()
    assert calls == ["b"]  # one extra reload, not a missed change
    await watch.poll()
    assert calls == ["b"]


async def test_a_failed_baseline_leaves_the_first_poll_as_the_baseline() -> None:
    table, calls = _Table(), []
    watch = RevisionWatch(table.read, 1.0, ("a",))
    table.fail = True
    await watch.baseline()
    table.fail = False
    watch.follow("a", lambda: calls.append("a"))
    await watch.poll()
    assert calls == []


def test_only_names_with_a_revision_can_be_followed() -> None:
    watch = RevisionWatch(_Table().read, 1.0, ("a",))
    with pytest.raises(ValueError, match="no revision is read for 'nope'"):
        watch.follow("nope", lambda: None)
