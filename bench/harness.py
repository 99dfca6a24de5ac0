"""Pieces shared by bench/run.py and bench/smoke.py: processes, ports, wrk, probes,
the request bodies and hubgate's generated config. Standard library only, so
smoke.py runs from the project's own venv.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK_SCRIPT = BENCH / "wrk" / "post.lua"
HUBGATE_KEY = "sk-bench-0123456789abcdef"
PLAIN_KEY = "sk-bench-plain-0123456789abcdef"  # `plain_key`: no budget, no account: never held
UPSTREAM_KEY = "sk-upstream-bench-0123456789"
BENCH_CREDIT_USD = 1_000_000  # `limited`: the key's budget and its account's starting balance
PROMPT = [{"role": "user", "content": "Say twenty words, please."}]


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child in its own process group, output to a log file; `stop()` ends the group."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        unset: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = Path(tempfile.mkstemp(prefix=f"hubgate-bench-{name}-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            env={k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset},
            cwd=str(cwd) if cwd else None,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_lines(self, n: int = 3) -> str:
        lines = [ln.strip() for ln in self.log_tail(20000).splitlines() if ln.strip()]
        return " | ".join(lines[-n:])

    def log_tail(self, chars: int = 2000) -> str:
        if self._log.closed:
            return ""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Stragglers of the group (workers whose parent already left).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        self.log_path.unlink(missing_ok=True)  # callers copy what they keep before stopping


def wait_http(url: str, timeout: float, proc: Proc | None = None) -> None:
    """Until `url` answers at all (any HTTP status); raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}: {proc.last_lines()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except urllib.error.HTTPError:
            return
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.2)
    tail = proc.last_lines() if proc is not None else ""
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last}) {tail}")


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants, from /proc (root first)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), from /proc."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident set size in MB (0 if the process is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def hubgate_workers(serve_pid: int) -> list[int]:
    """The worker processes under `hubgate serve` (not multiprocessing's resource tracker)."""
    out = []
    for pid in tree_pids(serve_pid)[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            out.append(pid)
    return sorted(out)


# ---------------------------------------------------------------- requests


@dataclass
class Scenario:
    """One kind of request to one target: where, which headers, which body, and how to check it."""

    name: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    expect: bytes = b""  # must appear in the answer (probe)

    def body_file(self, workdir: Path) -> Path:
        path = workdir / f"body-{self.name}.json"
        path.write_text(json.dumps(self.body), encoding="utf-8")
        return path


def openai_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return body


def anthropic_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return body


def probe(base_url: str, sc: Scenario, timeout: float = 10.0) -> tuple[bool, str]:
    """One request; (ok, detail). ok means HTTP 200 and `expect` in the answer."""
    req = urllib.request.Request(
        base_url + sc.path,
        data=json.dumps(sc.body).encode(),
        headers={"Content-Type": "application/json", **sc.headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if sc.expect and sc.expect not in data:
        return False, f"HTTP {status} but {sc.expect!r} not in answer: {data[:300]!r}"
    return True, f"HTTP {status}, {len(data)} bytes"


# ---------------------------------------------------------------- wrk


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str,
    body_file: Path,
    headers: dict[str, str],
    connections: int,
    duration_s: float,
    threads: int = 2,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """One wrk run; the figures of bench/wrk/post.lua's summary plus rps and ms latencies."""
    threads = max(1, min(threads, connections))
    argv = [
        wrk_binary() or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:.0f}s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(body_file),
        *[f"{k}: {v}" for k, v in headers.items()],
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()} {done.stdout[-500:]}")
    out: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = out["duration_us"] / 1e6
    errors = out["errors"]
    bad = errors["status"] + errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    out["rps"] = (out["requests"] - errors["status"]) / seconds if seconds else 0.0
    out["error_count"] = bad
    out["latency_ms"] = {k: v / 1000 for k, v in out.pop("latency_us").items()}
    return out


# ---------------------------------------------------------------- hubgate


def hubgate_config(
    upstream: str,
    database_url: str,
    workers: int,
    log_level: str = "warning",
    *,
    limited: bool = False,
    redis_url: str | None = None,
    plain_key: bool = False,
    key_limits: int | None = None,
) -> str:
    """hubgate's YAML: OpenAI, Anthropic and Gemini channels on the nginx upstream, one key.
    `limited`: the key has a budget and belongs to an account with a balance, and the
    bench models have prices, so every request is held and charged (the default account
    has no limit and unpriced models cost nothing: no holds). `redis_url`: hubgate
    shares its state (holds, limits) through that Redis, under a fresh prefix. `plain_key`:
    a second key (PLAIN_KEY) with no budget and no account, so never held, in the same
    process, and two unpriced models, bench-free-json and bench-free-sse (bench/keys_ab.py
    compares the three). `key_limits`: the bench key's rpm, tpm and requests at once, set to
    this (high enough never to refuse: the limiter runs on every request, refusing none)."""
    channels = [
        ("oa-json", "openai", f"{upstream}/json/v1", "bench-json"),
        ("oa-sse", "openai", f"{upstream}/sse/v1", "bench-sse"),
        ("an-json", "anthropic", f"{upstream}/json", "bench-claude-json"),
        ("an-sse", "anthropic", f"{upstream}/sse", "bench-claude-sse"),
        ("gm-json", "gemini", f"{upstream}/json", "bench-gemini-json"),
        ("gm-sse", "gemini", f"{upstream}/sse", "bench-gemini-sse"),
    ]
    lines = [
        "# generated by bench/harness.py for one benchmark run",
        f"database_url: {database_url}",
        f"workers: {workers}",
        f"log_level: {log_level}",
        "channels:",
    ]
    for name, kind, base, model in channels:
        lines += [
            f"  - name: {name}",
            f"    type: {kind}",
            f"    base_url: {base}",
            f"    api_key: {UPSTREAM_KEY}",
            f"    models: [{model}, {model}-pub]",
            f"    model_map: {{{model}-pub: {model}}}",  # a public name (answers renamed to it)
        ]
    if redis_url:
        lines += [f"redis_url: {redis_url}", f"redis_prefix: 'bench-{os.urandom(6).hex()}:'"]
    lines += ["keys:", "  - name: bench", f"    key: {HUBGATE_KEY}"]
    if limited:
        lines += ["    account: bench", f"    budget_usd: {BENCH_CREDIT_USD}"]
    if key_limits:
        lines += [f"    rpm: {key_limits}", f"    tpm: {key_limits}", f"    max_concurrency: {key_limits}"]
    if plain_key:
        lines += ["  - name: plain", f"    key: {PLAIN_KEY}"]
        # And models nobody priced (bench-free-json, bench-free-sse): nothing to charge.
        lines[lines.index("keys:") : lines.index("keys:")] = [
            "  - name: free-json",
            "    type: openai",
            f"    base_url: {upstream}/json/v1",
            f"    api_key: {UPSTREAM_KEY}",
            "    models: [bench-free-json]",
            "  - name: free-sse",
            "    type: openai",
            f"    base_url: {upstream}/sse/v1",
            f"    api_key: {UPSTREAM_KEY}",
            "    models: [bench-free-sse]",
        ]
    if limited:
        lines += ["accounts:", "  - name: bench", f"    balance_usd: {BENCH_CREDIT_USD}", "pricing:"]
        for *_, model in channels:
            lines += [
                f"  {model}: {{input: 0.15, output: 0.60}}",
                f"  {model}-pub: {{input: 0.15, output: 0.60}}",
            ]
    return "\n".join([*lines, ""])


def hubgate_scenarios() -> dict[str, Scenario]:
    """Same-format OpenAI plain and streamed, translation both ways, Anthropic same-format."""
    oa_auth = {"Authorization": f"Bearer {HUBGATE_KEY}"}
    an_auth = {"x-api-key": HUBGATE_KEY, "anthropic-version": "2023-06-01"}
    chat, msgs = "/v1/chat/completions", "/v1/messages"
    return {
        "json": Scenario("json", chat, openai_body("bench-json", False), oa_auth, expect=b"word19"),
        "sse": Scenario("sse", chat, openai_body("bench-sse", True), oa_auth, True, b"[DONE]"),
        "sse_oa_to_an": Scenario(
            "sse_oa_to_an", chat, openai_body("bench-claude-sse", True), oa_auth, True, b"[DONE]"
        ),
        "sse_an_to_an": Scenario(
            "sse_an_to_an", msgs, anthropic_body("bench-claude-sse", True), an_auth, True, b"message_stop"
        ),
        "sse_an_to_oa": Scenario(
            "sse_an_to_oa", msgs, anthropic_body("bench-sse", True), an_auth, True, b"message_stop"
        ),
        # Public names: the same requests for a `model_map`'d name, so every answer is renamed.
        "json_pub": Scenario(
            "json_pub", chat, openai_body("bench-json-pub", False), oa_auth, expect=b"word19"
        ),
        "sse_pub": Scenario("sse_pub", chat, openai_body("bench-sse-pub", True), oa_auth, True, b"[DONE]"),
        "sse_an_to_an_pub": Scenario(
            "sse_an_to_an_pub",
            msgs,
            anthropic_body("bench-claude-sse-pub", True),
            an_auth,
            True,
            b"message_stop",
        ),
    }


@contextlib.contextmanager
def hubgate_server(
    upstream: str,
    database_url: str,
    workers: int,
    port: int,
    workdir: Path,
    src: Path | None = None,
    **options: Any,
) -> Iterator[Proc]:
    """`.venv/bin/hubgate serve` with the generated config; stopped (SIGTERM, usage
    flushed) on exit. `src` puts another source tree first on PYTHONPATH (a snapshot
    of a commit; see `snapshot_src`), instead of the editable install's work tree.
    `options` go to `hubgate_config` (limited, redis_url)."""
    config = workdir / f"hubgate-{port}.yaml"
    config.write_text(hubgate_config(upstream, database_url, workers, **options), encoding="utf-8")
    exe = ROOT / ".venv" / "bin" / "hubgate"
    argv = [str(exe), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers)]
    env = {"PYTHONPATH": str(src)} if src is not None else {}
    proc = Proc(f"hubgate-{port}", argv, env=env, cwd=workdir)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc)
        yield proc
    finally:
        proc.stop()


def resolve_ref(ref: str) -> str:
    """The commit a ref names now (others may commit while the benchmark runs)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"unknown git ref {ref!r}: {done.stderr.strip()}")
    return done.stdout.strip()


def snapshot_src(commit: str, dest: Path) -> Path:
    """`git archive COMMIT src` unpacked under `dest` (read-only for the repository); the src dir."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def git_describe() -> dict[str, Any]:
    """The commit measured and whether src/ had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "src_dirty": bool(git("status", "--porcelain", "--", "src"))}


def run_doc(args: Any, **results: Any) -> dict[str, Any]:
    """What a benchmark run writes to its JSON: when, with what arguments, on which commit."""
    return {
        "date": args.date,
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "python": platform.python_version(),
        "git": git_describe(),
        **results,
    }


def measured(git: dict[str, Any]) -> str:
    """The commit a result came from, for a report's first lines."""
    return f"hubgate `{git['commit'][:12]}`" + (" + uncommitted src changes" if git["src_dirty"] else "")


def finish(args: Any, name: str, doc: dict[str, Any], md: str) -> None:
    """Print the report and, unless --no-write, keep it as results/<date>-<name>.{json,md}."""
    print(md)
    if not args.no_write:
        results = BENCH / "results"
        (results / f"{args.date}-{name}.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        (results / f"{args.date}-{name}.md").write_text(md, encoding="utf-8")
