"""The offline tokenizer: exact counts, the vendored files, no network, off-loop use."""

from __future__ import annotations

import asyncio
import lzma
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
from tiktoken_ext import openai_public  # type: ignore[import-untyped]

from hubgate.metering import tokenizer
from hubgate.metering.tokenizer import (
    CL100K_BASE,
    O200K_BASE,
    EncodingUnavailable,
    count_tokens,
    count_tokens_sync,
    encoding_for,
    get_encoding,
)


def test_hello_world() -> None:
    assert get_encoding(O200K_BASE).encode_ordinary("hello world") == [24912, 2375]
    assert get_encoding(CL100K_BASE).encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens_sync("hello world") == 2


@pytest.mark.parametrize(
    ("text", "cl100k", "o200k"),
    [
        # the examples in OpenAI's cookbook "How to count tokens with tiktoken"
        ("tiktoken is great!", 6, 6),
        ("antidisestablishmentarianism", 6, 6),
        ("2 + 2 = 4", 7, 7),
        ("お誕生日おめでとう", 9, 8),
        ("", 0, 0),
    ],
)
def test_known_counts(text: str, cl100k: int, o200k: int) -> None:
    assert count_tokens_sync(text, "gpt-4") == cl100k
    assert count_tokens_sync(text, "gpt-4o") == o200k


def test_cookbook_token_ids() -> None:
    assert get_encoding(CL100K_BASE).encode_ordinary("antidisestablishmentarianism") == [
        519,
        85342,
        34500,
        479,
        8997,
        2191,
    ]


def test_special_token_strings_count_as_text() -> None:
    # A caller's text may contain "<|endoftext|>"; it is text, never a control token.
    assert count_tokens_sync("<|endoftext|>") > 1


def test_round_trip_on_mixed_text() -> None:
    text = "Grüße 👋 — naïve café; 中文 and code: `def f(x): return x**2`\n\n\t"
    for name in (O200K_BASE, CL100K_BASE):
        encoding = get_encoding(name)
        assert encoding.decode(encoding.encode_ordinary(text)) == text


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", O200K_BASE),
        ("gpt-4o-mini-2024-07-18", O200K_BASE),
        ("openai/gpt-4.1-nano", O200K_BASE),
        ("gpt-5", O200K_BASE),
        ("o3-mini", O200K_BASE),
        ("o1", O200K_BASE),
        ("gpt-4", CL100K_BASE),
        ("gpt-4-0613", CL100K_BASE),
        ("gpt-4-turbo", CL100K_BASE),
        ("gpt-3.5-turbo", CL100K_BASE),
        ("text-embedding-3-small", CL100K_BASE),
        ("claude-sonnet-4-5", O200K_BASE),
        ("gemini-2.5-pro", O200K_BASE),
        (None, O200K_BASE),
    ],
)
def test_encoding_for(model: str | None, encoding: str) -> None:
    assert encoding_for(model) == encoding


def _tiktoken_definition(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """tiktoken's own definition of `name`, with the rank download replaced by ours."""
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: tokenizer.load_ranks(name))
    definition: dict[str, Any] = getattr(openai_public, name)()
    return definition


@pytest.mark.parametrize("name", [O200K_BASE, CL100K_BASE])
def test_matches_tiktokens_own_definition(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = _tiktoken_definition(name, monkeypatch)
    spec = tokenizer.SPECS[name]
    assert spec.pat_str == definition["pat_str"]
    assert spec.special_tokens == definition["special_tokens"]
    ours = get_encoding(name)
    assert ours.n_vocab == tiktoken.Encoding(**definition).n_vocab


def test_vendored_files_hash_to_tiktokens_pinned_hashes() -> None:
    source = Path(openai_public.__file__).read_text()
    for name, spec in tokenizer.SPECS.items():
        assert spec.sha256 in source  # the same hash tiktoken checks for OpenAI's download
        assert len(tokenizer.load_ranks(name)) > 100_000


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the tokenizer tried to use the network")


def test_loads_with_no_network_and_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(cache))
    for name in ("connect", "connect_ex", "sendto", "sendall"):
        monkeypatch.setattr(socket.socket, name, _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    monkeypatch.setattr(tiktoken.load, "read_file", _refuse)
    monkeypatch.setattr(tokenizer, "_loaded", {})  # force a fresh load

    assert count_tokens_sync("hello world") == 2
    assert count_tokens_sync("hello world", "gpt-4") == 2
    assert list(cache.iterdir()) == []


def test_a_corrupt_rank_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "o200k_base.tiktoken.xz").write_bytes(lzma.compress(b"aGk= 0\n"))
    monkeypatch.setattr(tokenizer, "_ENCODINGS", tmp_path)
    monkeypatch.setattr(tokenizer, "_loaded", {})
    with pytest.raises(EncodingUnavailable, match="sha256"):
        get_encoding(O200K_BASE)
    with pytest.raises(EncodingUnavailable, match="cannot read"):
        get_encoding(CL100K_BASE)


def _spy_to_thread(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., object]]:
    calls: list[Callable[..., object]] = []
    real = asyncio.to_thread

    async def spy(func: Callable[..., object], /, *args: object, **kwargs: object) -> object:
        calls.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    return calls


async def test_async_count_loads_and_encodes_long_texts_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_to_thread(monkeypatch)
    monkeypatch.setattr(tokenizer, "_loaded", {})
    assert await count_tokens("hello world") == 2  # first use: the load runs in a thread
    assert len(calls) == 1
    assert await count_tokens("hello world") == 2  # loaded and short: inline
    assert len(calls) == 1
    long_text = "hello world " * 1000
    assert await count_tokens(long_text) == count_tokens_sync(long_text)
    assert len(calls) == 2
    assert await count_tokens("") == 0


async def test_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizer, "_loaded", {})
    await tokenizer.preload()
    assert set(tokenizer._loaded) == {O200K_BASE}
    await tokenizer.preload(CL100K_BASE)
    assert set(tokenizer._loaded) == {O200K_BASE, CL100K_BASE}
