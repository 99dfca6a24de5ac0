"""What renaming answers to the caller's model name costs, in process (formats/names.py).

Times, on the nginx upstream's own bodies, the rename of one OpenAI stream (24 chunks)
against the byte work the OpenAI fast path already does on each chunk, the first rename
of each kind of event (no remembered head), and a JSON answer's rename against parsing
it. Best of several repeats; the ratios matter more than the microseconds on a shared
machine.

  .venv/bin/python bench/names_cost.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from pathlib import Path

import orjson

from hubgate.formats import openai as oa
from hubgate.formats.names import answer_rename, stream_rename
from hubgate.formats.registry import WireFormat

BODIES = Path(__file__).resolve().parent / "upstream" / "bodies"


def _events(name: str) -> list[bytes]:
    raw = (BODIES / name).read_bytes().replace(b"\r\n", b"\n")
    return [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]


def _best(fn: Callable[[], object], number: int) -> float:
    """Microseconds per call, best of 5."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    chunks = _events("openai_chat.sse")

    def fast_path_work() -> None:
        for e in chunks:
            oa.plausible_event(e)
            oa.chunk_usage(e)
            oa.drop_null_usage(e)

    def renamed_stream() -> None:
        rename = stream_rename(WireFormat.OPENAI_CHAT, "bench-sse-pub")
        for e in chunks:
            rename.apply(e)

    work, renaming = _best(fast_path_work, 2000), _best(renamed_stream, 2000)
    print(f"OpenAI stream, {len(chunks)} chunks: fast-path byte work {work:.1f} us, rename {renaming:.1f} us"
          f" ({renaming / work:.0%} of it)")  # fmt: skip
    firsts = {
        "OpenAI chunk, model after the id": (WireFormat.OPENAI_CHAT, chunks[1]),
        "Gemini chunk, modelVersion last": (WireFormat.GEMINI, _events("gemini.sse")[1]),
        "Anthropic message_start, nested": (WireFormat.ANTHROPIC, _events("anthropic.sse")[0]),
        "Anthropic delta, no model": (WireFormat.ANTHROPIC, _events("anthropic.sse")[2]),
    }
    find = _best(lambda: chunks[1].find(b'"usage"'), 100_000)
    print(f"reference: one bytes.find on a chunk {find:.2f} us")
    for label, (fmt, event) in firsts.items():
        rename = stream_rename(fmt, "pub").rename  # the stateless rename: no remembered head
        print(f"first rename, {label}: {_best(lambda r=rename, e=event: r.apply(e), 100_000):.2f} us")
    answer = (BODIES / "openai_chat.json").read_bytes()
    rename = answer_rename(WireFormat.OPENAI_CHAT, "bench-json-pub")
    parse, renamed = _best(lambda: orjson.loads(answer), 50_000), _best(lambda: rename.apply(answer), 50_000)
    print(f"OpenAI JSON answer ({len(answer)} bytes): orjson.loads {parse:.2f} us, rename {renamed:.2f} us")


if __name__ == "__main__":
    main()
