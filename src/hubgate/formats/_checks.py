"""What every codec's request checks say about a bad value, in one wording."""

from __future__ import annotations

from typing import Any

from hubgate.errors import InvalidRequest

_NAMES: dict[type, str] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def type_name(value: Any) -> str:
    """How an error message names a JSON value's type ("an object", "a string", ...)."""
    return _NAMES.get(type(value), type(value).__name__)


def invalid(param: str, message: str) -> InvalidRequest:
    """A 400 that names the offending field, in OpenAI's wording."""
    return InvalidRequest(f"Invalid '{param}': {message}", param=param)
