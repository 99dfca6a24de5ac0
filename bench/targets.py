"""The gateways the benchmark measures, each behind the same nginx upstream.

A target installs itself if it can (`install`), starts (`start`), names the
processes whose CPU and memory are its own (`root_pid`), and says how to send
each kind of request (`scenarios`: "json" and "sse" at least). A target that
cannot be installed or run raises `Unavailable` with the reason, which the
results record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import harness as h

BENCH = h.BENCH
VENVS = BENCH / ".venvs"
NODE_DIR = BENCH / ".node"
LITELLM_VERSION = "1.106.2"
PORTKEY_VERSION = "1.15.2"
HONO_NODE_SERVER = "1.13.5"  # newer ones break Portkey's streaming (TypeError: immutable)
PG_DATABASE_PREFIX = "hubgate_bench_"  # + a random suffix: runs side by side never share one
LITELLM_MASTER_KEY = "sk-litellm-bench-0123456789abcdef"  # LiteLLM refuses to start without one


class Unavailable(Exception):
    """This target cannot be measured here; the message says why."""


class Target:
    name = ""
    label = ""
    workers = 1

    def __init__(self, upstream: str, workdir: Path) -> None:
        self.upstream = upstream
        self.workdir = workdir
        self.port = h.free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: h.Proc | None = None
        self.version = ""
        self.notes: list[str] = []

    def install(self) -> None:
        """Make the target runnable (may take minutes the first time)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def root_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def scenarios(self) -> dict[str, h.Scenario]:
        raise NotImplementedError

    def log_tail(self, chars: int = 2000) -> str:
        return self.proc.log_tail(chars) if self.proc is not None else ""


def _same_path_scenarios() -> dict[str, h.Scenario]:
    """For targets that take the upstream's own paths (direct, ceiling)."""
    return {
        "json": h.Scenario(
            "json", "/json/v1/chat/completions", h.openai_body("bench-json", False), expect=b"word19"
        ),
        "sse": h.Scenario(
            "sse", "/sse/v1/chat/completions", h.openai_body("bench-sse", True), stream=True, expect=b"[DONE]"
        ),
    }


class Direct(Target):
    """nginx itself: the upstream with no gateway in front (the floor for latency)."""

    name, label = "direct", "nginx direct"

    def __init__(self, upstream: str, workdir: Path, nginx_pid: int, nginx_version: str) -> None:
        super().__init__(upstream, workdir)
        self.base_url = upstream
        self._pid = nginx_pid
        self.version = nginx_version

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def root_pid(self) -> int:
        return self._pid

    def scenarios(self) -> dict[str, h.Scenario]:
        return _same_path_scenarios()


class Ceiling(Target):
    """bench/ceiling.py: aiohttp + uvloop forwarding bodies, 2 processes, no features."""

    name, label, workers = "ceiling", "bare aiohttp+uvloop pass-through", 2

    def install(self) -> None:
        if not (h.ROOT / ".venv" / "bin" / "python").exists():
            raise Unavailable("the project venv is missing (run `make install`)")

    def start(self) -> None:
        python = h.ROOT / ".venv" / "bin" / "python"
        argv = [str(python), str(BENCH / "ceiling.py"), "--port", str(self.port)]
        argv += ["--upstream", self.upstream, "--workers", str(self.workers)]
        self.proc = h.Proc(self.name, argv)
        h.wait_http(self.base_url + "/healthz", 60, self.proc)
        self.version = _pip_version(python, "aiohttp", prefix="aiohttp ")

    def scenarios(self) -> dict[str, h.Scenario]:
        return _same_path_scenarios()


KEY_LIMITS = 1_000_000_000  # the bench key's rpm, tpm and requests at once: checked, never reached
FEATURES = (  # what the hubgate targets run with (issue 17: "with everything on")
    "key auth; the key has a budget, an rpm, tpm and concurrency limit (never reached) and"
    " belongs to an account with a balance; the models are priced, so every request is"
    " sized, held, settled and charged; usage journal (fsync batch) and usage log;"
    " Prometheus metrics; log level info"
)


class Hubgate(Target):
    """hubgate with everything on: key auth with budget, account balance and limits, holds,
    metering (journal and usage log, SQLite or PostgreSQL), metrics and logs."""

    workers = 2

    def __init__(
        self, upstream: str, workdir: Path, database: str, src: Path | None, commit: str | None
    ) -> None:
        super().__init__(upstream, workdir)
        self.database = database
        self.src = src
        self.commit = commit
        self.name = "hubgate" if database == "sqlite" else "hubgate-pg"
        self.label = f"hubgate ({'SQLite' if database == 'sqlite' else 'PostgreSQL'} usage log)"
        self._ctx: object | None = None
        self.usage_rows: int | None = None
        self.metering: dict[str, Any] | None = None
        self.database_url = ""
        self.pg_database = f"{PG_DATABASE_PREFIX}{uuid.uuid4().hex[:8]}"
        self.features = FEATURES

    def install(self) -> None:
        if not (h.ROOT / ".venv" / "bin" / "hubgate").exists():
            raise Unavailable("the project venv is missing (run `make install`)")
        if self.database == "sqlite":
            self.database_url = f"sqlite+aiosqlite:///{self.workdir}/hubgate-bench.db"
            return
        if shutil.which("psql") is None:
            raise Unavailable("psql is not installed, so no PostgreSQL database can be created")
        done = psql(f"CREATE DATABASE {self.pg_database}")
        if done.returncode != 0:
            raise Unavailable(f"PostgreSQL at 127.0.0.1:5432 refused: {done.stderr.strip()[:300]}")
        self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_database}"

    def start(self) -> None:
        self._ctx = h.hubgate_server(
            self.upstream,
            self.database_url,
            self.workers,
            self.port,
            self.workdir,
            self.src,
            log_level="info",
            limited=True,
            key_limits=KEY_LIMITS,
        )
        self.proc = self._ctx.__enter__()  # type: ignore[attr-defined]
        described = h.git_describe()
        if self.commit:
            self.version = self.commit[:12]
        else:
            self.version = described["commit"][:12] + (" + work tree" if described["src_dirty"] else "")

    def stop(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
            self._ctx = None
            self.proc = None
        if self.database_url:
            self.metering = self._metering()
            self.usage_rows = (self.metering or {}).get("usage_rows")
        if self.database != "sqlite" and self.database_url:
            psql(f"DROP DATABASE IF EXISTS {self.pg_database} WITH (FORCE)")

    def _query(self, sql: str) -> list[str] | None:
        """One row of a query on the target's database after the run, as text."""
        try:
            if self.database == "sqlite":
                import sqlite3

                with sqlite3.connect(self.workdir / "hubgate-bench.db") as db:
                    row = db.execute(sql).fetchone()
                return None if row is None else ["" if v is None else str(v) for v in row]
            done = psql(sql, database=self.pg_database)
            return done.stdout.strip().split("|") if done.returncode == 0 and done.stdout.strip() else None
        except Exception:
            return None

    def _metering(self) -> dict[str, Any] | None:
        """Proof that metering and holds were on: usage rows, the rows charged (cost > 0),
        what they cost, and what the account's balance and the key's budget lost (a held
        request is settled into both, so each equals the rows' cost once all is flushed)."""
        usage = self._query(
            "SELECT count(*), sum(CASE WHEN cost_micros > 0 THEN 1 ELSE 0 END),"
            " coalesce(sum(cost_micros), 0) FROM usage_logs"
        )
        if usage is None:
            return None
        rows, charged, cost = int(usage[0]), int(usage[1] or 0), int(usage[2])
        out: dict[str, Any] = {"usage_rows": rows, "charged_rows": charged, "cost_usd": cost / 1e6}
        account = self._query("SELECT balance_micros, leased_micros FROM accounts WHERE name = 'bench'")
        key = self._query("SELECT spent_micros FROM api_keys WHERE name = 'bench'")
        spent = None
        if account is not None:
            spent = h.BENCH_CREDIT_USD * 1_000_000 - int(account[0])
            out["account_spent_usd"] = spent / 1e6
            out["account_leased_usd_at_end"] = int(account[1]) / 1e6
        if key is not None:
            out["key_spent_usd"] = int(key[0]) / 1e6
        # Holds were placed and settled: requests were charged, and the balance and the
        # budget lost exactly what the usage rows cost.
        out["holds_charged"] = bool(charged and spent == cost and key is not None and int(key[0]) == cost)
        return out

    def database_pids(self) -> list[int]:
        """PostgreSQL backends serving this target's database (their CPU is the usage log's)."""
        if self.database == "sqlite":
            return []
        import psutil

        pids = []
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if cmd.startswith("postgres:") and f" {self.pg_database} " in f"{cmd} ":
                pids.append(p.pid)
        return pids

    def worker_pids(self) -> list[int]:
        import psutil

        root = psutil.Process(self.root_pid())
        return [
            p.pid for p in root.children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())
        ]

    def scenarios(self) -> dict[str, h.Scenario]:
        return h.hubgate_scenarios()


class LiteLLM(Target):
    """LiteLLM proxy from PyPI in bench/.venvs/litellm, 2 workers, no database."""

    name, label, workers = "litellm", f"LiteLLM proxy {LITELLM_VERSION}", 2

    def __init__(self, upstream: str, workdir: Path) -> None:
        super().__init__(upstream, workdir)
        self.venv = VENVS / "litellm"
        self.version = LITELLM_VERSION

    def install(self) -> None:
        exe = self.venv / "bin" / "litellm"
        if exe.exists() and _pip_version(self.venv / "bin" / "python", "litellm") == LITELLM_VERSION:
            return
        _run([sys.executable, "-m", "venv", str(self.venv)], "creating the LiteLLM venv")
        _run(
            [
                str(self.venv / "bin" / "python"),
                *("-m", "pip", "install", "-q", "--disable-pip-version-check"),
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            f"pip install litellm[proxy]=={LITELLM_VERSION}",
            timeout=1800,
        )

    def start(self) -> None:
        config = self.workdir / "litellm.yaml"
        models = []
        for name, prefix in (("bench-json", "json"), ("bench-sse", "sse")):
            params = {"model": f"openai/{name}", "api_base": f"{self.upstream}/{prefix}/v1"}
            params["api_key"] = h.UPSTREAM_KEY
            models.append({"model_name": name, "litellm_params": params})
        cfg = {
            "model_list": models,
            "litellm_settings": {"telemetry": False},
            "general_settings": {"master_key": LITELLM_MASTER_KEY},  # key auth, checked in memory
        }
        config.write_text(json.dumps(cfg, indent=2), encoding="utf-8")  # JSON is YAML
        argv = [str(self.venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--num_workers", str(self.workers)]
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the price list at start
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "NO_DOCS": "True",
        }
        self.proc = h.Proc(self.name, argv, env=env, cwd=self.workdir, unset=("DATABASE_URL",))
        h.wait_http(self.base_url + "/health/liveliness", 240, self.proc)

    def scenarios(self) -> dict[str, h.Scenario]:
        auth = {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}
        return {
            "json": h.Scenario(
                "json", "/v1/chat/completions", h.openai_body("bench-json", False), auth, expect=b"word19"
            ),
            "sse": h.Scenario(
                "sse", "/v1/chat/completions", h.openai_body("bench-sse", True), auth, True, b"[DONE]"
            ),
        }


class Portkey(Target):
    """Portkey's open-source gateway from npm in bench/.node (one Node process)."""

    name, label, workers = "portkey", f"Portkey gateway {PORTKEY_VERSION} (Node)", 1

    def __init__(self, upstream: str, workdir: Path) -> None:
        super().__init__(upstream, workdir)
        self.version = f"{PORTKEY_VERSION}, @hono/node-server {HONO_NODE_SERVER}"
        self.entry = NODE_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"

    def install(self) -> None:
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise Unavailable("node/npm are not installed")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        wanted = (BENCH / "competitors" / "portkey-package.json").read_text(encoding="utf-8")
        manifest = NODE_DIR / "package.json"
        hono = NODE_DIR / "node_modules" / "@hono" / "node-server" / "package.json"
        if (
            self.entry.exists()
            and manifest.exists()
            and manifest.read_text(encoding="utf-8") == wanted
            and hono.exists()
            and json.loads(hono.read_text())["version"] == HONO_NODE_SERVER
        ):
            return
        manifest.write_text(wanted, encoding="utf-8")
        _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], "npm install", cwd=NODE_DIR)

    def start(self) -> None:
        argv = ["node", str(self.entry), f"--port={self.port}", "--headless"]
        self.proc = h.Proc(self.name, argv, env={"NODE_ENV": "production"}, cwd=NODE_DIR)
        h.wait_http(self.base_url + "/", 60, self.proc)
        self.version += (
            f", node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}"
        )

    def scenarios(self) -> dict[str, h.Scenario]:
        def headers(prefix: str) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {h.UPSTREAM_KEY}",
                "x-portkey-provider": "openai",
                "x-portkey-custom-host": f"{self.upstream}/{prefix}/v1",
            }

        return {
            "json": h.Scenario(
                "json",
                "/v1/chat/completions",
                h.openai_body("bench-json", False),
                headers("json"),
                expect=b"word19",
            ),
            "sse": h.Scenario(
                "sse",
                "/v1/chat/completions",
                h.openai_body("bench-sse", True),
                headers("sse"),
                True,
                b"[DONE]",
            ),
        }


# ---------------------------------------------------------------- helpers


def psql(sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    argv = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", database, "-Atqc", sql]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))


def _run(argv: list[str], what: str, cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-6:]
        raise Unavailable(f"{what} failed: " + " | ".join(tail))


def _pip_version(python: Path, package: str, prefix: str = "") -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except OSError:
        return ""
    return prefix + done.stdout.strip() if done.returncode == 0 else ""
