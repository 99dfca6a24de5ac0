"""Turn bench/run.py's measurements into figures: derived deltas, the issue's target
checks, the markdown table, the PNG chart, and a summary of the py-spy profile."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

HUBGATES = ("hubgate", "hubgate-pg")
REFERENCE_CEILING = {"json_c32": 18600, "sse_c32": 14600}  # the issue's figures for the bare pass-through
TARGETS = {  # the issue's targets for hubgate with its production features on
    "json_c32_rps": 8000,
    "sse_c32_rps": 5000,
    "added_ttfb_ms": 1.0,
    "added_p50_ms": 0.5,
    "added_p99_ms": 2.0,
    "translated_ratio": 0.60,
    "worker_rss_mb": 100,
}


def _sc(results: dict[str, Any], target: str, scenario: str) -> dict[str, Any] | None:
    t = results["targets"].get(target)
    if not t or t.get("status") != "ok":
        return None
    sc = t.get("scenarios", {}).get(scenario)
    return sc if sc and "error" not in sc else None


def derive(results: dict[str, Any]) -> dict[str, Any]:
    """Added latency and TTFB against nginx direct; translated vs same-format streams."""
    out: dict[str, Any] = {}
    direct_c1 = _sc(results, "direct", "json_c1")
    direct_ttfb = _sc(results, "direct", "ttfb_c1")
    for name in results["targets"]:
        if name == "direct":
            continue
        entry: dict[str, Any] = {}
        c1 = _sc(results, name, "json_c1")
        if c1 and direct_c1:
            entry["added_latency_c1_ms"] = {
                q: round(c1["latency_ms"][q] - direct_c1["latency_ms"][q], 3) for q in ("p50", "p99")
            }
        ttfb = _sc(results, name, "ttfb_c1")
        if ttfb and direct_ttfb:
            entry["added_ttfb_c1_ms"] = {
                q: round(ttfb["ttfb_ms"][q] - direct_ttfb["ttfb_ms"][q], 3) for q in ("p50", "p99")
            }
        if entry:
            out[name] = entry
    same_oa, same_an = _sc(results, "hubgate", "sse_c32"), _sc(results, "hubgate", "sse_an_to_an_c32")
    oa_an, an_oa = _sc(results, "hubgate", "sse_oa_to_an_c32"), _sc(results, "hubgate", "sse_an_to_oa_c32")
    # Against the bare pass-through measured on the same machine: a figure that
    # travels between machines better than req/s. The issue's targets in the same
    # terms use its reference ceiling (18,600 JSON c=32, 14,600 SSE c=32 req/s).
    for name in HUBGATES:
        rel = {}
        for key in ("json_c32", "sse_c32"):
            mine, ceiling = _sc(results, name, key), _sc(results, "ceiling", key)
            if mine and ceiling:
                rel[key] = round(mine["rps"] / ceiling["rps"], 3)
        if rel:
            out.setdefault(name, {})["share_of_ceiling"] = rel
    out["issue_targets_as_share_of_reference_ceiling"] = {
        "json_c32": round(8000 / REFERENCE_CEILING["json_c32"], 3),
        "sse_c32": round(5000 / REFERENCE_CEILING["sse_c32"], 3),
    }
    ratios = {}
    if same_oa and oa_an:
        ratios["openai_caller_to_anthropic_vs_openai_same_format"] = round(oa_an["rps"] / same_oa["rps"], 3)
    if same_an and an_oa:
        ratios["anthropic_caller_to_openai_vs_anthropic_same_format"] = round(
            an_oa["rps"] / same_an["rps"], 3
        )
    if ratios:
        out.setdefault("hubgate", {})["translated_ratio"] = ratios
    return out


def _worker_rss(results: dict[str, Any], name: str) -> float | None:
    mem = results["targets"].get(name, {}).get("memory") or {}
    workers = mem.get("workers_peak_rss_mb")
    return max(workers) if workers else None


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    derived = results.get("derived", {})
    out: list[dict[str, Any]] = []

    def add(target: str, what: str, value: float | None, limit: float, higher_is_better: bool) -> None:
        passed = None if value is None else (value >= limit if higher_is_better else value < limit)
        out.append({"target": target, "check": what, "value": value, "limit": limit, "pass": passed})

    for name in HUBGATES:
        if name not in results["targets"]:
            continue
        json32, sse32 = _sc(results, name, "json_c32"), _sc(results, name, "sse_c32")
        d = derived.get(name, {})
        add(name, "non-streaming c=32 >= 8,000 req/s", json32 and round(json32["rps"]), 8000, True)
        add(name, "streaming (20 chunks) c=32 >= 5,000 streams/s", sse32 and round(sse32["rps"]), 5000, True)
        ttfb = d.get("added_ttfb_c1_ms", {}).get("p50")
        add(name, "added TTFB at c=1 (p50) < 1 ms", ttfb, 1.0, False)
        lat = d.get("added_latency_c1_ms", {})
        add(name, "added latency at c=1 p50 < 0.5 ms", lat.get("p50"), 0.5, False)
        add(name, "added latency at c=1 p99 < 2 ms", lat.get("p99"), 2.0, False)
        add(name, "memory < 100 MB RSS per worker (peak)", _worker_rss(results, name), 100, False)
    ratios = derived.get("hubgate", {}).get("translated_ratio", {})
    if "hubgate" in results["targets"]:
        add(
            "hubgate",
            "translated streaming OpenAI caller -> Anthropic upstream >= 60% of same-format",
            ratios.get("openai_caller_to_anthropic_vs_openai_same_format"),
            0.60,
            True,
        )
        add(
            "hubgate",
            "translated streaming Anthropic caller -> OpenAI upstream >= 60% of same-format",
            ratios.get("anthropic_caller_to_openai_vs_anthropic_same_format"),
            0.60,
            True,
        )
    return out


# ---------------------------------------------------------------- markdown


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _memory_cell(t: dict[str, Any]) -> str:
    mem = t.get("memory") or {}
    total = mem.get("peak_total_mb")
    workers = mem.get("workers_peak_rss_mb")
    cell = f"{_num(total)} MB"
    if workers:
        cell += f" ({' / '.join(_num(w) for w in workers)} per worker)"
    elif len(mem.get("processes") or []) > 1:
        cell += f" (largest process {_num(mem.get('peak_max_process_mb'))})"
    return cell


def table_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| target | JSON c=8 req/s (p50) | JSON c=32 req/s | SSE c=32 streams/s | CPU per JSON req"
        " | memory (peak RSS) | JSON c=1 p50 / p99 | TTFB c=1 p50 / p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in results["targets"].items():
        label = f"{t.get('label', name)}" + (f" `{t['version']}`" if t.get("version") else "")
        if t.get("status") != "ok":
            rows.append(f"| {label} | not measured: {t.get('reason', t.get('status'))} |||||||")
            continue

        c8, c32, s32, c1, tt = (
            _sc(results, name, key) for key in ("json_c8", "json_c32", "sse_c32", "json_c1", "ttfb_c1")
        )
        cells = [
            f"{_num(c8['rps'])} ({c8['latency_ms']['p50']:.2f} ms)" if c8 else "-",
            _num(c32["rps"]) if c32 else "-",
            _num(s32["rps"]) if s32 else "-",
            f"{c32['cpu_ms_per_req']:.3f} ms" if c32 and c32.get("cpu_ms_per_req") is not None else "-",
            _memory_cell(t),
            f"{c1['latency_ms']['p50']:.2f} / {c1['latency_ms']['p99']:.2f} ms" if c1 else "-",
            f"{tt['ttfb_ms']['p50']:.2f} / {tt['ttfb_ms']['p99']:.2f} ms" if tt else "-",
        ]
        errors = sum((t["scenarios"].get(k) or {}).get("errors", 0) or 0 for k in t["scenarios"])
        if errors:
            label += f" ({errors} errors)"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    m = results["machine"]
    hg = results.get("hubgate", {})
    lines = [
        f"# hubgate benchmark, {results['date']}",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB; Linux {m.get('kernel')};"
        f" Python {m.get('python')}; nginx {m.get('nginx')}; {m.get('wrk')}.",
        f"hubgate: commit `{hg.get('commit', '')[:12]}` ({hg.get('measured_ref')}"
        + (
            ", src/ had uncommitted changes"
            if hg.get("src_dirty") and hg.get("measured_ref") == "work tree"
            else ""
        )
        + "), 2 workers, key auth, model routing, usage log.",
        f"Method: medians of {s['runs']} runs of {s['duration_s']:g} s after a {s['warmup_s']:g} s warm-up;"
        f" wrk -t{s['wrk_threads']} on the same 2 cores (c=1: -t1);"
        f" upstream nginx ({s['nginx_workers']} workers) with fixed answers, SSE = 24 events sent at once."
        " CPU per request = the target's own process-tree CPU seconds / requests, at JSON c=32."
        " TTFB: a Python client at c=1 on the SSE route (compare rows, not absolutes)."
        + (" **Quick run: not representative.**" if s.get("quick") else ""),
        "",
        *(
            [
                "Rows re-measured in a later run and merged (`--merge`): "
                + ", ".join(n for n, t in results["targets"].items() if not t.get("measured_in_earlier_run"))
                + f"; the others are from the run started {results['merged_from']}.",
                "",
            ]
            if results.get("merged_from")
            else []
        ),
        *table_rows(results),
        "",
    ]
    hub = results["targets"].get("hubgate")
    if hub and hub.get("status") == "ok":
        rows = [
            ("OpenAI caller -> OpenAI channel (same format)", "sse_c32", None),
            ("OpenAI caller -> Anthropic channel (translated)", "sse_oa_to_an_c32", "sse_c32"),
            ("Anthropic caller -> Anthropic channel (same format)", "sse_an_to_an_c32", None),
            ("Anthropic caller -> OpenAI channel (translated)", "sse_an_to_oa_c32", "sse_an_to_an_c32"),
        ]
        lines += ["## hubgate streaming by format (c=32, 20 content chunks)", ""]
        lines += ["| path | streams/s | p50 | CPU per stream | vs same-format |", "|---|---|---|---|---|"]
        for label, key, ref in rows:
            sc = _sc(results, "hubgate", key)
            base = _sc(results, "hubgate", ref) if ref else None
            if sc is None:
                lines.append(f"| {label} | - | - | - | - |")
                continue
            ratio = f"{sc['rps'] / base['rps']:.0%}" if base else ""
            cpu = f"{sc['cpu_ms_per_req']:.3f} ms" if sc.get("cpu_ms_per_req") is not None else "-"
            lines.append(
                f"| {label} | {_num(sc['rps'])} | {sc['latency_ms']['p50']:.2f} ms | {cpu} | {ratio} |"
            )
        lines.append("")
    lines += ["## hubgate targets", ""]
    for c in results.get("checks", []):
        mark = {True: "PASS", False: "FAIL", None: "not measured"}[c["pass"]]
        value = c["value"]
        shown = "-" if value is None else (f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
        lines.append(f"- **{mark}** `{c['target']}`: {c['check']} (measured: {shown})")
    lines.append("")
    for name, d in results.get("derived", {}).items():
        if not isinstance(d, dict) or name.startswith("issue_"):
            continue
        parts = []
        if "added_latency_c1_ms" in d:
            a = d["added_latency_c1_ms"]
            parts.append(f"added latency c=1 p50 {a['p50']:+.3f} ms, p99 {a['p99']:+.3f} ms")
        if "added_ttfb_c1_ms" in d:
            a = d["added_ttfb_c1_ms"]
            parts.append(f"added TTFB c=1 p50 {a['p50']:+.3f} ms, p99 {a['p99']:+.3f} ms")
        if parts:
            lines.append(f"- {name} vs nginx direct: " + "; ".join(parts))
        if "share_of_ceiling" in d:
            share = d["share_of_ceiling"]
            ref = results["derived"].get("issue_targets_as_share_of_reference_ceiling", {})
            json_share, sse_share = share.get("json_c32", 0), share.get("sse_c32", 0)
            lines.append(
                f"- {name} vs the bare pass-through on this machine: JSON c=32 {json_share:.0%},"
                f" SSE c=32 {sse_share:.0%} of its throughput (the issue's targets are"
                f" {ref.get('json_c32', 0):.0%} and {ref.get('sse_c32', 0):.0%} of the issue's"
                " reference ceiling)"
            )
    lines.append("")
    usage = [
        (n, t.get("usage_rows_logged")) for n, t in results["targets"].items() if "usage_rows_logged" in t
    ]
    if usage:
        lines.append(
            "Usage rows written during the run (metering was on): "
            + ", ".join(f"{n}: {_num(r) if r is not None else 'unknown'}" for n, r in usage)
            + "."
        )
        lines.append("")
    noisy = []
    for n, t in results["targets"].items():
        for key, sc in (t.get("scenarios") or {}).items():
            b = sc.get("cpu_breakdown_s") if isinstance(sc, dict) else None
            if (
                b
                and b.get("wall")
                and b["other"] / b["wall"] > results["settings"].get("noise_limit_cores", 0.15)
            ):
                noisy.append(f"{n} {key} ({b['other'] / b['wall']:.0%} of a core)")
    if noisy:
        lines += [
            "Series during which other processes on the machine still used a noticeable share of a core"
            " (after reruns; treat with care): " + ", ".join(noisy) + ".",
            "",
        ]
    missing = [
        (n, t) for n, t in results["targets"].items() if t.get("status") != "ok" or t.get("probe_failures")
    ]
    if missing:
        lines += ["## Not measured", ""]
        for n, t in missing:
            if t.get("status") != "ok":
                lines.append(f"- `{n}`: {t.get('reason')}")
            for key, why in (t.get("probe_failures") or {}).items():
                lines.append(f"- `{n}` {key}: {why}")
        lines.append("")
    prof = (results["targets"].get("hubgate") or {}).get("profile")
    if prof and "summary" in prof:
        lines += [
            f"## Profile: one hubgate worker under JSON c=32 ({prof['seconds']} s, py-spy)",
            "",
            f"Flame graph: `{prof.get('svg')}`; full list: `{prof.get('text')}`.",
            "",
            *profile_markdown(prof["summary"]),
            "",
        ]
    elif prof:
        lines += ["## Profile", "", f"Not recorded: {prof.get('error')}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- profile


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
COMPONENTS = (  # first match wins, on the frame's file
    ("hubgate", ("hubgate/",)),
    ("sqlalchemy / aiosqlite / asyncpg", ("sqlalchemy/", "aiosqlite/", "asyncpg/", "sqlite3/")),
    ("aiohttp server", ("aiohttp/web", "aiohttp/http_parser", "aiohttp/_http_parser", "aiohttp/http_writer")),
    ("aiohttp client", ("aiohttp/client", "aiohttp/connector", "aiohttp/streams", "aiohttp/helpers")),
    ("aiohttp other", ("aiohttp/",)),
    ("multidict / yarl", ("multidict/", "yarl/")),
    ("asyncio / uvloop", ("asyncio/", "uvloop/")),
    ("orjson / json", ("orjson", "json/")),
    ("logging", ("logging/",)),
)


def _parse_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m.group("func"), m.group("file")


def _component(file: str) -> str:
    for name, needles in COMPONENTS:
        if any(n in file for n in needles):
            return name
    return "python stdlib / other" if file else "native / unknown"


# Leaf frames that are a thread blocked in C, which py-spy cannot tell from running:
# aiosqlite's worker thread waiting on its queue (`tx.get()`, aiosqlite 0.22 core.py
# line 59). Counting them made the usage writer look like ~20% of a worker's time when
# /proc/<pid>/task/*/stat put all of a worker's aiosqlite threads at ~3% of a core.
IDLE_LEAVES = {("_connection_worker_thread", "aiosqlite/core.py", "59")}


def summarise_profile(collapsed: str, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks
    (stacks ending in a known blocking wait, IDLE_LEAVES, are counted apart as idle)."""
    idle = 0
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    comp_self: Counter[str] = Counter()
    hub_incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = _FRAME.match(frames[-1].strip())
        if leaf and (leaf.group("func"), leaf.group("file"), leaf.group("line")) in IDLE_LEAVES:
            idle += count
            continue
        total += count
        parsed = [_parse_frame(f) for f in frames]
        keys = [f"{func} ({file})" for func, file in parsed]
        self_counts[keys[-1]] += count
        comp_self[_component(parsed[-1][1])] += count
        for key in set(keys):
            incl_counts[key] += count
        for key in {k for (_, file), k in zip(parsed, keys, strict=True) if "hubgate/" in file}:
            hub_incl[key] += count

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "idle_samples_excluded": idle,
        "by_component_self_pct": {k: pct(v) for k, v in comp_self.most_common()},
        "top_self": [{"frame": k, "pct": pct(v)} for k, v in self_counts.most_common(top)],
        "top_inclusive": [{"frame": k, "pct": pct(v)} for k, v in incl_counts.most_common(top)],
        "hubgate_inclusive": [{"frame": k, "pct": pct(v)} for k, v in hub_incl.most_common(top) if v],
    }


def profile_markdown(summary: dict[str, Any], top: int = 12) -> list[str]:
    idle = summary.get("idle_samples_excluded", 0)
    lines = [
        f"{summary['samples']} samples (on-CPU only; {idle} of aiosqlite threads idle on their queue"
        " left out)."
        " Self time by component:",
        "",
    ]
    lines += [f"- {k}: {v}%" for k, v in summary["by_component_self_pct"].items()]
    lines += ["", "Top functions by self time:", "", "| self % | function (file) |", "|---|---|"]
    lines += [f"| {e['pct']} | `{e['frame']}` |" for e in summary["top_self"][:top]]
    lines += [
        "",
        "hubgate functions by inclusive time (with callees):",
        "",
        "| incl % | function |",
        "|---|---|",
    ]
    lines += [f"| {e['pct']} | `{e['frame']}` |" for e in summary["hubgate_inclusive"][:top]]
    return lines


def profile_text(summary: dict[str, Any], pid: int, seconds: int) -> str:
    lines = [f"py-spy, hubgate worker pid {pid}, {seconds} s under wrk JSON c=32", ""]
    lines += [f"samples: {summary['samples']} (idle left out: {summary.get('idle_samples_excluded', 0)})"]
    lines += ["", "self time by component:"]
    lines += [f"  {v:5.1f}%  {k}" for k, v in summary["by_component_self_pct"].items()]
    for title, key in (
        ("top self", "top_self"),
        ("top inclusive", "top_inclusive"),
        ("hubgate inclusive", "hubgate_inclusive"),
    ):
        lines += ["", f"{title}:"]
        lines += [f"  {e['pct']:5.1f}%  {e['frame']}" for e in summary[key]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- chart


def chart(results: dict[str, Any], path: Path) -> str | None:
    """Throughput and latency per target, log scales (nginx is ~100x the slowest)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = [n for n, t in results["targets"].items() if t.get("status") == "ok"]
    if not names:
        return None
    short = {
        "direct": "nginx\ndirect",
        "ceiling": "bare aiohttp\npass-through",
        "hubgate": "hubgate\n(SQLite log)",
        "hubgate-pg": "hubgate\n(PostgreSQL log)",
        "portkey": "Portkey\ngateway",
        "litellm": "LiteLLM\nproxy",
    }
    labels = [short.get(n, n) for n in names]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6.5))
    series = [("JSON c=8", "json_c8"), ("JSON c=32", "json_c32"), ("SSE c=32", "sse_c32")]
    width = 0.8 / len(series)
    for i, (title, key) in enumerate(series):
        values = [(_sc(results, n, key) or {}).get("rps", 0) for n in names]
        xs = [x + (i - 1) * width for x in range(len(names))]
        bars = ax1.bar(xs, values, width, label=title)
        ax1.bar_label(
            bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=7, rotation=90, padding=2
        )
    ax1.set_yscale("log")
    ax1.set_ylabel("requests (streams) per second, log scale")
    ax1.set_title("Throughput (higher is better)")
    ax1.set_xticks(range(len(names)), labels, fontsize=8)
    ax1.axhline(8000, color="grey", ls="--", lw=0.8)
    ax1.text(
        len(names) - 0.5,
        8000,
        "hubgate JSON target 8,000",
        fontsize=7,
        ha="right",
        va="bottom",
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    ax1.axhline(5000, color="grey", ls=":", lw=0.8)
    ax1.text(
        len(names) - 0.5,
        5000,
        "hubgate SSE target 5,000",
        fontsize=7,
        ha="right",
        va="top",
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    ax1.legend(fontsize=8)
    lat_series = [
        ("JSON c=1 p50", lambda n: (_sc(results, n, "json_c1") or {}).get("latency_ms", {}).get("p50")),
        ("JSON c=1 p99", lambda n: (_sc(results, n, "json_c1") or {}).get("latency_ms", {}).get("p99")),
        ("JSON c=8 p50", lambda n: (_sc(results, n, "json_c8") or {}).get("latency_ms", {}).get("p50")),
        ("SSE c=32 p50", lambda n: (_sc(results, n, "sse_c32") or {}).get("latency_ms", {}).get("p50")),
    ]
    width = 0.8 / len(lat_series)
    for i, (title, get) in enumerate(lat_series):
        values = [get(n) or 0 for n in names]
        xs = [x + (i - 1.5) * width for x in range(len(names))]
        bars = ax2.bar(xs, values, width, label=title)
        ax2.bar_label(
            bars, labels=[f"{v:.2f}" if v else "" for v in values], fontsize=7, rotation=90, padding=2
        )
    ax2.set_yscale("log")
    ax2.set_ylabel("milliseconds, log scale")
    ax2.set_title("Latency (lower is better)")
    ax2.set_xticks(range(len(names)), labels, fontsize=8)
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.margins(y=0.25)
        ax.grid(axis="y", which="major", alpha=0.3)
    fig.suptitle(f"hubgate benchmark {results['date']} (2 cores, wrk -t2, nginx upstream)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
