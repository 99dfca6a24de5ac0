"""py-spy's collapsed stacks of one hubgate worker, summed up: self and inclusive time per
function and per component (aiohttp server and client, hubgate, the database drivers...),
as a dict, markdown lines and plain text; `record` runs py-spy on a worker under load.
bench/run.py and bench/ab.py use it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import harness as h

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


def record(
    pid: int,
    seconds: int,
    load: tuple[str, Path, dict[str, str], int],
    results: Path,
    raw_dir: Path,
    stamp: str,
) -> dict[str, Any]:
    """py-spy (100 Hz) on worker `pid` for `seconds` while wrk sends `load` (url, body file,
    headers, threads) at c=32: `<stamp>-profile.svg`, `.txt` and `-collapsed.txt` in
    `results`; the summary, or {"error": ...}."""
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        return {"error": "py-spy is not installed in the tools venv"}
    svg = results / f"{stamp}-profile.svg"
    raw = raw_dir / "profile-collapsed.txt"
    url, body, headers, threads = load
    wrk = threading.Thread(target=h.run_wrk, args=(url, body, headers, 32, seconds + 3, threads), daemon=True)
    wrk.start()
    time.sleep(1.0)
    common = ["record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--nonblocking"]
    spies = [
        subprocess.Popen(
            [str(pyspy), *common, "--format", kind, "--output", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for kind, path in (("flamegraph", svg), ("raw", raw))
    ]
    outputs = [s.communicate(timeout=seconds + 60)[0].decode(errors="replace") for s in spies]
    wrk.join(timeout=seconds + 30)
    if not raw.exists():
        return {"error": "py-spy produced nothing: " + " | ".join(o.strip()[-300:] for o in outputs)}
    summary = summarise_profile(raw.read_text(encoding="utf-8"))
    text_path = results / f"{stamp}-profile.txt"
    text_path.write_text(profile_text(summary, pid, seconds), encoding="utf-8")
    shutil.copy(raw, results / f"{stamp}-profile-collapsed.txt")
    return {
        "worker_pid": pid,
        "seconds": seconds,
        "svg": svg.name if svg.exists() else None,
        "text": text_path.name,
        "collapsed": f"{stamp}-profile-collapsed.txt",
        "summary": summary,
    }
