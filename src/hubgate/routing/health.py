"""Health of each (channel, upstream key, model): cooldowns with back-off, half-open
probes, and keys set aside after auth or balance failures.

    closed ──(N consecutive failures, or an error rate over the window)──> open
    open ──(cooldown elapsed)──> half-open: one probe request at a time
    half-open ──success──> closed        half-open ──failure──> open, cooldown doubled
    any ──(401/402/403, insufficient_quota)──> disabled until re-enabled

Pure in-process state with an injectable clock, so every transition is testable.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # connection error, timeout, 5xx: counts towards a cooldown
    THROTTLED = "throttled"  # 429: cooldown at once, for Retry-After if given
    AUTH = "auth"  # 401/402/403 or insufficient_quota: the key is set aside


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    DISABLED = "disabled"


@dataclass(frozen=True)
class HealthPolicy:
    failures_to_open: int = 3  # 0 switches health tracking off
    window: int = 20  # recent outcomes kept for the error rate
    min_in_window: int = 10
    max_error_rate: float = 0.5
    base_cooldown_s: float = 5.0
    max_cooldown_s: float = 300.0


@dataclass
class Target:
    state: State = State.CLOSED
    consecutive_failures: int = 0
    trips: int = 0  # consecutive times opened; drives the back-off
    open_until: float = 0.0
    probing: bool = False
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    reason: str = ""


@functools.lru_cache(maxsize=4096)  # a handful of upstream keys, named three times a request
def key_id(secret: str) -> str:
    """A short, non-reversible name for an upstream key (never log the key itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:10]


TargetKey = tuple[str, str, str]  # (channel, key id, model)


class Health:
    def __init__(
        self, policy: HealthPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or HealthPolicy()
        self._clock = clock
        self._targets: dict[TargetKey, Target] = {}
        self.on_cooldown: Callable[[str], None] | None = None  # metrics hook: channel name
        self.on_set_aside: Callable[[str], None] | None = None  # a key refused (auth): channel name
        # Sharing with other replicas: `on_change` publishes this process's transitions
        # (state, seconds left); `remote` holds what the others published.
        self.on_change: Callable[[TargetKey, State, float], None] | None = None
        self.remote: dict[TargetKey, tuple[State, float]] = {}  # state, until (wall clock)

    @property
    def enabled(self) -> bool:
        return self.policy.failures_to_open > 0

    def _target(self, key: TargetKey) -> Target:
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = Target(recent=deque(maxlen=self.policy.window))
        return target

    def _remote_blocks(self, key: TargetKey) -> bool:
        shared = self.remote.get(key)
        if shared is None:
            return False
        state, until = shared
        return state is State.DISABLED or (state is State.OPEN and time.time() < until)

    def usable(self, channel: str, secret: str, model: str) -> bool:
        """Whether a request may go to this target now (and claims the probe if half-open)."""
        key = (channel, key_id(secret), model)
        if self.remote and self._remote_blocks(key):
            return False
        target = self._targets.get(key)
        if target is None or target.state is State.CLOSED:
            return True
        if target.state is State.DISABLED:
            return False
        now = self._clock()
        if target.state is State.OPEN:
            if now < target.open_until:
                return False
            target.state = State.HALF_OPEN
            target.probing = False
        if target.probing:
            return False  # one probe at a time decides
        target.probing = True
        return True

    def release(self, channel: str, secret: str, model: str) -> None:
        """An attempt ended with no verdict (the caller hung up): free a claimed probe."""
        target = self._targets.get((channel, key_id(secret), model))
        if target is not None:
            target.probing = False

    def pick(self, channel: str, secrets: Iterable[str], model: str) -> str | None:
        """The first usable upstream key of a channel, in the order given."""
        for secret in secrets:
            if self.usable(channel, secret, model):
                return secret
        return None

    def record(
        self, channel: str, secret: str, model: str, outcome: Outcome, retry_after: float | None = None
    ) -> None:
        if self.policy.failures_to_open <= 0:
            return  # health tracking switched off
        target = self._target((channel, key_id(secret), model))
        target.probing = False
        policy = self.policy
        key = (channel, key_id(secret), model)
        if outcome is Outcome.OK:
            target.recent.append(True)
            was = target.state
            target.state = State.CLOSED
            target.consecutive_failures = 0
            target.trips = 0
            if was is not State.CLOSED:
                self._publish(key, target)
            return
        if outcome is Outcome.AUTH:
            target.state = State.DISABLED
            target.reason = "the upstream refused this key (auth or balance)"
            self._notify(channel)
            self._publish(key, target)
            if self.on_set_aside is not None:
                self.on_set_aside(channel)
            return
        target.recent.append(False)
        target.consecutive_failures += 1
        failures = target.recent.count(False)
        too_many = target.consecutive_failures >= policy.failures_to_open or (
            len(target.recent) >= policy.min_in_window
            and failures / len(target.recent) > policy.max_error_rate
        )
        if outcome is Outcome.THROTTLED or target.state is State.HALF_OPEN or too_many:
            self._open(target, retry_after if outcome is Outcome.THROTTLED else None)
            self._notify(channel)
            self._publish(key, target)

    def _open(self, target: Target, at_least: float | None) -> None:
        policy = self.policy
        cooldown = min(policy.max_cooldown_s, policy.base_cooldown_s * 2**target.trips)
        if at_least is not None:
            cooldown = max(cooldown if target.trips else 0.0, min(at_least, policy.max_cooldown_s))
        target.trips += 1
        target.state = State.OPEN
        target.open_until = self._clock() + cooldown
        target.consecutive_failures = 0
        target.recent.clear()

    def _publish(self, key: TargetKey, target: Target) -> None:
        if self.on_change is not None:
            left = max(0.0, target.open_until - self._clock()) if target.state is State.OPEN else 0.0
            self.on_change(key, target.state, left)

    def _notify(self, channel: str) -> None:
        if self.on_cooldown is not None:
            self.on_cooldown(channel)

    def enable(self, channel: str | None = None) -> None:
        """Re-enable disabled keys and end cooldowns (admin action or a passing check)."""
        for key, target in self._targets.items():
            if channel is None or key[0] == channel:
                target.state = State.CLOSED
                target.consecutive_failures = 0
                target.trips = 0
                target.probing = False
                self._publish(key, target)
        for key in [k for k in self.remote if channel is None or k[0] == channel]:
            del self.remote[key]
            if self.on_change is not None:
                self.on_change(key, State.CLOSED, 0.0)

    def all_set_aside(self, channel: str, secrets: Iterable[str]) -> bool:
        """Whether every one of the channel's upstream keys was refused (for some model)."""
        aside = {k[1] for k, t in self._targets.items() if k[0] == channel and t.state is State.DISABLED}
        ids = {key_id(s) for s in secrets}
        return bool(ids) and ids <= aside

    def snapshot(self) -> list[dict[str, object]]:
        """Targets not in plain health, for admin listings (keys by id, never in clear)."""
        now = self._clock()
        return [
            {
                "channel": channel,
                "key_id": key,
                "model": model,
                "state": t.state.value,
                "cooldown_left_s": round(max(0.0, t.open_until - now), 3) if t.state is State.OPEN else 0.0,
                "reason": t.reason,
            }
            for (channel, key, model), t in self._targets.items()
            if t.state is not State.CLOSED
        ]
