"""Request ids: the same 24 hex digits as before, in time order (they key the usage log's
unique index, which time-ordered ids keep appending to at its right edge)."""

from __future__ import annotations

import re
import time

from hubgate.http.middleware import new_request_id


def test_request_ids_are_24_hex_digits_unique_and_in_time_order() -> None:
    ids = []
    for _ in range(3):
        ids += [new_request_id() for _ in range(2_000)]
        time.sleep(0.002)
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    millis = [int(i[:12], 16) for i in ids]
    assert millis == sorted(millis)
    assert abs(millis[-1] - time.time_ns() // 1_000_000) < 5_000
    assert ids[0] < ids[-1]


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without running the test runner's exit
        os.write(write, ",".join(new_request_id()[12:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parent = {new_request_id()[12:] for _ in range(50)}
    with os.fdopen(read, "rb") as f:
        child = set(f.read().decode().split(","))
    os.waitpid(pid, 0)
    assert len(child) == 50
    assert not parent & child
