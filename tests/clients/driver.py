"""One run of the agent CLI cells: each CLI against hubgate with a model on each upstream format.

Run inside a network namespace that has only loopback (``test_clients.py`` starts it as
``unshare -n sh -c 'ip link set lo up && exec python -m tests.clients.driver --out FILE'``), so the
fake upstreams, the gateways and the CLIs all live in it and the CLIs cannot reach their vendors.

It starts the four fake upstreams (OpenAI chat, Anthropic, Gemini, OpenAI Responses), one hubgate per
upstream (in this process, SQLite) whose one channel serves :data:`MODEL` as the fakes' scripted
``agent`` model (tests/fakes/agent.py), then runs every cell (client x upstream x prompt), a few at a
time, each CLI in a fresh HOME and working directory with a timeout, and writes one JSON result per
cell to ``--out``:

* ``plain``: a one-shot prompt; the fake echoes it (``Hello! You said: ... <nonce>``);
* ``tool``: ``[[run: cat token.txt]]``; the fake calls the CLI's own shell tool, the CLI runs it, and
  on the next turn the fake answers ``Done. The command printed: <the output>``, which must hold the
  random token written to ``token.txt``.

A cell passes when its CLI printed the expected answer and hubgate refused none of its requests (each
cell has its own key, so refusals are told apart). ``HUBGATE_CLIENTS_KEEP=1`` keeps the cells' HOME
and working directories (the CLIs' own logs and error reports) under ``$TMPDIR/hubgate-clients-*``.
Run by hand: ``unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -m tests.clients.driver
--out /tmp/cells.json --clients codex --upstreams gemini'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from hubgate.app import create_app
from hubgate.settings import parse_settings
from tests.clients import install
from tests.fakes.agent import AGENT_MODEL, FINAL
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.responses_upstream import FakeResponses

UPSTREAMS = ("openai", "anthropic", "gemini", "responses")
PROMPTS = ("plain", "tool")
MODEL = "hub-agent"
TIMEOUT_S = 90.0
PARALLEL = 4
ERROR_LINE = re.compile(r"error|invalid|refus|denied|not supported|failed|exception", re.IGNORECASE)


@dataclass
class Result:
    client: str
    version: str
    upstream: str
    prompt: str
    ok: bool
    seconds: float
    exit_code: int | None
    expected: list[str]
    error: str  # the lines of the CLI's output that say what went wrong ("" when ok)
    output: str  # the tail of stdout, then stderr


# ---------------------------------------------------------------------------------------------------------
# upstreams and gateways


class Refusals:
    """The gateway's error answers, per caller key: each cell has its own key, so a cell passes only
    when its client got its answer without hubgate refusing any of its requests (a client that
    retries in another shape after a 400 would otherwise hide the refusal)."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}

    async def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        if response.status < 400:
            return
        auth = request.headers.get("Authorization", "")
        key = (
            (auth[7:] if auth[:7].lower() == "bearer " else "")
            or request.headers.get("x-api-key")
            or request.headers.get("x-goog-api-key")
            or request.query.get("key", "")
        )
        body = response.body if isinstance(response, web.Response) else None
        text = body.decode(errors="replace") if isinstance(body, bytes) else ""
        self.by_key.setdefault(key, []).append(f"hubgate {response.status} {request.path}: {text[:400]}")


@contextlib.asynccontextmanager
async def gateways(root: Path, keys: list[str], refusals: Refusals) -> AsyncIterator[dict[str, str]]:
    """The four fakes and one hubgate per fake, each taking ``keys``; yields upstream name -> gateway URL."""
    async with FakeOpenAI() as chat, FakeAnthropic() as claude, FakeGemini() as gem, FakeResponses() as rsp:
        bases = {
            "openai": ("openai", chat.base_url, chat.api_key, {}),
            "anthropic": ("anthropic", claude.base_url, claude.api_key, {}),
            "gemini": ("gemini", gem.base_url, gem.api_key, {}),
            "responses": ("openai", rsp.base_url, rsp.api_key, {"api": "responses"}),
        }
        runners: list[web.AppRunner] = []
        urls: dict[str, str] = {}
        try:
            for name, (kind, base_url, api_key, extra) in bases.items():
                config: dict[str, Any] = {
                    "database_url": f"sqlite+aiosqlite:///{root / f'hubgate-{name}.db'}",
                    "channels": [
                        {"name": f"up-{name}", "type": kind, "base_url": base_url, "api_key": api_key,
                         "models": [MODEL], "model_map": {MODEL: AGENT_MODEL}, **extra}
                    ],
                    "keys": [{"name": f"cell-{i}", "key": key} for i, key in enumerate(keys)],
                    "pricing": {AGENT_MODEL: {"input": 1, "output": 2}},
                }  # fmt: skip
                app = create_app(parse_settings(config, env={}))
                app.on_response_prepare.append(refusals)
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                runners.append(runner)
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}"
            yield urls
        finally:
            for runner in reversed(runners):
                await runner.cleanup()


# ---------------------------------------------------------------------------------------------------------
# the clients: how each CLI is pointed at hubgate, in a fresh HOME


def base_env(home: Path) -> dict[str, str]:
    node = install.node()
    path = os.pathsep.join(p for p in (str(Path(node).parent) if node else "", "/usr/bin", "/bin") if p)
    tmp = home / "tmp"
    tmp.mkdir()
    return {"HOME": str(home), "PATH": path, "TMPDIR": str(tmp), "LANG": "C.UTF-8", "NO_COLOR": "1"}


def claude(exe: Path, url: str, key: str, home: Path, prompt: str) -> tuple[list[str], dict[str, str]]:
    env = base_env(home) | {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    # --dangerously-skip-permissions is refused as root; allowing the tools is the documented way.
    return [str(exe), "-p", prompt, "--allowedTools", "Bash", "Read", "--max-turns", "4"], env


def codex(exe: Path, url: str, key: str, home: Path, prompt: str) -> tuple[list[str], dict[str, str]]:
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "hubgate"\n'
        "[model_providers.hubgate]\n"
        'name = "hubgate"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "HUBGATE_API_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    env = base_env(home) | {"CODEX_HOME": str(codex_home), "HUBGATE_API_KEY": key}
    argv = [str(exe), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", prompt]
    return argv, env


def gemini(exe: Path, url: str, key: str, home: Path, prompt: str) -> tuple[list[str], dict[str, str]]:
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir()
    # `gateway` auth (picked when GOOGLE_GEMINI_BASE_URL is set) is refused by -p's auth check;
    # the API-key auth reads the same base URL.
    settings.write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},
                "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
            }
        )
    )
    env = base_env(home) | {
        "GEMINI_API_KEY": key,
        "GOOGLE_GEMINI_BASE_URL": url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_CLI_NO_RELAUNCH": "true",
    }
    return [str(exe), "-p", prompt, "-m", MODEL, "--yolo"], env


COMMANDS = {"claude": claude, "codex": codex, "gemini": gemini}


# ---------------------------------------------------------------------------------------------------------
# one cell


def prompt_for(kind: str, work: Path) -> tuple[str, list[str]]:
    """The prompt and the strings the CLI's stdout must show."""
    token = f"tok-{secrets.token_hex(8)}"
    if kind == "plain":
        return f"Say hello. nonce {token}", ["Hello! You said:", token]
    (work / "token.txt").write_text(token + "\n")
    return "Show me the token: [[run: cat token.txt]]", [FINAL, token]


def passed(stdout: str, expected: list[str]) -> bool:
    if expected[0] == FINAL:  # the token must come back inside the model's final answer
        at = stdout.find(FINAL)
        return at >= 0 and expected[1] in stdout[at:]
    return all(text in stdout for text in expected)


def error_lines(stdout: str, stderr: str) -> str:
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    picked = [line for line in lines if ERROR_LINE.search(line)] or lines[-3:]
    return "\n".join(dict.fromkeys(line[:400] for line in picked[-4:]))


@dataclass(frozen=True)
class Cell:
    client: str
    upstream: str
    prompt: str
    key: str


async def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int | None, str, str, bool]:
    """Run one CLI with no stdin, bounded by :data:`TIMEOUT_S`: (exit code, stdout, stderr, timed out)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out


async def run_cell(cell: Cell, exe: Path, url: str, root: Path, refusals: Refusals) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"{cell.client}-{cell.upstream}-{cell.prompt}-", dir=root))
    work = home / "work"
    work.mkdir()
    prompt, expected = prompt_for(cell.prompt, work)
    argv, env = COMMANDS[cell.client](exe, url, cell.key, home, prompt)
    started = time.monotonic()
    code, stdout, stderr, timed_out = await run_cli(argv, env, work)
    refused = refusals.by_key.get(cell.key, [])
    ok = not timed_out and not refused and passed(stdout, expected)
    problems = [f"timed out after {TIMEOUT_S:.0f} s"] if timed_out else []
    problems += refused[:3]
    if not ok and not passed(stdout, expected):
        problems.append(error_lines(stdout, stderr))
    return Result(
        client=cell.client,
        version=install.versions()[cell.client],
        upstream=cell.upstream,
        prompt=cell.prompt,
        ok=ok,
        seconds=round(time.monotonic() - started, 1),
        exit_code=code,
        expected=expected,
        error="" if ok else "\n".join(problems).replace(str(root), "<tmp>"),
        output=(stdout[-1500:] + "\n--- stderr ---\n" + stderr[-1500:]).strip().replace(str(root), "<tmp>"),
    )


async def run(clients: list[str], upstreams: list[str], prompts: list[str], parallel: int) -> list[Result]:
    bins = install.installed()
    if bins is None:
        raise SystemExit("the agent CLIs are not installed: run `make clients`")
    cells = [
        Cell(c, u, p, f"sk-cell-{c}-{u}-{p}-{secrets.token_hex(8)}")
        for c in clients
        for u in upstreams
        for p in prompts
    ]
    root = Path(tempfile.mkdtemp(prefix="hubgate-clients-"))
    gate = asyncio.Semaphore(parallel)
    refusals = Refusals()
    try:
        async with gateways(root, [cell.key for cell in cells], refusals) as urls:

            async def one(cell: Cell) -> Result:
                async with gate:
                    return await run_cell(cell, bins[cell.client], urls[cell.upstream], root, refusals)

            return list(await asyncio.gather(*(one(cell) for cell in cells)))
    finally:
        if not os.environ.get("HUBGATE_CLIENTS_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    parser.add_argument("--clients", default=",".join(COMMANDS))
    parser.add_argument("--upstreams", default=",".join(UPSTREAMS))
    parser.add_argument("--prompts", default=",".join(PROMPTS))
    parser.add_argument("--parallel", type=int, default=PARALLEL)
    args = parser.parse_args()
    started = time.monotonic()
    results = asyncio.run(
        run(args.clients.split(","), args.upstreams.split(","), args.prompts.split(","), args.parallel)
    )
    Path(args.out).write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    passed_n = sum(r.ok for r in results)
    print(f"{passed_n} of {len(results)} cells passed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
