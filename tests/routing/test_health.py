"""Cooldown state machine with a fake clock."""

from __future__ import annotations

from hubgate.routing.health import Health, HealthPolicy, Outcome, State


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**policy: object) -> tuple[Health, Clock]:
    clock = Clock()
    return Health(HealthPolicy(**policy), clock=clock), clock  # type: ignore[arg-type]


def test_consecutive_failures_open_then_half_open_probe_decides() -> None:
    health, clock = make(failures_to_open=3, base_cooldown_s=10)
    for _ in range(2):
        health.record("c", "k", "m", Outcome.FAILED)
        assert health.usable("c", "k", "m")
    health.record("c", "k", "m", Outcome.FAILED)
    assert not health.usable("c", "k", "m")  # open
    clock.now += 9.9
    assert not health.usable("c", "k", "m")
    clock.now += 0.2
    assert health.usable("c", "k", "m")  # half-open: this caller is the probe
    assert not health.usable("c", "k", "m")  # ...and nobody else meanwhile
    health.record("c", "k", "m", Outcome.FAILED)  # probe failed: open again, back-off doubled
    clock.now += 10.5
    assert not health.usable("c", "k", "m")
    clock.now += 10
    assert health.usable("c", "k", "m")
    health.record("c", "k", "m", Outcome.OK)  # probe passed: closed
    assert health.usable("c", "k", "m") and health.usable("c", "k", "m")
    assert health.snapshot() == []


def test_error_rate_over_the_window_opens_without_consecutive_failures() -> None:
    health, _ = make(failures_to_open=5, window=10, min_in_window=10, max_error_rate=0.5)
    for i in range(10):
        health.record("c", "k", "m", Outcome.OK if i % 3 == 2 else Outcome.FAILED)
        if i < 9:
            assert health.usable("c", "k", "m")
    assert not health.usable("c", "k", "m")  # 7 of 10 failed, never 5 in a row


def test_throttle_honours_retry_after_and_auth_sets_the_key_aside() -> None:
    health, clock = make(base_cooldown_s=1)
    health.record("c", "k1", "m", Outcome.THROTTLED, retry_after=30)
    clock.now += 29
    assert not health.usable("c", "k1", "m")
    clock.now += 2
    assert health.usable("c", "k1", "m")
    health.record("c", "k2", "m", Outcome.AUTH)
    assert health.pick("c", ["k2", "k3"], "m") == "k3"  # the channel stays up on its other key
    clock.now += 10_000
    assert not health.usable("c", "k2", "m")  # disabled until re-enabled
    (entry,) = [e for e in health.snapshot() if e["state"] == State.DISABLED.value]
    assert entry["key_id"] != "k2"  # keys are named by a hash, never in clear
    health.enable("c")
    assert health.usable("c", "k2", "m")


def test_targets_are_per_model_and_switched_off_with_zero() -> None:
    health, _ = make(failures_to_open=1)
    health.record("c", "k", "m1", Outcome.FAILED)
    assert not health.usable("c", "k", "m1") and health.usable("c", "k", "m2")
    off, _ = make(failures_to_open=0)
    for _ in range(10):
        off.record("c", "k", "m", Outcome.FAILED)
        off.record("c", "k", "m", Outcome.AUTH)
    assert off.usable("c", "k", "m")
