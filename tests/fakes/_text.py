"""Text helpers every fake upstream uses to build its deterministic answers."""

from __future__ import annotations

import math
import re


def words(text: str) -> int:
    """The fakes' token count: whitespace-separated words."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """Split text word by word, keeping whitespace, so that ``"".join(pieces) == text``."""
    found = re.findall(r"\s*\S+", text)
    rest = text[len("".join(found)) :]
    if rest:
        if found:
            found[-1] += rest
        else:
            found.append(rest)
    return found


def split_n(text: str, n: int) -> list[str]:
    """About `n` consecutive fragments of `text` (for argument deltas)."""
    size = max(1, math.ceil(len(text) / n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI does in 401 messages; never reveals the whole key."""
    if len(key) >= 12:
        return key[:6] + "*" * (len(key) - 10) + key[-4:]
    return key[:2] + "***" if len(key) > 4 else "***"
