"""What a held request costs the hold code alone, in instructions, outside the server:
the path bench/instr_ab.py measures inside two `hubgate serve` workers (20 minutes, a
2-3% spread between windows), in one process that valgrind counts exactly (a minute,
the same count every run).

Per request, on one event loop, as the relay and the usage writer run them:
  P  a plain key on a priced model: nothing to size or hold; charged; flushed in batches
     of 100 (Billing.settle), as the usage writer does;
  L  a limited key (budget, account balance, holds in leases): sized from the bench's
     chat body (relay/holds.place), held (Billing.place), charged and settled
     (Billing.charge), flushed (Billing.settle, LeaseHolds.flushed).
Each is run with --requests and with none, under `valgrind --tool=callgrind` with
PYTHONHASHSEED=0; the difference over the requests is its count per request. L - P is
what holds add; bench/instr_ab.py's P is about 1.1 M instructions a request.

  .venv/bin/python bench/holds_instr.py                       # the work tree
  .venv/bin/python bench/holds_instr.py --ref 00783c6 --ref HEAD   # commits, side by side

Also prints the prompt bound's cost on an agent-sized body (82 kB: a system prompt,
tools, 200 turns) by the walk and by the byte scan (metering/hold.prompt_bound), in
microseconds (timeit, best of 5). Needs valgrind (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

BODY = {
    "model": "bench-json",
    "messages": [{"role": "user", "content": "Say twenty words, please."}],
    "max_tokens": 64,
}


def lifecycle(requests: int, variant: str) -> None:
    """The measured loop (run in a child, under callgrind)."""
    from datetime import UTC, datetime
    from decimal import Decimal
    from types import SimpleNamespace

    from hubgate.access.billing import Billing

    try:
        from hubgate.access.account_cache import AccountCache
    except ImportError:  # commits before it had its own module
        from hubgate.access.billing import AccountCache  # type: ignore[attr-defined,no-redef]
    from hubgate.access.leases import LeaseHolds
    from hubgate.formats.registry import WireFormat
    from hubgate.metering.price import Price
    from hubgate.providers.base import Endpoint
    from hubgate.relay import holds
    from hubgate.relay.call import Call
    from hubgate.routing.channels import Route
    from hubgate.storage.accounts import AccountRecord
    from hubgate.storage.keys import KeyRecord
    from hubgate.storage.usage import UsageRow

    class Store:  # a lease source that always grants: the leases' own statements are not measured
        async def take(self, subject: object, want: int, need: int, ttl_s: float) -> int:
            return 10**12

        async def give_back(self, amounts: object) -> None:
            return None

    limited = variant == "L"
    key = KeyRecord(
        id=1, name="k", key_hash="h", key_prefix="p", account="bench" if limited else None, models=None,
        budget_micros=10**12 if limited else None, spent_micros=0, rpm=None, tpm=None, expires_at=None,
        revoked_at=None, source="bench", created_at=datetime.now(UTC), account_id=5 if limited else None,
    )  # fmt: skip
    account = AccountRecord(
        id=5 if limited else 1,
        name="a",
        group="default",
        limited=limited,
        balance_micros=10**12,
        disabled=False,
    )
    price = Price(input=Decimal("0.15"), output=Decimal("0.60"))
    raw = json.dumps(BODY).encode()
    route = Route("bench-json", (SimpleNamespace(upstream_model=lambda m: m),))  # type: ignore[arg-type]

    async def run() -> None:
        billing = Billing(
            AccountCache(None),  # type: ignore[arg-type]
            default_account_id=1,
            prices={"bench-json": price},
            groups={"default": Decimal(1)},
            holds=LeaseHolds(Store(), 10**9, 900.0),  # type: ignore[arg-type]
        )
        gw = SimpleNamespace(billing=billing, settings=SimpleNamespace(video_task_timeout_s=600))
        call_raw = {"raw": raw} if "raw" in Call.__dataclass_fields__ else {}  # older commits: no raw
        batch = []
        for i in range(requests + 100):  # the first 100 outside the count: warm caches and leases
            row = UsageRow(
                request_id=f"{i:024x}", endpoint="chat", status=200, stream=False, key_id=key.id,
                model="bench-json", upstream_model="bench-json", prompt_tokens=13, completion_tokens=40,
            )  # fmt: skip
            call = Call(WireFormat.OPENAI_CHAT, Endpoint.CHAT, dict(BODY), "bench-json", False, **call_raw)
            await holds.place(gw, call, route, key, account, row)  # type: ignore[arg-type]
            billing.charge(row, key, account)
            batch.append(row)
            if len(batch) == 100:
                billing.settle(batch)
                batch = []

    asyncio.run(run())


def instructions(src: Path | None, variant: str, requests: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    done = subprocess.run([*argv, "--child", variant, str(requests)], env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_request(src: Path | None, variant: str, requests: int) -> float:
    return (instructions(src, variant, requests) - instructions(src, variant, 0)) / requests


def agent_body() -> dict[str, object]:
    rnd = random.Random(1)
    words = ["alpha", "beta", "def", "return", "self", "the", "of", "import", "class", "path", "x"]

    def text(n: int) -> str:
        return " ".join(rnd.choice(words) for _ in range(n))

    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": text(60)}]}
        for i in range(200)
    ]
    schema = {"type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}}}
    tools = [{"name": f"tool{i}", "description": text(30), "input_schema": schema} for i in range(20)]
    system = [{"type": "text", "text": "You are a coding agent. " * 200}]
    return {
        "model": "m",
        "max_tokens": 32000,
        "system": system,
        "messages": turns,
        "tools": tools,
        "stream": True,
    }


def sizing_us() -> dict[str, float]:
    from hubgate.metering import hold

    body = agent_body()
    raw = json.dumps(body).encode()

    def best(fn: object) -> float:
        return min(timeit.repeat(fn, number=20, repeat=5)) / 20 * 1e6  # type: ignore[arg-type]

    return {
        "bytes": len(raw),
        "walk_us": best(lambda: hold.input_bound(body)),
        "scan_us": best(lambda: hold.prompt_bound(body, raw)),
    }


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        lifecycle(int(sys.argv[3]), sys.argv[2])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", action="append", help="a commit to measure (repeatable); default: the work tree")
    p.add_argument("--requests", type=int, default=4000)
    args = p.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    import harness as h

    work = Path(tempfile.mkdtemp(prefix="hubgate-holds-instr-"))
    try:
        targets: list[tuple[str, Path | None]] = []
        for ref in args.ref or []:
            commit = h.resolve_ref(ref)
            dest = work / commit[:12]
            dest.mkdir()
            targets.append((f"{ref} ({commit[:12]})", h.snapshot_src(commit, dest)))
        if not targets:
            targets.append(("work tree", None))
        print(f"instructions per request, {args.requests} requests (P: plain key; L: limited, held)")
        for name, src in targets:
            p_count = per_request(src, "P", args.requests)
            l_count = per_request(src, "L", args.requests)
            print(f"  {name}: P {p_count:,.0f}  L {l_count:,.0f}  L - P {l_count - p_count:,.0f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    s = sizing_us()
    print(
        f"prompt bound of an agent body ({s['bytes']:,.0f} bytes): walk {s['walk_us']:.0f} us, "
        f"byte scan {s['scan_us']:.0f} us (this tree)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
