"""Video task shapes: OpenAI's Videos API (Sora) and the generic task shape of one-api style
gateways. Request checks and the reading of an upstream video object; no I/O.

OpenAI's video object (`openai.types.Video`): id, object "video", created_at, completed_at,
expires_at, status (queued | in_progress | completed | failed), model, progress, prompt,
seconds (a string: "4", "8", "12"), size, error {code, message}, remixed_from_video_id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubgate.errors import InvalidRequest
from hubgate.formats._checks import invalid, type_name

DEFAULT_MODEL = "sora-2"  # OpenAI's defaults, so a task's price is known before it runs
DEFAULT_SECONDS = "4"
DEFAULT_SIZE = "720x1280"
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
STATUSES = ("queued", "in_progress", "completed", "failed")
VARIANTS = ("video", "thumbnail", "spritesheet")

# The generic task shape's words for OpenAI's statuses.
GENERIC_STATUS = {"queued": "queued", "in_progress": "running", "completed": "succeeded", "failed": "failed"}


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """What the gateway needs of a create call: where to route it and what it will cost."""

    model: str
    prompt: str
    seconds: int
    size: str


def _one_of(param: str, value: Any, allowed: tuple[str, ...]) -> str:
    choices = ", ".join(f"'{a}'" for a in allowed)
    if not isinstance(value, str):
        raise invalid(param, f"expected one of {choices} (a string), but got {type_name(value)}.")
    if value not in allowed:
        raise invalid(param, f"'{value}' is not supported; expected one of {choices}.")
    return value


def _prompt(fields: Mapping[str, Any]) -> str:
    prompt = fields.get("prompt")
    if prompt is None or prompt == "":
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    if not isinstance(prompt, str):
        raise invalid("prompt", f"expected a string, but got {type_name(prompt)}.")
    return prompt


def _model(fields: Mapping[str, Any]) -> str:
    model = fields.get("model", DEFAULT_MODEL)
    if not isinstance(model, str) or not model:
        raise invalid("model", f"expected a model name (a string), but got {type_name(model)}.")
    return model


def check_create(fields: Mapping[str, Any]) -> VideoRequest:
    """`POST /v1/videos`, a JSON body or a multipart form's text fields (OpenAI's types:
    `seconds` and `size` are strings from fixed sets)."""
    seconds = _one_of("seconds", fields.get("seconds", DEFAULT_SECONDS), SECONDS)
    size = _one_of("size", fields.get("size", DEFAULT_SIZE), SIZES)
    reference = fields.get("input_reference")
    if reference is not None and not isinstance(reference, dict):
        raise invalid(
            "input_reference",
            f"expected an object ({{'image_url': ...}} or {{'file_id': ...}}) or a file upload, "
            f"but got {type_name(reference)}.",
        )
    return VideoRequest(_model(fields), _prompt(fields), int(seconds), size)


def check_generic(body: Mapping[str, Any]) -> tuple[VideoRequest, dict[str, Any]]:
    """`POST /v1/videos/generations`: `seconds` or `duration` as a number or a numeric string.
    Returns the request and the OpenAI create body it becomes upstream."""
    param = "duration" if "duration" in body and "seconds" not in body else "seconds"
    raw = body.get(param, DEFAULT_SECONDS)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    elif not isinstance(raw, str):
        raise invalid(param, f"expected a whole number of seconds, but got {type_name(raw)}.")
    seconds = _one_of(param, raw, SECONDS)
    request = VideoRequest(
        _model(body), _prompt(body), int(seconds), _one_of("size", body.get("size", DEFAULT_SIZE), SIZES)
    )
    upstream: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "seconds": seconds,
        "size": request.size,
    }
    reference = body.get("input_reference")
    if reference is not None:
        if not isinstance(reference, dict):
            raise invalid("input_reference", f"expected an object, but got {type_name(reference)}.")
        upstream["input_reference"] = reference
    return request, upstream


@dataclass(frozen=True, slots=True)
class UpstreamVideo:
    """The parts of an upstream video object the gateway keeps."""

    id: str
    status: str
    progress: int
    seconds: int | None
    size: str | None
    error: dict[str, Any] | None


def read_video(obj: Any) -> UpstreamVideo:
    """An upstream video object; ValueError when it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
        raise ValueError("not a video object")
    status = obj.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown video status {status!r}")
    progress = obj.get("progress")
    seconds = obj.get("seconds")
    size = obj.get("size")
    error = obj.get("error")
    return UpstreamVideo(
        id=obj["id"],
        status=status,
        progress=min(max(progress, 0), 100)
        if isinstance(progress, int) and not isinstance(progress, bool)
        else 0,
        seconds=_whole_seconds(seconds),
        size=size if isinstance(size, str) else None,
        error=_error(error) if status == "failed" else None,
    )


def _whole_seconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return math.ceil(value)  # a started second is a second
    if isinstance(value, str):
        try:
            return _whole_seconds(float(value))
        except ValueError:
            return None
    return None


def _error(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return {"code": str(value.get("code") or "video_generation_failed"), "message": value["message"]}
    return {"code": "video_generation_failed", "message": "The upstream reported the video as failed."}
