"""LeaseHolds keeps one map, ref -> (subjects, micros), and a total per subject, and settles
a flush per subjects tuple. Here it is held to a plain model of per-subject books (an entry
per ref under each subject, a flush shrinking the lease row by row) over random sequences
of holds, settlements, releases, re-placed refs and flushes: the totals, the leases and
what goes back must agree after every step."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from hubgate.access.holds import ACCOUNT, KEY, Flushed, Subject
from hubgate.access.leases import LeaseHolds

ACCOUNTS = [Subject(ACCOUNT, i) for i in (1, 2)]
KEYS = [Subject(KEY, i, 10**9) for i in (7, 8, 9)]


class Grants:
    """A lease source that grants what is asked."""

    async def take(self, subject: Subject, want: int, need: int, ttl_s: float) -> int:
        return want

    async def give_back(self, amounts: object) -> None:
        return None


class Model:
    """Per-subject books, entry by entry, as the lease backend kept them before."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, int]] = defaultdict(dict)
        self.leases: dict[str, int] = defaultdict(int)
        self.give: dict[tuple[str, int], int] = defaultdict(int)
        self.under: dict[str, tuple[Subject, ...]] = {}

    def out(self, name: str) -> int:
        return sum(self.entries[name].values())

    def put(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> None:
        for s in self.under.pop(ref, ()):
            self.entries[s.name].pop(ref, None)
        if micros:
            self.under[ref] = subjects
            for s in subjects:
                self.entries[s.name][ref] = micros

    def flushed(self, costs: list[Flushed]) -> None:
        for cost in costs:
            subjects = self.under.pop(cost.ref, ())
            for s in subjects:
                spent = self.entries[s.name].pop(cost.ref)
                given = min(spent, self.leases[s.name])
                self.leases[s.name] -= given
                if given:
                    self.give[s.kind, s.id] += given


def test_lease_books_match_per_subject_entries() -> None:
    asyncio.run(_run(random.Random(13), steps=6000))


async def _run(rnd: random.Random, steps: int) -> None:
    holds = LeaseHolds(Grants(), chunk_micros=5_000, ttl_s=30.0)  # type: ignore[arg-type]
    model = Model()
    tuples = [(a,) for a in ACCOUNTS] + [(k,) for k in KEYS] + [(a, k) for a in ACCOUNTS for k in KEYS]
    open_refs: list[str] = []
    charged: list[tuple[str, tuple[Subject, ...], int]] = []
    for step in range(steps):
        op = rnd.random()
        if op < 0.35 or not open_refs:  # place (sometimes a ref placed before, again)
            ref = rnd.choice(open_refs) if open_refs and rnd.random() < 0.05 else f"r{step}"
            subjects = model.under.get(ref) or rnd.choice(tuples)
            micros = rnd.choice([0, 1, rnd.randrange(1, 3_000), rnd.randrange(1, 30_000)])
            before = {s.name: holds.leases[s.name] for s in subjects}
            refused = await holds.place(ref, subjects, micros, 30.0)
            for s in subjects:  # leases granted meanwhile
                model.leases[s.name] += holds.leases[s.name] - before[s.name]
            if refused is None and micros:  # placing nothing leaves an earlier hold alone
                model.put(ref, subjects, micros)
            if refused is None and ref not in open_refs:
                open_refs.append(ref)
        elif op < 0.75:  # settle to the actual cost (0: released), sometimes under other subjects
            ref = open_refs.pop(rnd.randrange(len(open_refs)))
            subjects = model.under.get(ref) or rnd.choice(tuples)
            if rnd.random() < 0.05:
                subjects = rnd.choice(tuples)
            cost = rnd.choice([0, rnd.randrange(1, 40_000)])
            holds.settle(ref, subjects, cost, 30.0)
            model.put(ref, subjects, cost)
            if cost:
                charged.append((ref, subjects, cost))
        elif charged:  # a usage flush of some of the charged rows, each naming its key and account
            rnd.shuffle(charged)
            batch, charged = charged[: rnd.randrange(1, 12)], charged[12:]
            costs = [Flushed(ref, tuple(s.name for s in subjects), cost) for ref, subjects, cost in batch]
            if rnd.random() < 0.1:
                costs.append(Flushed(f"elsewhere{step}", (ACCOUNTS[0].name,), 5))  # not held here
            holds.flushed(costs)
            model.flushed(costs)
        for name in {s.name for t in tuples for s in t}:
            assert holds.out[name] == model.out(name), (step, name)
            assert holds.leases[name] == model.leases[name], (step, name)
        assert dict(holds._give) == {k: v for k, v in model.give.items() if v}, step
