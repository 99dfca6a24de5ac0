"""An upstream's refusal: read once, scrubbed of the key, judged for channel health, and
shown to the caller as the caller's problem only when it is."""

from __future__ import annotations

import orjson

from hubgate.errors import GatewayError, Unavailable, UpstreamHTTPError
from hubgate.formats.registry import WireFormat, codec
from hubgate.providers.base import UpstreamResponse
from hubgate.relay.call import Attempt, Call
from hubgate.routing.health import Outcome


async def upstream_error(resp: UpstreamResponse, attempt: Attempt) -> UpstreamHTTPError:
    """The upstream's error, status and message kept, its key scrubbed."""
    raw = await resp.read()
    etype: str | None = None
    code: str | None = None
    param: str | None = None
    if attempt.wire is WireFormat.OPENAI_CHAT:
        message, etype, code, param = _openai_error_fields(raw)
    else:
        try:
            message = codec(attempt.wire).decode_error(resp.status, raw)
        except Exception:
            message = raw[:300].decode(errors="replace").strip()
    if not message:
        message = f"The upstream answered with HTTP {resp.status}."
    if attempt.secret:
        message = message.replace(attempt.secret, "***")
    return UpstreamHTTPError(
        resp.status,
        message,
        openai_type=etype,
        code=code,
        param=param,
        retry_after=resp.headers.get("retry-after"),
    )


def _openai_error_fields(raw: bytes) -> tuple[str, str | None, str | None, str | None]:
    try:
        err = orjson.loads(raw).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return raw[:300].decode(errors="replace").strip(), None, None, None
    if isinstance(err, str):
        return err, None, None, None
    if not isinstance(err, dict):
        return "", None, None, None
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    code = str(err["code"]) if err.get("code") is not None else None
    param = err.get("param") if isinstance(err.get("param"), str) else None
    return str(err.get("message") or ""), etype, code, param


def for_caller(err: GatewayError, call: Call) -> GatewayError:
    """An upstream that refused the gateway's own credentials (401/403, or no balance left)
    is the operator's problem, not the caller's: 503, never the 401/402/403 that would
    tell the caller their key or budget is at fault (SPEC §5)."""
    if isinstance(err, UpstreamHTTPError) and outcome(err.status, err) is Outcome.AUTH:
        return Unavailable(
            f"The upstream for model '{call.model}' refused this gateway's credentials "
            f"(HTTP {err.status}: {err.message[:300]})",
            code="upstream_auth_failed",
        )
    return err


def outcome(status: int, err: UpstreamHTTPError) -> Outcome | None:
    """How an upstream error counts for health; None: the request itself was bad (no retry)."""
    if status in (401, 402, 403) or err.code == "insufficient_quota":
        return Outcome.AUTH
    if status == 429:
        return Outcome.THROTTLED
    if status >= 500:
        return Outcome.FAILED
    return None


def seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds, when it is a number."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
