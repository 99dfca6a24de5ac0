"""Issue 17's ratios against the pass-through (and Portkey, LiteLLM), measured side by side.

`make bench` measures its targets one after another, minutes apart; on a shared host the
machine's speed moves more than that between them (the pass-through alone has measured
3,066-4,244 JSON req/s in runs of one day), so a ratio of two figures taken minutes apart
carries that drift. Here the pass-through and each hubgate target are started together and
their wrk runs alternate, the order rotating each round, the others stopped (SIGSTOP) while
one is measured, so none pays for another's idle timers: every
round gives each hubgate one ratio to the pass-through measured seconds apart, and the
ratios are the medians over the rounds. Portkey and LiteLLM, when the run measured them,
take their turns in the same rounds, so hubgate's "x Portkey" is a ratio of runs seconds
apart too. bench/run.py runs this after its targets and issue 17's throughput, p99 and
other-gateway checks read these ratios (report.py).

  bench/.venvs/tools/bin/python bench/run.py --targets ceiling,hubgate --paired-rounds 5
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness as h
import targets as tg

SCENARIOS = (("json_c32", "json", 32), ("sse_c32", "sse", 32))
SETTLE_S = 1.0
HUBGATES = ("hubgate", "hubgate-pg")
OTHERS = ("portkey", "litellm")  # issue 17's "x Portkey" and "x LiteLLM": in the rounds too when measured


def _cpu(target: tg.Target) -> float:
    return h.cpu_seconds(h.tree_pids(target.root_pid()))


def _signal(target: tg.Target, sig: signal.Signals) -> None:
    if target.proc is None:  # never started, or stopped (the rounds hold no Direct target)
        return
    for pid in h.tree_pids(target.root_pid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _only(started: dict[str, tg.Target], name: str) -> None:
    """Let `name` run and stop the others (SIGSTOP): an idle hubgate's timers and watchers
    took 5% of a core, which the pass-through's runs would otherwise pay for."""
    for other, target in started.items():
        _signal(target, signal.SIGCONT if other == name else signal.SIGSTOP)
    time.sleep(SETTLE_S)  # what fell due while stopped runs now, not in the measured run


def _one(
    target: tg.Target, sc: h.Scenario, workdir: Path, conns: int, seconds: float, threads: int
) -> dict[str, Any]:
    body = sc.body_file(workdir)
    before = _cpu(target)
    run = h.run_wrk(target.base_url + sc.path, body, sc.headers, conns, seconds, threads)
    cpu = _cpu(target) - before
    return {
        "rps": round(run["rps"], 1),
        "p99_ms": run["latency_ms"]["p99"],
        "p50_ms": run["latency_ms"]["p50"],
        "cpu_ms_per_req": round(cpu / run["requests"] * 1000, 4) if run["requests"] else None,
        "errors": run["error_count"],
    }


def measure(
    make: Callable[[str], tg.Target],
    names: list[str],
    workdir: Path,
    *,
    rounds: int,
    duration: float,
    warmup: float,
    threads: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The pass-through, the hubgate targets and the other gateways among `names`,
    alternating; {} if there is no pass-through or no hubgate to pair."""
    hubgates = [n for n in HUBGATES if n in names]
    if "ceiling" not in names or not hubgates:
        return {}
    others = [n for n in OTHERS if n in names]
    wanted = ["ceiling", *hubgates]  # the pass-through and hubgate: any failure of theirs ends the stage
    workdir.mkdir(parents=True, exist_ok=True)
    started: dict[str, tg.Target] = {}
    dropped: dict[str, str] = {}
    out: dict[str, Any] = {"rounds": rounds, "duration_s": duration, "targets": wanted, "scenarios": {}}

    @contextlib.contextmanager
    def tolerated(name: str) -> Iterator[None]:
        """A failure of Portkey or LiteLLM leaves it out of the rounds from then on (its
        ratios read the rounds it took part in) and the pass-through and hubgate ratios go
        on; a failure of any other target ends the stage."""
        try:
            yield
        except Exception as exc:
            if name not in others:
                raise
            dropped[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            log(f"  paired: {name} left out: {dropped[name]}")
            target = started.pop(name)
            _signal(target, signal.SIGCONT)
            with contextlib.suppress(Exception):
                target.stop()

    try:
        for name in [*wanted, *others]:
            target = started[name] = make(name)
            with tolerated(name):
                target.install()
                target.start()
        out["targets"] = list(started)
        for key, sc_name, conns in SCENARIOS:
            scenarios = {n: t.scenarios()[sc_name] for n, t in started.items()}
            for name in list(started):  # warm each one up
                _only(started, name)
                sc = scenarios[name]
                with tolerated(name):
                    h.run_wrk(started[name].base_url + sc.path, sc.body_file(workdir), sc.headers,
                              conns, warmup, threads)  # fmt: skip
            runs: list[dict[str, Any]] = []
            for r in range(rounds):
                turn = list(started)
                order = turn[r % len(turn) :] + turn[: r % len(turn)]
                one: dict[str, Any] = {}
                for n in order:
                    _only(started, n)
                    with tolerated(n):
                        one[n] = _one(started[n], scenarios[n], workdir, conns, duration, threads)
                one["order"] = [n for n in order if n in one]
                runs.append(one)
                shown = ", ".join(
                    f"{n} {one[n]['rps']:,.0f}/s p99 {one[n]['p99_ms']:.1f} ms" for n in one["order"]
                )
                log(f"  paired {key} round {r + 1}: {shown}")
            out["scenarios"][key] = {"runs": runs, "ratios": _ratios(runs, hubgates, others)}
            time.sleep(0.5)
    finally:
        for target in started.values():
            _signal(target, signal.SIGCONT)  # a stopped process would not see the SIGTERM
            target.stop()
    if dropped:
        out["dropped"] = dropped
    return out


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.median(kept), 3) if kept else None


def _over(mine: float | None, theirs: float | None) -> float | None:
    return mine / theirs if mine is not None and theirs else None


def _ratios(runs: list[dict[str, Any]], hubgates: list[str], others: list[str]) -> dict[str, dict[str, Any]]:
    """Per hubgate: the medians of its per-round ratios to the pass-through and to each other
    gateway (`vs_portkey`: hubgate's req/s over Portkey's), and of each side's figures."""
    out: dict[str, dict[str, Any]] = {}
    for name in hubgates:
        mine = [run[name] for run in runs]
        base = [run["ceiling"] for run in runs]
        versus: dict[str, Any] = {}
        for other in others:
            pairs = [(run[name], run[other]) for run in runs if other in run]  # the rounds it took part in
            if not pairs:
                continue
            versus[f"vs_{other}"] = _median([_over(m["rps"], t["rps"]) for m, t in pairs])
            versus[f"{other}_rps"] = _median([t["rps"] for _, t in pairs])
            versus.setdefault("errors_vs", {})[other] = sum(m["errors"] + t["errors"] for m, t in pairs)
        out[name] = versus | {
            "share_of_ceiling": _median([_over(m["rps"], b["rps"]) for m, b in zip(mine, base, strict=True)]),
            "p99_vs_ceiling": _median(
                [_over(m["p99_ms"], b["p99_ms"]) for m, b in zip(mine, base, strict=True)]
            ),
            "cpu_per_req_vs_ceiling": _median(
                [_over(m["cpu_ms_per_req"], b["cpu_ms_per_req"]) for m, b in zip(mine, base, strict=True)]
            ),
            "rps": _median([m["rps"] for m in mine]),
            "ceiling_rps": _median([b["rps"] for b in base]),
            "p99_ms": _median([m["p99_ms"] for m in mine]),
            "ceiling_p99_ms": _median([b["p99_ms"] for b in base]),
            "errors": sum(m["errors"] + b["errors"] for m, b in zip(mine, base, strict=True)),
        }
    return out


def markdown(paired: dict[str, Any]) -> list[str]:
    """The paired rounds, each hubgate's ratios and the figures behind them."""
    if not paired or not paired.get("scenarios"):
        return []
    others = [n for n in paired["targets"] if n in OTHERS]
    lines = [
        "## Side by side with the pass-through (issue 17's ratios)",
        "",
        f"The pass-through and {', '.join(paired['targets'][1:])} running at once, wrk runs alternating"
        f" ({paired['rounds']} rounds of {paired['duration_s']:g} s, the order rotating each round, the"
        " targets not being measured stopped); each ratio is the median of the per-round ratios."
        " Issue 17's throughput, p99 and other-gateway checks above read these.",
        "",
        "| scenario | target | of the pass-through | p99 vs pass-through | CPU per request vs pass-through"
        + "".join(f" | x {n}" for n in others)
        + " | medians: req/s (pass-through) | medians: p99 (pass-through) |",
        "|---|---|---|---|---|" + "---|" * len(others) + "---|---|",
    ]
    for key, data in paired["scenarios"].items():
        for name, r in data["ratios"].items():
            share = f"{r['share_of_ceiling'] * 100:.0f}%" if r["share_of_ceiling"] is not None else "-"
            p99 = f"{r['p99_vs_ceiling']:.2f}x" if r["p99_vs_ceiling"] is not None else "-"
            cpu = f"{r['cpu_per_req_vs_ceiling']:.2f}x" if r["cpu_per_req_vs_ceiling"] is not None else "-"
            vs = "".join(
                f" | {r[f'vs_{n}']:.2f}x ({r[f'{n}_rps']:,.0f}/s)" if r.get(f"vs_{n}") is not None else " | -"
                for n in others
            )
            lines.append(
                f"| {key} | {name} | {share} | {p99} | {cpu}{vs} | {r['rps']:,.0f} ({r['ceiling_rps']:,.0f})"
                f" | {r['p99_ms']:.2f} ({r['ceiling_p99_ms']:.2f}) ms |"
            )
    lines.append("")
    for key, data in paired["scenarios"].items():
        rounds = "; ".join(
            " / ".join(f"{n} {run[n]['rps']:,.0f}" for n in paired["targets"] if n in run)
            for run in data["runs"]
        )
        lines.append(f"- {key} rounds (req/s): {rounds}")
    for name, reason in (paired.get("dropped") or {}).items():
        lines.append(
            f"- {name} left out of the rounds from then on ({reason}): its ratios read the rounds it"
            " took part in, or the sequential runs if none"
        )
    lines.append("")
    return lines
