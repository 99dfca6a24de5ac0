"""The README's benchmark table, from a results JSON: `bench/run.py --update-readme` rewrites
what lies between the two markers in README.md's "## Benchmarks" section with the table,
one line naming the results file and the command that measured it, and one line of
issue 17's checks per hubgate target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import report

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _label(name: str, t: dict[str, Any]) -> str:
    label = t.get("label", name)
    return f"**{label}**" if name in report.HUBGATES else label


def _memory(t: dict[str, Any]) -> str:
    mem = t.get("memory") or {}
    workers = mem.get("workers_peak_rss_mb")
    if workers:
        return " / ".join(_num(w) for w in workers) + " MB"
    largest = mem.get("peak_max_process_mb")
    return f"{_num(largest)} MB" if largest is not None else "-"


def table(results: dict[str, Any]) -> list[str]:
    """One row per target: c=32 throughput, its share of the pass-through's, latency, CPU,
    hubgate's loop lag, memory."""
    rows = [
        "| target | JSON c=32 req/s | SSE c=32 streams/s | of the pass-through (JSON / SSE)"
        " | JSON c=32 p50 / p99 | CPU per JSON req | loop lag p99 / max (JSON c=32)"
        " | memory per worker (peak) | JSON c=1 p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ceiling = {k: report.sc(results, "ceiling", k) for k in ("json_c32", "sse_c32")}
    derived = results.get("derived") or report.derive(results)
    for name, t in results["targets"].items():
        if t.get("status") != "ok":
            rows.append(f"| {_label(name, t)} | not measured: {t.get('reason', t.get('status'))} ||||||||")
            continue
        c32, s32, c1 = (report.sc(results, name, k) for k in ("json_c32", "sse_c32", "json_c1"))
        share = "-"
        if name not in ("direct", "ceiling") and (ceiling["json_c32"] or ceiling["sse_c32"]):
            parts = []
            d = derived.get(name, {})
            for key, mine in (("json_c32", c32), ("sse_c32", s32)):
                base = ceiling[key]
                if key in d.get("paired", ()):  # side by side (bench/paired.py): what the checks read
                    parts.append(f"{d['share_of_ceiling'][key]:.0%}")
                else:
                    parts.append(f"{mine['rps'] / base['rps']:.0%}" if mine and base else "-")
            share = " / ".join(parts)
        lag = (c32 or {}).get("loop_lag")
        cells = [
            _num(c32["rps"]) if c32 else "-",
            _num(s32["rps"]) if s32 else "-",
            share,
            f"{c32['latency_ms']['p50']:.2f} / {c32['latency_ms']['p99']:.2f} ms" if c32 else "-",
            f"{c32['cpu_ms_per_req']:.3f} ms" if c32 and c32.get("cpu_ms_per_req") is not None else "-",
            report.lag_cell(lag) if name in report.HUBGATES else "-",
            _memory(t),
            f"{c1['latency_ms']['p50']:.2f} / {c1['latency_ms']['p99']:.2f} ms" if c1 else "-",
        ]
        label = _label(name, t) + (f" ({report.errors_of(t):,} errors)" if report.errors_of(t) else "")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def block(results: dict[str, Any], results_file: str) -> str:
    """What goes between the markers."""
    hg = results.get("hubgate", {})
    command = f"`{results['command']}`" if results.get("command") else "a command not recorded in the JSON"
    quick = " **A quick run: not representative.**" if results.get("settings", {}).get("quick") else ""
    merged = ""
    if results.get("merged_from"):
        fresh = ", ".join(n for n, t in results["targets"].items() if not t.get("measured_in_earlier_run"))
        merged = f" Rows {fresh} re-measured; the others from the run started {results['merged_from']}."
    when = results.get("started_at", results["date"])
    source = (
        f"From `{results_file}` (and its `.md`, `.png`), measured {when}"
        f" on commit `{hg.get('commit', '')[:12]}` by {command}.{merged}{quick}"
    )
    checks = [
        f"- Issue 17's checks, `{name}`: {report.check_summary(results, name)}."
        for name in report.HUBGATES
        if any(c["target"] == name for c in results.get("checks", []))
    ]
    paired = results.get("paired") or {}
    if paired.get("scenarios"):
        ratios = [r for data in paired["scenarios"].values() for r in data["ratios"].values()]
        others = [n for n in ("portkey", "litellm") if any(r.get(f"vs_{n}") is not None for r in ratios)]
        also = f" and its ratios to {' and '.join(others)}" if others else ""
        source += (
            " hubgate's share of the pass-through is from it and the pass-through run side by side"
            f" ({paired['rounds']} alternating rounds of {paired['duration_s']:g} s, medians;"
            f" bench/paired.py), as are issue 17's throughput and p99 checks{also};"
            " the other columns are each target's own runs."
        )
    return "\n".join([*table(results), "", source, *(["", *checks] if checks else [])])


def update(readme: Path, results: dict[str, Any], results_file: str) -> None:
    """Replace what lies between START and END in `readme` (both must be there, once)."""
    text = readme.read_text(encoding="utf-8")
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"{readme}: expected one {START} ... {END} pair around the benchmark table")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{block(results, results_file)}\n{END}{tail}", encoding="utf-8")
