"""The canonical shapes every wire format maps to and from (N codecs, not N x N).

A caller's body is decoded into a hub `Request`; the upstream's codec encodes that
into its own wire body. The upstream's answer is decoded into a hub `Response` (or a
sequence of hub stream events) and the caller's codec encodes it back.

Conventions every codec follows (the translation policy, see README):
- What has an equivalent in the target is mapped; what has none is dropped, never
  refused, and named: decoders put a `Drop` in `Request.dropped`, encoders append one
  to the `drops` list they are given. Only malformed input (a field the codec must
  read has the wrong JSON type) raises `hubgate.errors.InvalidRequest` naming it.
- Tool-call arguments are always a JSON *string* (as OpenAI sends them); codecs
  whose wire format uses objects (Anthropic `input`, Gemini `args`) dump/load.
- `Usage.prompt_tokens` counts everything the model read, cache reads and cache
  writes included (OpenAI's convention). Anthropic's `input_tokens` excludes
  both, so its codec adds them; Gemini's `promptTokenCount` already includes
  `cachedContentTokenCount`.
- `Usage.completion_tokens` includes reasoning tokens (OpenAI's and Anthropic's
  convention); Gemini reports `thoughtsTokenCount` apart, so its codec adds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

# --------------------------------------------------------------------------- parts


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL or inline base64 `data` with its `media_type` (e.g. image/png).

    A `data:` URL from a caller is split into data + media_type by the decoder.
    """

    url: str | None = None
    data: str | None = None  # base64, no "data:" prefix
    media_type: str | None = None
    detail: str | None = None  # OpenAI's low/high/auto, kept when both sides know it
    kind: Literal["image"] = "image"


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A file (PDF, plain text) by URL or inline base64."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    name: str | None = None
    kind: Literal["document"] = "document"


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """Model reasoning. `signature` must be sent back unchanged on the next turn
    (Anthropic `signature`, Gemini `thoughtSignature`, Responses `encrypted_content`);
    across formats it travels sealed (`formats.sealed`). `redacted` holds Anthropic's
    `redacted_thinking.data` (text is then empty)."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    kind: Literal["thinking"] = "thinking"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A call the assistant made. `arguments` is a JSON string. `signature` carries a
    Gemini `thoughtSignature` attached to the functionCall part."""

    id: str
    name: str
    arguments: str = "{}"
    signature: str | None = None
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of a tool call, in a `tool` message. `name` is the function's name
    (Gemini's functionResponse needs it; decoders fill it from the matching call)."""

    tool_call_id: str
    content: tuple[TextPart | ImagePart, ...] = ()
    is_error: bool = False
    name: str | None = None
    kind: Literal["tool_result"] = "tool_result"


Part = TextPart | ImagePart | DocumentPart | ThinkingPart | ToolCallPart | ToolResultPart


# -------------------------------------------------------------------------- drops

DropKind = Literal["field", "tool", "content", "message", "item"]


@dataclass(frozen=True, slots=True)
class Drop:
    """Something the caller sent that the target format cannot express: `path` in the
    caller's body (`tools[5]`, `messages[3].content[1]`, `include`), `what` the type
    that was dropped (`web_search`, `document`; empty for a plain field) and `kind`,
    a bounded category for metrics."""

    path: str
    what: str = ""
    kind: DropKind = "field"


# ------------------------------------------------------------------------ request


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. Roles: `user`, `assistant`, `tool` (a tool message holds only
    ToolResultParts) and `system` (TextParts only): a system/developer message in the
    middle of the conversation, kept in place where the target has positional system
    messages and merged into its system prompt elsewhere. The leading system prompt
    lives in `Request.system`."""

    role: Literal["user", "assistant", "tool", "system"]
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call. A Responses caller's namespaced function has a
    flattened `name` (what the upstream sees) and keeps `namespace` / `original` to
    name the call back; a `custom` (freeform) tool takes one string `input`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    namespace: str | None = None
    original: str | None = None
    custom: bool = False


@dataclass(frozen=True, slots=True)
class HostedTool:
    """A tool the upstream runs itself. Only `web_search` has equivalents in several
    formats (Responses `web_search`, Anthropic `web_search_20250305`, Gemini
    `googleSearch`); `path` is where the caller declared it, for naming the drop."""

    kind: Literal["web_search"]
    path: str
    max_uses: int | None = None
    allowed_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """auto: model decides; none: no tools; required: must call some tool;
    tool: must call `name`."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


class Effort(StrEnum):
    NONE = "none"
    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# Thinking budgets that stand for each effort level, and back. One table so every
# codec maps OpenAI `reasoning_effort` <-> Anthropic `budget_tokens` <-> Gemini
# `thinkingBudget` the same way.
EFFORT_BUDGETS: dict[Effort, int] = {
    Effort.NONE: 0,
    Effort.MINIMAL: 1024,
    Effort.LOW: 2048,
    Effort.MEDIUM: 8192,
    Effort.HIGH: 24576,
}


def budget_for(effort: Effort) -> int:
    return EFFORT_BUDGETS[effort]


def effort_for(budget: int) -> Effort:
    """The smallest effort whose budget covers `budget` (0 means no reasoning)."""
    if budget <= 0:
        return Effort.NONE
    for effort in (Effort.MINIMAL, Effort.LOW, Effort.MEDIUM):
        if budget <= EFFORT_BUDGETS[effort]:
            return effort
    return Effort.HIGH


@dataclass(frozen=True, slots=True)
class Reasoning:
    """What the caller asked for. Either side may be set; codecs derive the other
    with `budget_for` / `effort_for`. `budget_tokens` of -1 means "dynamic"
    (Gemini). `include_thoughts` asks for reasoning text in the answer."""

    effort: Effort | None = None
    budget_tokens: int | None = None
    include_thoughts: bool = True


DEFAULT_MAX_TOKENS = 8192  # when the upstream requires max_tokens (Anthropic) and the caller gave none


@dataclass(frozen=True, slots=True)
class Request:
    model: str
    messages: tuple[Message, ...]
    system: tuple[TextPart, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    stream: bool = False
    include_usage: bool = True  # OpenAI callers only get the usage chunk if they asked
    hosted_tools: tuple[HostedTool, ...] = ()
    dropped: tuple[Drop, ...] = ()  # what the caller's decoder could not carry


# ----------------------------------------------------------------------- response


class FinishReason(StrEnum):
    STOP = "stop"  # natural end or a stop sequence
    LENGTH = "length"  # max tokens
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


@dataclass(slots=True, unsafe_hash=True)  # not frozen: made per answer, a frozen __init__ costs 2x
class Usage:
    """Token usage in one convention (see the module docstring)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # cache reads, part of prompt_tokens
    cache_write_tokens: int = 0  # cache writes, part of prompt_tokens
    reasoning_tokens: int = 0  # part of completion_tokens
    cache_write_1h_tokens: int = 0  # of the cache writes, those kept an hour (Anthropic prices them apart)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Response:
    id: str
    model: str
    parts: tuple[Part, ...]  # Text, Thinking and ToolCall parts, in output order
    finish_reason: FinishReason = FinishReason.STOP
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None
    created: int = 0  # unix seconds; 0 lets the encoder use "now"


# ------------------------------------------------------------------ stream events
#
# A decoder turns upstream events into these; an encoder turns them into caller
# events. Order: Start, then any interleaving of deltas, then Finish, then Usage
# (Usage may also come earlier or several times: the last one wins), or Error at
# any point. Tool calls are identified by `index` (0, 1, ... in order of
# appearance among tool calls).


@dataclass(frozen=True, slots=True)
class Start:
    id: str
    model: str
    created: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str = ""
    signature: str | None = None  # usually arrives once, after the thinking text
    redacted: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON string


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(frozen=True, slots=True)
class StreamError:
    """The upstream failed mid-stream; the encoder ends the caller's stream with an
    error event in the caller's format."""

    status: int
    message: str


StreamEvent = (
    Start | TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | Finish | UsageUpdate | StreamError
)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One parsed server-sent event from an upstream: its `event:` name (or None)
    and its `data:` payload (lines joined with newlines)."""

    event: str | None
    data: str
