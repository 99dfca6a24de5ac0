"""The machine bench/run.py measures on: where the CPU and memory of a run go (a target's
process tree: CPU seconds, peak RSS per process; the whole machine, kernel threads, this
process's finished children: wrk), the system tools it needs, and what the machine is."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import harness as h
import psutil
from upstream.nginx import nginx_binary


class TreeMonitor:
    """CPU seconds and peak RSS of a process and all its descendants.

    `cpu()` sums utime+stime over the live tree; a background thread samples RSS
    per process every `interval` seconds and keeps each one's peak.
    """

    def __init__(self, root_pid: int, interval: float = 0.25) -> None:
        self.root = psutil.Process(root_pid)
        self.interval = interval
        self.peak_rss: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu(self) -> float:
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample(self) -> None:
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss = p.memory_info().rss
                total += rss
                if rss > self.peak_rss.get(p.pid, 0):
                    self.peak_rss[p.pid] = rss
                if p.pid not in self.names:
                    self.names[p.pid] = " ".join(p.cmdline())[:120] or p.name()
        self.peak_total = max(self.peak_total, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def close(self) -> dict[str, Any]:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=2)
        per = sorted(self.peak_rss.items(), key=lambda kv: -kv[1])
        return {
            "peak_total_mb": round(self.peak_total / 2**20, 1),
            "peak_max_process_mb": round(per[0][1] / 2**20, 1) if per else None,
            "processes": [
                {"pid": pid, "peak_rss_mb": round(rss / 2**20, 1), "cmd": self.names.get(pid, "")}
                for pid, rss in per
            ],
        }


def busy_seconds() -> float:
    """CPU seconds all processes of the machine ran so far (user + system, all cores).

    Interrupt and softirq time is left out: the kernel charges it to no process,
    and at 100,000 loopback requests a second it is a large share on its own."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system


def pids_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            c = psutil.Process(pid).cpu_times()
            total += c.user + c.system
    return total


def kernel_threads_cpu() -> float:
    """CPU seconds of kernel threads (ksoftirqd, kworker: loopback traffic lands there)."""
    total = 0.0
    for p in psutil.process_iter(["ppid"]):
        if p.info["ppid"] == 2 or p.pid == 2:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                c = p.cpu_times()
                total += c.user + c.system
    return total


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the wrk runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ensure_system_tools() -> None:
    """nginx and wrk from Debian's packages when missing (root only)."""
    missing = [pkg for pkg, ok in (("nginx-light", nginx_binary()), ("wrk", h.wrk_binary())) if not ok]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)})")
    print(f"installing {', '.join(missing)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def nginx_version() -> str:
    done = subprocess.run([nginx_binary() or "nginx", "-v"], capture_output=True, text=True)
    return done.stderr.strip().removeprefix("nginx version: ")


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run([h.wrk_binary() or "wrk", "-v"], capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": nginx_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
    }
