"""Per-client-address rate limits by route class; the default per-key limits."""

from pydantic import Field, field_validator

from hubgate.settings.base import Frozen


class RateClassSettings(Frozen):
    """One rate-limit class: a token bucket per client address, `rpm` a minute with `burst` at once."""

    rpm: int = Field(ge=1)
    burst: int = Field(ge=1)


class RateLimitSettings(Frozen):
    """Per-client-address limits by route class (ToksHub's figures by default); null turns one off."""

    model_api: RateClassSettings | None = RateClassSettings(rpm=60, burst=20)  # /v1/*, /v1beta/*, ...
    api: RateClassSettings | None = RateClassSettings(rpm=60, burst=10)  # /api/* (user API)
    oauth: RateClassSettings | None = RateClassSettings(rpm=10, burst=5)  # /api/oauth/*, /ui/oauth/*
    signup: RateClassSettings | None = RateClassSettings(rpm=5, burst=2)  # POST sign-up forms and API
    other: RateClassSettings | None = None  # everything else (/ui pages, /admin)


class KeyLimitDefaults(Frozen):
    """Limits for API keys that set none of their own: each applies to a key whose own value
    for it is empty (a key's own limit wins); null or 0 is unlimited. Editable at run time."""

    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    max_concurrency: int | None = Field(default=None, ge=0)

    @field_validator("rpm", "tpm", "max_concurrency")
    @classmethod
    def _zero_is_unlimited(cls, value: int | None) -> int | None:
        return value or None
