"""Render bench/upstream/nginx.conf.tmpl into a temporary prefix and run nginx in
the foreground (`daemon off`) as a child process bound to 127.0.0.1.

Standard library only: bench/smoke.py imports it from the project's venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.tmpl"
BODIES = HERE / "bodies"
PLACEHOLDERS = {
    "OPENAI_JSON": "openai_chat.json",
    "OPENAI_SSE": "openai_chat.sse",
    "ANTHROPIC_JSON": "anthropic.json",
    "ANTHROPIC_SSE": "anthropic.sse",
    "GEMINI_JSON": "gemini.json",
    "GEMINI_SSE": "gemini.sse",
}


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def render(port: int, prefix: Path, workers: int) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    values = {"PORT": str(port), "PREFIX": str(prefix), "WORKERS": str(workers), "BODIES": str(BODIES)}
    values.update(PLACEHOLDERS)
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    if os.geteuid() == 0:
        # As root nginx's workers drop to `nobody`, who cannot read the bodies inside a
        # private checkout (a 0700 temporary folder, as CI's clone may be): keep root.
        text = "user root;\n" + text
    return text


class Nginx:
    """nginx with a throwaway prefix; `start()` returns the Popen, `stop()` ends it."""

    def __init__(self, port: int, workers: int = 1) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
        self.binary = binary
        self.port = port
        self.workers = workers
        self.prefix = Path(tempfile.mkdtemp(prefix="hubgate-bench-nginx-"))
        self.conf = self.prefix / "nginx.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.conf.write_text(render(self.port, self.prefix, self.workers), encoding="utf-8")
        check = subprocess.run(
            [self.binary, "-t", "-q", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx config test failed: {check.stderr.strip()}")
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.prefix / "stderr.log", "wb"),  # noqa: SIM115 - lives as long as nginx
        )
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)
