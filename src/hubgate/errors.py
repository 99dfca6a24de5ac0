"""One error tree for the whole gateway; each error knows its HTTP status.

    GatewayError
    ├── InvalidRequest          400  malformed JSON, missing or invalid fields
    ├── AuthenticationFailed    401  missing, unknown, revoked or expired key
    ├── PaymentRequired         402  budget or balance spent
    ├── PermissionDenied        403  model not allowed for this key
    ├── NotFound                404  route or model unknown
    ├── PayloadTooLarge         413  body over max_body_mb
    ├── RateLimited             429  key limits; carries retry_after
    └── UpstreamFailure
        ├── UpstreamHTTPError   4xx/5xx answered by the upstream, status kept
        ├── BadGateway          502  upstream answer not valid for its API
        ├── Unavailable         503  every channel failed or is cooling down
        └── UpstreamTimeout     504  upstream did not answer in time

Errors are rendered in the caller's API family (OpenAI, Anthropic, Gemini, Responses) by
`formats/errors.py`, the one home of every error shape (JSON answers and stream events).
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    openai_type: str = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    openai_type = "authentication_error"
    code = "invalid_api_key"


class PaymentRequired(GatewayError):
    status = 402
    openai_type = "insufficient_quota"
    code = "insufficient_quota"


class PermissionDenied(GatewayError):
    status = 403
    openai_type = "permission_error"
    code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int = 1, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self._headers = headers or {}

    @property
    def headers(self) -> dict[str, str]:
        return {**self._headers, "retry-after": str(self.retry_after)}


class UpstreamFailure(GatewayError):
    status = 502
    openai_type = "upstream_error"


class UpstreamHTTPError(UpstreamFailure):
    """The upstream answered with an error status; status and message are kept."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        openai_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.status = status
        self.openai_type = openai_type or _default_type(status)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": self.retry_after} if self.retry_after else {}


class BadGateway(UpstreamFailure):
    status = 502
    code = "bad_gateway"


class Unavailable(UpstreamFailure):
    status = 503
    openai_type = "service_unavailable"
    code = "no_channel_available"


class UpstreamTimeout(UpstreamFailure):
    status = 504
    openai_type = "timeout_error"
    code = "upstream_timeout"


def _default_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "insufficient_quota",
        403: "permission_error",
        404: "invalid_request_error",
        413: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")
