"""Usage rows made storable before they are queued: text a database can refuse is fixed
at the door, so a caller's odd model name can never stop the usage writer.

PostgreSQL refuses NUL in text; no encoder takes an unpaired surrogate; a VARCHAR(n)
refuses n+1 characters. Clean text (nearly all of it) costs two C-level scans.
"""

from __future__ import annotations

from operator import attrgetter, gt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubgate.storage.usage import UsageRow

REPLACEMENT = "\ufffd"

# The text fields of a usage row and their column lengths (storage/tables.py usage_logs).
TEXT_FIELDS: dict[str, int] = {
    "request_id": 40,
    "endpoint": 32,
    "key_name": 64,
    "model": 128,
    "upstream_model": 128,
    "channel": 64,
    "error": 512,
    "unit": 16,
}
_texts = attrgetter(*TEXT_FIELDS)
_LIMITS = tuple(TEXT_FIELDS.values())
_NAMES = tuple(TEXT_FIELDS)


def clean(text: str, limit: int | None = None) -> str:
    """`text` without NUL (each one becomes U+FFFD) or unpaired surrogates (likewise),
    cut to `limit` characters."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in text)
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def make_storable(row: UsageRow) -> None:
    """Fix the row's text fields in place (the fast path only reads them, in C: one join,
    one ASCII check, one NUL search, one length comparison per field; None reads "None")."""
    values = _texts(row)
    texts = tuple(map(str, values))
    joined = "".join(texts)
    if joined.isascii() and "\x00" not in joined and not any(map(gt, map(len, texts), _LIMITS)):
        return
    for value, limit, name in zip(values, _LIMITS, _NAMES, strict=True):
        if value.__class__ is str and (len(value) > limit or not value.isascii() or "\x00" in value):
            setattr(row, name, clean(value, limit))
