"""Logs as one JSON object a line, each tagged with the id of the request it belongs to.

The id lives in a contextvar: aiohttp runs every request in its own task, and tasks
the request starts (usage estimates) copy it, so a line logged anywhere below the
edge middleware carries the id that the caller sees in `x-request-id`.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Final

import orjson

LOG_FORMAT_ENV: Final = "HUBGATE_LOG_FORMAT"  # until `log_format` is a setting
LOG_FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_request_id: ContextVar[str | None] = ContextVar("hubgate_request_id", default=None)


def bind_request_id(request_id: str | None) -> None:
    """Tag the log lines of the current request (its task and the tasks it starts)."""
    _request_id.set(request_id)


def current_request_id() -> str | None:
    """The id bound to the running request, if any."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (ISO-8601 UTC), level, logger, msg, request_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, str] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # An explicit `extra={"request_id": ...}` wins (work done for a request after it ended).
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            out["request_id"] = str(request_id)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out).decode()


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send the process's logs to stderr at `level`, as text lines or JSON lines."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
