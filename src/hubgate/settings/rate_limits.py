"""Per-client-address rate limits by route class."""

from pydantic import Field

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
