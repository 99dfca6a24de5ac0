"""The real agent CLIs against hubgate: Claude Code, Codex CLI and Gemini CLI (pinned in
package-lock.json here), each with a model on an OpenAI Chat, an Anthropic, a Gemini and an OpenAI
Responses channel (fake upstreams), each with a one-shot prompt and a prompt that makes the model call
the client's own shell tool: 12 cells, two prompts each.

``driver.py`` runs them all at once, in a network namespace with only loopback (``unshare -n``), and
writes ``test-artifacts/clients-results.json``; each test here asserts on one cell's result. A cell
passes when the CLI printed the fake model's answer and hubgate refused none of its requests.
The README's compatibility table is rendered from the committed ``results.json`` (``table.py``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients import install, table
from tests.clients.driver import PROMPTS, UPSTREAMS

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DRIVER_TIMEOUT_S = 420
Results = dict[tuple[str, str, str], dict[str, Any]]

# Cells that fail on a known gap in hubgate, each with the reason (xfail, not strict: once one passes,
# `test_results_match_the_committed_table` asks for `make clients-table`). None today: all 24 pass.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


def _cell(client: str, upstream: str, prompt: str) -> Any:
    gap = KNOWN_GAPS.get((client, upstream, prompt))
    marks = [pytest.mark.xfail(reason=gap, strict=False)] if gap else []
    return pytest.param(client, upstream, prompt, id=f"{client}-{upstream}-{prompt}", marks=marks)


CELLS = [_cell(c, u, p) for c in install.CLIENTS for u in UPSTREAMS for p in PROMPTS]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the agent CLI cells must run under CI: {reason}")
    pytest.skip(reason)


def _preflight() -> str:
    """The path of `ip`, once everything the cells need is there."""
    if install.installed() is None:
        _unavailable("the agent CLIs are not installed (`make clients` installs them)")
    if install.node() is None:
        _unavailable("node is not on PATH")
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.access(p, os.X_OK)), None)
    if os.geteuid() != 0 or shutil.which("unshare") is None or ip is None:
        _unavailable("the cells need root, unshare and ip (iproute2) for a loopback-only network namespace")
    assert ip is not None
    return ip


@pytest.fixture(scope="module")
def results() -> Results:
    """Run every cell once (in a namespace with only loopback); (client, upstream, prompt) -> result.

    Once per run, not per pytest-xdist worker: the first worker here runs the driver under a file
    lock and stamps the results with the run's id; a worker holding cells of the same run reads them.
    """
    ip = _preflight()
    out = table.LATEST
    out.parent.mkdir(parents=True, exist_ok=True)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # set by pytest-xdist, the same in every worker
    stamp = out.with_name(out.name + ".run")
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if run is None or not out.exists() or not stamp.exists() or stamp.read_text() != run:
            stamp.unlink(missing_ok=True)
            _drive(ip, out)
            if run is not None:
                stamp.write_text(run)
        return {(r["client"], r["upstream"], r["prompt"]): r for r in table.load(out)}


def _drive(ip: str, out: Path) -> None:
    """The driver, run once, writing every cell's result to `out`."""
    out.unlink(missing_ok=True)
    script = '"$0" link set lo up && exec "$1" -m tests.clients.driver --out "$2"'
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script, ip, sys.executable, str(out)],
        cwd=table.REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
    )
    if done.returncode != 0 or not out.exists():
        pytest.fail(f"the client driver failed ({done.returncode}):\n{done.stderr[-3000:]}")


@pytest.mark.parametrize(("client", "upstream", "prompt"), CELLS)
def test_cell(results: Results, client: str, upstream: str, prompt: str) -> None:
    result = results[(client, upstream, prompt)]
    assert result["ok"], (
        f"{client} {result['version']} on the {upstream} channel, {prompt} prompt "
        f"(exit {result['exit_code']}, {result['seconds']} s), expected {result['expected']}:\n"
        f"{result['error']}\n--- output ---\n{result['output']}"
    )


def _outcomes(cells: list[dict[str, Any]]) -> dict[tuple[str, ...], bool]:
    return {(c["client"], c["version"], c["upstream"], c["prompt"]): c["ok"] for c in cells}


def test_results_match_the_committed_table(results: Results) -> None:
    """The README's table says what this run found: same versions, same cells passing."""
    live = _outcomes(table.summary([*results.values()]))
    assert live == _outcomes(table.load(table.COMMITTED)), (
        "the client cells changed: run `make clients-table` and commit the result"
    )


def test_readme_table_is_generated_from_the_committed_results() -> None:
    readme = table.README.read_text()
    assert table.readme_table(readme) == table.render(table.load(table.COMMITTED)), (
        "README's client table is out of date: run `make clients-table`"
    )


def test_summary_and_render() -> None:
    run = [
        {"client": "codex", "version": "9.9", "upstream": "gemini", "prompt": "tool", "ok": False,
         "error": "hubgate 400 /v1/responses: refused\nmore"},
        {"client": "codex", "version": "9.9", "upstream": "gemini", "prompt": "plain", "ok": True,
         "error": ""},
    ]  # fmt: skip
    cells = table.summary(run)
    assert [c["prompt"] for c in cells] == ["plain", "tool"]
    assert cells[1]["error"] == "hubgate 400 /v1/responses: refused"
    rendered = table.render(cells)
    assert "| Codex CLI 9.9 | not run | not run | plain ✅, tool use ❌ | not run |" in rendered
    assert "- ❌ Codex CLI on Gemini (tool use): `hubgate 400 /v1/responses: refused`" in rendered
    readme = table.with_table(f"a\n{table.BEGIN}\nold\n{table.END}\nb", rendered)
    assert table.readme_table(readme) == rendered


def test_install_dir_follows_the_lockfile() -> None:
    assert install.install_dir().name == install.lock_hash()
    assert set(install.versions()) == set(install.CLIENTS)
    assert json.loads((Path(install.HERE) / "package.json").read_text())["dependencies"] == {
        pkg: install.versions()[name] for name, (pkg, _) in install.CLIENTS.items()
    }
