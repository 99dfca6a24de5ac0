"""Exact offline token counts with tiktoken and the rank files vendored in `encodings/`.

Used when an upstream reports no usage: hubgate then bills what it can count itself.
tiktoken never downloads anything here: the `Encoding` is built from the vendored
files (see `encodings/README.md`), whose hashes are checked on load. OpenAI models get
their own encoding; every other model is estimated with o200k_base.

An encoding is loaded once per process, lazily, and the async API loads it in a
worker thread so the event loop never waits on the fraction of a second it takes.
tiktoken itself is imported with the first encoding (~1.3 MB of RSS a worker spares
while every upstream reports its usage).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import lzma
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from hubgate.metering.prices import base_name

if TYPE_CHECKING:
    import tiktoken

O200K_BASE: Final = "o200k_base"
CL100K_BASE: Final = "cl100k_base"
DEFAULT_ENCODING: Final = O200K_BASE
INLINE_LIMIT: Final = 2048  # characters; shorter texts are encoded on the calling thread

_ENCODINGS = Path(__file__).with_name("encodings")


@dataclass(frozen=True, slots=True)
class _Spec:
    file: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


# Patterns and special tokens as tiktoken_ext/openai_public.py defines them (0.14.0).
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

SPECS: Final[dict[str, _Spec]] = {
    O200K_BASE: _Spec(
        file="o200k_base.tiktoken.xz",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PATTERN,
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    CL100K_BASE: _Spec(
        file="cl100k_base.tiktoken.xz",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PATTERN,
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}

# OpenAI models still on cl100k_base; every other OpenAI model (gpt-4o, gpt-4.1,
# gpt-4.5, gpt-5*, o-series) and every non-OpenAI model uses o200k_base.
_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-")
_CL100K_NAMES = frozenset({"gpt-4"})
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "chatgpt-4o")


class EncodingUnavailable(RuntimeError):
    """A vendored rank file is missing or does not match its pinned hash."""


def encoding_for(model: str | None) -> str:
    """The name of the encoding that counts `model`'s tokens (o200k_base when unsure)."""
    name = base_name(model) if model else ""
    if name.startswith(_O200K_PREFIXES):
        return O200K_BASE
    if name in _CL100K_NAMES or name.startswith(_CL100K_PREFIXES):
        return CL100K_BASE
    return DEFAULT_ENCODING


def load_ranks(name: str) -> dict[bytes, int]:
    """Read, verify and parse a vendored rank file (blocking: ~0.3 s for o200k_base)."""
    spec = SPECS[name]
    path = _ENCODINGS / spec.file
    try:
        raw = lzma.decompress(path.read_bytes())
    except (OSError, lzma.LZMAError) as exc:
        raise EncodingUnavailable(f"cannot read {path}: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise EncodingUnavailable(f"{path} has sha256 {digest}, expected {spec.sha256}")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }


_lock = threading.Lock()
_loaded: dict[str, tiktoken.Encoding] = {}  # process-wide and read-only once filled, like tiktoken's own


def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The named encoding, loaded on first use (blocking; call off the event loop)."""
    encoding = _loaded.get(name)
    if encoding is not None:
        return encoding
    with _lock:
        encoding = _loaded.get(name)
        if encoding is None:
            import tiktoken

            spec = SPECS[name]
            encoding = tiktoken.Encoding(
                name,
                pat_str=spec.pat_str,
                mergeable_ranks=load_ranks(name),
                special_tokens=dict(spec.special_tokens),
            )
            _loaded[name] = encoding
    return encoding


def count_tokens_sync(text: str, model: str | None = None) -> int:
    """Tokens in `text` for `model`. Special-token strings count as plain text."""
    if not text:
        return 0
    return len(get_encoding(encoding_for(model)).encode_ordinary(text))


async def count_tokens(text: str, model: str | None = None) -> int:
    """`count_tokens_sync` without blocking the event loop: long texts and the first
    load of an encoding run in a worker thread."""
    if not text:
        return 0
    if len(text) < INLINE_LIMIT and encoding_for(model) in _loaded:
        return count_tokens_sync(text, model)
    return await asyncio.to_thread(count_tokens_sync, text, model)


async def preload(*names: str) -> None:
    """Load encodings ahead of the first estimate (e.g. in the app's startup)."""
    for name in names or (DEFAULT_ENCODING,):
        await asyncio.to_thread(get_encoding, name)
