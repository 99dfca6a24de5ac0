"""The pinned agent CLIs (package.json / package-lock.json here), installed once into a cache.

``npm ci`` runs into ``~/.cache/hubgate/clients/<hash of the lockfile>`` (``$XDG_CACHE_HOME`` is
honoured) and is reused while the lockfile is unchanged; a changed lockfile installs beside it.
``python -m tests.clients.install`` (``make clients``, part of ``make test``) installs when needed.
Under ``CI=true`` a missing node/npm or a failed install exits non-zero; elsewhere it prints why the
client cells will be skipped and exits 0. Bump a client with ``npm install --package-lock-only
<package>@<version>`` here, then run ``make test`` and ``make clients-table``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "package-lock.json"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The CLIs the cells run: name used in the results -> (npm package, executable in node_modules/.bin)
CLIENTS = {
    "claude": ("@anthropic-ai/claude-code", "claude"),
    "codex": ("@openai/codex", "codex"),
    "gemini": ("@google/gemini-cli", "gemini"),
}
NPM_TIMEOUT_S = 900
STALE_AFTER_S = 14 * 24 * 3600


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def lock_hash() -> str:
    digest = hashlib.sha256((HERE / "package.json").read_bytes() + LOCK.read_bytes())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hubgate" / "clients"


def install_dir() -> Path:
    return cache_root() / lock_hash()


def versions() -> dict[str, str]:
    """The pinned version of each client, from the lockfile."""
    packages = json.loads(LOCK.read_text())["packages"]
    return {name: packages[f"node_modules/{pkg}"]["version"] for name, (pkg, _) in CLIENTS.items()}


def installed() -> dict[str, Path] | None:
    """Each client's executable when the current lockfile is installed, else None."""
    root = install_dir()
    if not (root / ".complete").exists():
        return None
    bins = {name: root / "node_modules" / ".bin" / exe for name, (_, exe) in CLIENTS.items()}
    return bins if all(p.exists() for p in bins.values()) else None


def node() -> str | None:
    return shutil.which("node")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install() -> Path:
    """Install the lockfile into the cache unless it is there already; returns the install dir."""
    target = install_dir()
    with _locked(cache_root()):
        if installed() is not None:
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_root()))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(HERE / name, staging / name)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=staging,
                check=True,
                timeout=NPM_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            (staging / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for old in cache_root().iterdir():  # other lockfiles' installs (~1 GB each) unused for a while
            stamp = old / ".complete"
            if old != target and not old.name.startswith(".") and _age_s(stamp) > STALE_AFTER_S:
                shutil.rmtree(old, ignore_errors=True)
    return target


def main() -> int:
    if installed() is not None:
        (install_dir() / ".complete").touch()  # in use: kept by other lockfiles' installs
        print(f"agent CLIs {versions()} already installed in {install_dir()}")
        return 0
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not found: the agent CLI cells (tests/clients) cannot run"
        print(("error: " if IN_CI else "") + reason + ("" if IN_CI else "; they will be skipped"))
        return 1 if IN_CI else 0
    started = time.monotonic()
    print(f"installing the agent CLIs {versions()} into {install_dir()} (npm ci, cached)")
    try:
        install()
    except (subprocess.SubprocessError, OSError) as exc:
        print(("error: " if IN_CI else "") + f"npm ci of tests/clients failed: {exc}")
        return 1 if IN_CI else 0
    print(f"installed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
