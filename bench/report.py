"""Turn bench/run.py's measurements into figures: ratios against the pass-through and the
other gateways, issue 17's checks, and the markdown report (the PNG is chart.py's, the
profile summary profile_summary.py's, the README table readme_table.py's).

Everything reads the results JSON defensively: a JSON written before a figure existed
(loop lag, metering, features) re-renders with that figure "not measured".
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import paired
from profile_summary import profile_markdown

HUBGATES = ("hubgate", "hubgate-pg")
ISSUE = "issue 17 (performance)"
WORKER_RSS_LIMIT_MB = 100
# Issue 17's done-when, at c=32 against targets measured in the same run:
# (what, the derived ratio it reads, limit, comparison).
RATIO_CHECKS: tuple[tuple[str, str, str, float, str], ...] = (
    ("JSON c=32 throughput >= 50% of the pass-through's", "share_of_ceiling", "json_c32", 0.5, ">="),
    ("SSE c=32 throughput >= 50% of the pass-through's", "share_of_ceiling", "sse_c32", 0.5, ">="),
    ("JSON c=32 p99 <= 2x the pass-through's", "p99_vs_ceiling", "json_c32", 2.0, "<="),
    ("JSON c=32 throughput >= 20x LiteLLM's", "vs_litellm", "json_c32", 20.0, ">="),
    ("JSON c=32 throughput >= 3x Portkey's", "vs_portkey", "json_c32", 3.0, ">="),
    ("SSE c=32 throughput >= 4x Portkey's", "vs_portkey", "sse_c32", 4.0, ">="),
)
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def sc(results: dict[str, Any], target: str, scenario: str) -> dict[str, Any] | None:
    """One measured scenario of one target, or None (not run, failed, or an error)."""
    t = results["targets"].get(target)
    if not t or t.get("status") != "ok":
        return None
    found = (t.get("scenarios") or {}).get(scenario)
    return found if found and "error" not in found else None


def _ratio(mine: float | None, other: float | None, digits: int = 3) -> float | None:
    return round(mine / other, digits) if mine is not None and other else None


def _rps(results: dict[str, Any], target: str, scenario: str) -> float | None:
    found = sc(results, target, scenario)
    return found["rps"] if found else None


def _p99(results: dict[str, Any], target: str, scenario: str) -> float | None:
    found = sc(results, target, scenario)
    return found["latency_ms"]["p99"] if found else None


def _cpu(results: dict[str, Any], target: str, scenario: str) -> float | None:
    found = sc(results, target, scenario)
    return found.get("cpu_ms_per_req") if found else None


def derive(results: dict[str, Any]) -> dict[str, Any]:
    """Added latency and TTFB against nginx direct; each hubgate target against the
    pass-through, LiteLLM and Portkey; translated vs same-format streams."""
    out: dict[str, Any] = {}
    direct_c1 = sc(results, "direct", "json_c1")
    direct_ttfb = sc(results, "direct", "ttfb_c1")
    for name in results["targets"]:
        if name == "direct":
            continue
        entry: dict[str, Any] = {}
        c1 = sc(results, name, "json_c1")
        if c1 and direct_c1:
            entry["added_latency_c1_ms"] = {
                q: round(c1["latency_ms"][q] - direct_c1["latency_ms"][q], 3) for q in ("p50", "p99")
            }
        ttfb = sc(results, name, "ttfb_c1")
        if ttfb and direct_ttfb:
            entry["added_ttfb_c1_ms"] = {
                q: round(ttfb["ttfb_ms"][q] - direct_ttfb["ttfb_ms"][q], 3) for q in ("p50", "p99")
            }
        if entry:
            out[name] = entry
    for name in HUBGATES:
        if sc(results, name, "json_c32") is None and sc(results, name, "sse_c32") is None:
            continue
        entry = out.setdefault(name, {})
        for key, other, get in (
            ("share_of_ceiling", "ceiling", _rps),
            ("vs_litellm", "litellm", _rps),
            ("vs_portkey", "portkey", _rps),
            ("p99_vs_ceiling", "ceiling", _p99),
            ("cpu_per_req_vs_ceiling", "ceiling", _cpu),
        ):
            ratios = {
                s: _ratio(get(results, name, s), get(results, other, s)) for s in ("json_c32", "sse_c32")
            }
            if any(v is not None for v in ratios.values()):
                entry[key] = ratios
    for scenario, data in _paired(results).items():  # side by side: these replace the sequential ratios
        for name, r in data["ratios"].items():
            entry = out.setdefault(name, {})
            for key in ("share_of_ceiling", "p99_vs_ceiling", "cpu_per_req_vs_ceiling", *_VERSUS):
                if r.get(key) is not None:
                    entry.setdefault(key, {})[scenario] = r[key]
            entry.setdefault("paired", []).append(scenario)
    same_oa, same_an = sc(results, "hubgate", "sse_c32"), sc(results, "hubgate", "sse_an_to_an_c32")
    oa_an, an_oa = sc(results, "hubgate", "sse_oa_to_an_c32"), sc(results, "hubgate", "sse_an_to_oa_c32")
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


_COMPARED = {  # a derived ratio: (the other target, which figure, its unit)
    "share_of_ceiling": ("ceiling", _rps, "/s"),
    "vs_litellm": ("litellm", _rps, "/s"),
    "vs_portkey": ("portkey", _rps, "/s"),
    "p99_vs_ceiling": ("ceiling", _p99, " ms"),
}


_VERSUS = ("vs_portkey", "vs_litellm")  # side by side too when the run measured them (bench/paired.py)
_FROM_PAIRED = ("share_of_ceiling", "p99_vs_ceiling", *_VERSUS)  # the checks that read the paired rounds


def _paired(results: dict[str, Any]) -> dict[str, Any]:
    """bench/paired.py's scenarios ({} when the run had none)."""
    return dict((results.get("paired") or {}).get("scenarios") or {})


def _figures(results: dict[str, Any], name: str, key: str, scenario: str) -> str | None:
    """'4,567/s vs 10,422/s': the two figures behind a ratio, when both were measured."""
    paired = _paired(results).get(scenario, {}).get("ratios", {}).get(name)
    if paired is not None and paired.get(key) is not None and key in _FROM_PAIRED:
        rounds = results["paired"]["rounds"]
        other = _COMPARED[key][0]
        if key == "p99_vs_ceiling":
            mine, theirs = f"{_num(paired['p99_ms'], 2)} ms", f"{_num(paired['ceiling_p99_ms'], 2)} ms"
        else:
            mine, theirs = f"{_num(paired['rps'])}/s", f"{_num(paired[f'{other}_rps'])}/s"
        return f"side by side, median of {rounds} rounds: {mine} vs {other} {theirs}"
    other, get, unit = _COMPARED[key]
    mine, theirs = get(results, name, scenario), get(results, other, scenario)
    if mine is None or theirs is None:
        return None
    digits = 2 if unit == " ms" else 0
    return f"{_num(mine, digits)}{unit} vs {other} {_num(theirs, digits)}{unit}"


def worker_rss(results: dict[str, Any], name: str) -> float | None:
    """A hubgate target's largest worker peak RSS (MB), or None."""
    mem = (results["targets"].get(name) or {}).get("memory") or {}
    workers = mem.get("workers_peak_rss_mb")
    return max(workers) if workers else None


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's done-when for each hubgate target in the run (value None: not measured)."""
    derived = results.get("derived") or derive(results)
    out: list[dict[str, Any]] = []
    for name in HUBGATES:
        if name not in results["targets"]:
            continue
        d = derived.get(name, {})
        for what, key, scenario, limit, op in RATIO_CHECKS:
            value = (d.get(key) or {}).get(scenario)
            passed = None if value is None else _OPS[op](value, limit)
            check = {"target": name, "check": what, "value": value, "limit": limit, "op": op, "pass": passed}
            check["figures"] = _figures(results, name, key, scenario)
            errors = sum(
                (sc(results, t, scenario) or {}).get("errors", 0) or 0 for t in (name, _COMPARED[key][0])
            )
            ratios = _paired(results).get(scenario, {}).get("ratios", {}).get(name) or {}
            if ratios.get(key) is not None and key in ("share_of_ceiling", "p99_vs_ceiling"):
                errors += ratios["errors"]  # the side-by-side runs it read
            elif ratios.get(key) is not None and key in _VERSUS:
                errors += ratios.get("errors_vs", {}).get(_COMPARED[key][0], 0)
            out.append(check | ({"errors": errors} if errors else {}))
        rss = worker_rss(results, name)
        out.append(
            {
                "target": name,
                "check": f"worker peak RSS < {WORKER_RSS_LIMIT_MB} MB (this run; the soak: make bench-soak)",
                "value": rss,
                "limit": WORKER_RSS_LIMIT_MB,
                "op": "<",
                "pass": None if rss is None else rss < WORKER_RSS_LIMIT_MB,
            }
        )
    return out


def check_summary(results: dict[str, Any], name: str) -> str:
    """'6 of 7 met (not met: ...; not measured: ...)' for one hubgate target."""
    mine = [c for c in results.get("checks", []) if c["target"] == name]
    met = [c for c in mine if c["pass"] is True]
    failed = [c["check"] for c in mine if c["pass"] is False]
    unknown = [c["check"] for c in mine if c["pass"] is None]
    text = f"{len(met)} of {len(mine)} met"
    extra = [f"not met: {'; '.join(failed)}"] if failed else []
    extra += [f"not measured: {'; '.join(unknown)}"] if unknown else []
    return text + (f" ({'. '.join(extra)})" if extra else "")


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


def errors_of(t: dict[str, Any]) -> int:
    return sum((s or {}).get("errors", 0) or 0 for s in (t.get("scenarios") or {}).values())


def table_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| target | JSON c=8 req/s (p50) | JSON c=32 req/s (p50 / p99) | SSE c=32 streams/s (p99)"
        " | CPU per JSON req | memory (peak RSS) | JSON c=1 p50 / p99 | TTFB c=1 p50 / p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in results["targets"].items():
        label = f"{t.get('label', name)}" + (f" `{t['version']}`" if t.get("version") else "")
        if t.get("status") != "ok":
            rows.append(f"| {label} | not measured: {t.get('reason', t.get('status'))} |||||||")
            continue
        c8, c32, s32, c1, tt = (
            sc(results, name, key) for key in ("json_c8", "json_c32", "sse_c32", "json_c1", "ttfb_c1")
        )
        cells = [
            f"{_num(c8['rps'])} ({c8['latency_ms']['p50']:.2f} ms)" if c8 else "-",
            f"{_num(c32['rps'])} ({c32['latency_ms']['p50']:.2f} / {c32['latency_ms']['p99']:.2f} ms)"
            if c32
            else "-",
            f"{_num(s32['rps'])} ({s32['latency_ms']['p99']:.2f} ms)" if s32 else "-",
            f"{c32['cpu_ms_per_req']:.3f} ms" if c32 and c32.get("cpu_ms_per_req") is not None else "-",
            _memory_cell(t),
            f"{c1['latency_ms']['p50']:.2f} / {c1['latency_ms']['p99']:.2f} ms" if c1 else "-",
            f"{tt['ttfb_ms']['p50']:.2f} / {tt['ttfb_ms']['p99']:.2f} ms" if tt else "-",
        ]
        if errors_of(t):
            label += f" ({errors_of(t)} errors)"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def _shown(check: dict[str, Any]) -> str:
    value, op = check["value"], check.get("op")
    if value is None:
        return "not measured"
    if op == "<":
        return f"{value:.1f} MB"
    shown = f"{value:.0%}" if value < 1 and op == ">=" else f"{value:.2f}x"
    shown += f": {check['figures']}" if check.get("figures") else ""
    if check.get("errors"):
        shown += f"; {check['errors']:,} errors in these series, treat with care"
    return shown


def checks_markdown(results: dict[str, Any]) -> list[str]:
    lines = [
        f"## Checks from {ISSUE}",
        "",
        "From issue 17's done-when: at c=32, against the bare pass-through, LiteLLM and Portkey"
        " measured in the same run, hubgate with everything on; the memory limit is read here"
        " from this run's peak (the issue asks it over the soak, `make bench-soak`).",
        "",
    ]
    for c in results.get("checks", []):
        mark = {True: "PASS", False: "FAIL", None: "not measured"}[c["pass"]]
        shown = _shown(c)
        lines.append(f"- **{mark}** `{c['target']}`: {c['check']} (measured: {shown})")
    return [*lines, ""]


def ratios_markdown(results: dict[str, Any]) -> list[str]:
    derived = results.get("derived", {})
    names = [n for n in HUBGATES if n in derived and "share_of_ceiling" in derived[n]]
    if not names:
        return []
    lines = [
        "## hubgate against the others (c=32, same run)",
        "",
        "| target | of the pass-through: JSON / SSE | p99 vs pass-through (JSON / SSE)"
        " | CPU per request vs pass-through (JSON / SSE) | x LiteLLM (JSON / SSE) | x Portkey (JSON / SSE) |",
        "|---|---|---|---|---|---|",
    ]

    def pair(d: dict[str, Any] | None, pct: bool = False) -> str:
        d = d or {}
        cells = [
            "-" if d.get(k) is None else (f"{d[k]:.0%}" if pct else f"{d[k]:.2f}x")
            for k in ("json_c32", "sse_c32")
        ]
        return " / ".join(cells)

    for name in names:
        d = derived[name]
        lines.append(
            f"| {name} | {pair(d.get('share_of_ceiling'), pct=True)} | {pair(d.get('p99_vs_ceiling'))}"
            f" | {pair(d.get('cpu_per_req_vs_ceiling'))} | {pair(d.get('vs_litellm'))}"
            f" | {pair(d.get('vs_portkey'))} |"
        )
    return [*lines, ""]


def lag_cell(lag: dict[str, Any] | None) -> str:
    """'p99 / max' of a scenario's loop lag, in ms."""
    if not lag or "error" in lag:
        return "not measured"
    return f"{lag['p99_ms']:.1f} / {_num(lag.get('max_ms'), 1)} ms"


def lag_markdown(results: dict[str, Any]) -> list[str]:
    names = [n for n in HUBGATES if (results["targets"].get(n) or {}).get("status") == "ok"]
    if not names:
        return []
    lines = [
        "## hubgate event-loop lag under load",
        "",
        "From hubgate's /metrics (`hubgate_event_loop_lag_seconds`, each worker's loop sampled"
        " 4 times a second; both workers together), read around each kept run: the histogram's"
        " growth over those runs gives the mean and the p99 (interpolated inside its bucket);"
        " max is the `hubgate_event_loop_lag_max_seconds` gauge read after each run (the worst"
        " worker's last 10-20 s, capped at the top bucket that gained samples).",
        "",
        "| target | scenario | samples | mean | p99 | max | over 10 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        series = {
            key: found
            for key, found in (results["targets"][name].get("scenarios") or {}).items()
            if isinstance(found, dict) and "rps" in found
        }
        if not any(found.get("loop_lag") for found in series.values()):
            lines.append(f"| {name} | all | not measured (a results file from before loop lag) | | | | |")
            continue
        for key, found in series.items():
            lag = found.get("loop_lag")
            if not lag or "error" in lag:
                lines.append(f"| {name} | {key} | {(lag or {}).get('error', 'not measured')} | | | | |")
                continue
            lines.append(
                f"| {name} | {key} | {_num(lag['samples'])} | {lag['mean_ms']:.2f} ms"
                f" | {lag['p99_ms']:.1f} ms | {_num(lag.get('max_ms'), 1)} ms"
                f" | {lag.get('over_10ms', 0):.1%} |"
            )
    return [*lines, ""]


def metering_markdown(results: dict[str, Any]) -> list[str]:
    lines = []
    for name in HUBGATES:
        t = results["targets"].get(name)
        if not t:
            continue
        m = t.get("metering")
        if m:
            held = "yes" if m.get("holds_charged") else "NO (see the figures)"
            lines.append(
                f"- `{name}`: {_num(m.get('usage_rows'))} usage rows, {_num(m.get('charged_rows'))} charged,"
                f" ${m.get('cost_usd', 0):,.6f} in all; the account's balance lost"
                f" ${m.get('account_spent_usd', 0):,.6f}, the key's budget ${m.get('key_spent_usd', 0):,.6f};"
                f" holds placed and settled into both: {held}"
            )
        elif "usage_rows_logged" in t:
            rows = t.get("usage_rows_logged")
            lines.append(
                f"- `{name}`: {_num(rows) if rows is not None else 'unknown'} usage rows; charges and holds"
                " not measured (a results file from before issue 17's settings: the key had no budget)"
            )
    if not lines:
        return []
    return ["## Metering and holds (after each hubgate target stopped)", "", *lines, ""]


def streaming_markdown(results: dict[str, Any]) -> list[str]:
    hub = results["targets"].get("hubgate")
    if not hub or hub.get("status") != "ok":
        return []
    rows = [
        ("OpenAI caller -> OpenAI channel (same format)", "sse_c32", None),
        ("OpenAI caller -> Anthropic channel (translated)", "sse_oa_to_an_c32", "sse_c32"),
        ("Anthropic caller -> Anthropic channel (same format)", "sse_an_to_an_c32", None),
        ("Anthropic caller -> OpenAI channel (translated)", "sse_an_to_oa_c32", "sse_an_to_an_c32"),
    ]
    lines = [
        "## hubgate streaming by format (c=32, 20 content chunks; information, not a check)",
        "",
        "| path | streams/s | p50 | CPU per stream | vs same-format |",
        "|---|---|---|---|---|",
    ]
    for label, key, ref in rows:
        found = sc(results, "hubgate", key)
        base = sc(results, "hubgate", ref) if ref else None
        if found is None:
            lines.append(f"| {label} | - | - | - | - |")
            continue
        ratio = f"{found['rps'] / base['rps']:.0%}" if base else ""
        cpu = f"{found['cpu_ms_per_req']:.3f} ms" if found.get("cpu_ms_per_req") is not None else "-"
        lines.append(
            f"| {label} | {_num(found['rps'])} | {found['latency_ms']['p50']:.2f} ms | {cpu} | {ratio} |"
        )
    return [*lines, ""]


def _header(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    m = results["machine"]
    hg = results.get("hubgate", {})
    features = next(
        (t["features"] for n, t in results["targets"].items() if n in HUBGATES and t.get("features")), None
    )
    dirty = hg.get("src_dirty") and hg.get("measured_ref") == "work tree"
    lines = [
        f"# hubgate benchmark, {results['date']}",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB; Linux {m.get('kernel')};"
        f" Python {m.get('python')}; nginx {m.get('nginx')}; {m.get('wrk')}.",
        f"hubgate: commit `{hg.get('commit', '')[:12]}` ({hg.get('measured_ref')}"
        + (", src/ had uncommitted changes" if dirty else "")
        + "), 2 workers, with "
        + (
            features
            if features
            else "key auth, model routing and the usage log (settings not recorded: a results file"
            " from before issue 17's, when the key had no budget, so no holds)"
        )
        + ".",
        f"Method: medians of {s['runs']} runs of {s['duration_s']:g} s after a {s['warmup_s']:g} s warm-up;"
        f" wrk -t{s['wrk_threads']} on the same 2 cores (c=1: -t1);"
        f" upstream nginx ({s['nginx_workers']} workers) with fixed answers, SSE = 24 events sent at once."
        " CPU per request = the target's own process-tree CPU seconds / requests, at JSON c=32."
        " TTFB: a Python client at c=1 on the SSE route (compare rows, not absolutes)."
        + (" **Quick run: not representative.**" if s.get("quick") else ""),
    ]
    if results.get("command"):
        lines.append(f"Command: `{results['command']}`.")
    lines.append("")
    if results.get("merged_from"):
        fresh = ", ".join(n for n, t in results["targets"].items() if not t.get("measured_in_earlier_run"))
        lines += [
            f"Rows re-measured in a later run and merged (`--merge`): {fresh}; the others are from the run"
            f" started {results['merged_from']}"
            + (f" (`{results['merged_command']}`)" if results.get("merged_command") else "")
            + ".",
            "",
        ]
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, d in results.get("derived", {}).items():
        if not isinstance(d, dict):
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
    lines.append("")
    noisy = []
    limit = results["settings"].get("noise_limit_cores", 0.15)
    for n, t in results["targets"].items():
        for key, found in (t.get("scenarios") or {}).items():
            b = found.get("cpu_breakdown_s") if isinstance(found, dict) else None
            if b and b.get("wall") and b["other"] / b["wall"] > limit:
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
    return lines


def markdown(results: dict[str, Any]) -> str:
    lines = [*_header(results), *table_rows(results), ""]
    lines += checks_markdown(results)
    lines += paired.markdown(results.get("paired") or {})
    lines += ratios_markdown(results)
    lines += lag_markdown(results)
    lines += metering_markdown(results)
    lines += streaming_markdown(results)
    lines += _notes(results)
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
