"""The console's translation hook: `_` marks a user-visible string.

A minimal stand-in (the identity); the translated catalogues replace it without changing callers.
"""

from __future__ import annotations


def _(message: str) -> str:
    """The message in the viewer's language (here: as written)."""
    return message


__all__ = ["_"]
