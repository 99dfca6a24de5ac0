"""The state fields of a Responses request that are not hub fields: whether to keep
the answer for `previous_response_id`, and what the answer echoes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubgate.formats.openai_responses._common import (
    JSON,
    expect_dict,
    expect_list,
    fail,
    optional_bool,
    optional_str,
    type_name,
)

__all__ = ["ResponsesOptions", "input_items", "request_options"]


@dataclass(frozen=True, slots=True)
class ResponsesOptions:
    """What a Responses request asks of the gateway beyond the model call: whether to
    keep the answer for `previous_response_id`, and the fields echoed in the answer."""

    store: bool = True
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    instructions: str | None = None
    include: tuple[str, ...] = ()
    truncation: str | None = None
    reasoning_summary: str | None = None  # echoed as `reasoning.summary`


def request_options(body: dict[str, Any]) -> ResponsesOptions:
    """Read and check the state fields of a Responses body (400 naming the field)."""
    if body.get("background") is True:
        fail("background", "background responses are not supported by this gateway.")
    optional_bool(body, "background")
    store = optional_bool(body, "store")
    metadata = body.get("metadata")
    if metadata is not None:
        metadata = expect_dict(metadata, "metadata")
        for key, value in metadata.items():
            if not isinstance(value, str):
                fail(f"metadata.{key}", f"expected a string, got {type_name(value)}.")
    include = body.get("include")
    if include is not None:
        for i, name in enumerate(expect_list(include, "include")):
            if not isinstance(name, str):
                fail(f"include[{i}]", f"expected a string, got {type_name(name)}.")
    truncation = optional_str(body, "truncation")
    if truncation is not None and truncation not in ("auto", "disabled"):
        fail("truncation", f"expected 'auto' or 'disabled', got '{truncation}'.")
    reasoning = body.get("reasoning")
    summary = None
    if isinstance(reasoning, dict):
        summary = optional_str(reasoning, "summary", "reasoning") or optional_str(
            reasoning, "generate_summary", "reasoning"
        )
    return ResponsesOptions(
        store=store is not False,
        previous_response_id=optional_str(body, "previous_response_id"),
        metadata=dict(metadata) if metadata is not None else None,
        instructions=optional_str(body, "instructions"),
        include=tuple(include or ()),
        truncation=truncation,
        reasoning_summary=summary,
    )


def input_items(body: dict[str, Any]) -> list[JSON]:
    """The body's `input` as a list of items (a string becomes one user message), the
    form in which a conversation is stored for `previous_response_id`."""
    value = body.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(expect_list(value, "input"))
