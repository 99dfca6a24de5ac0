"""`Settings`: everything hubgate is configured with, its top-level fields and their checks."""

from decimal import Decimal
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hubgate.settings.base import Frozen, Money, Secret
from hubgate.settings.channels import ChannelSettings
from hubgate.settings.console import ConsoleSettings
from hubgate.settings.money import AccountSettings, KeySettings, PriceSettings
from hubgate.settings.payments import PaymentSettings
from hubgate.settings.rate_limits import KeyLimitDefaults, RateLimitSettings
from hubgate.settings.references import SKIP_REFERENCES, format_loc, reference_errors

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/hubgate.db"
LOG_LEVELS = ("debug", "info", "warning", "error")

# Accepted database URL prefixes and what each is normalised to.
_SQLITE, _POSTGRES = "sqlite+aiosqlite://", "postgresql+asyncpg://"
_DATABASE_SCHEMES = {_SQLITE: _SQLITE, "sqlite://": _SQLITE, _POSTGRES: _POSTGRES}
_DATABASE_SCHEMES |= {"postgresql://": _POSTGRES, "postgres://": _POSTGRES}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(Frozen):
    """Everything hubgate is configured with; see SPEC §3."""

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1, le=1000)  # PostgreSQL connections kept open per process
    database_pool_overflow: int = Field(default=10, ge=0, le=1000)  # more for a burst, closed once returned
    redis_url: str | None = None
    admin_key: Secret | None = None
    secret_key: str | None = None
    max_body_mb: float = Field(default=32, gt=0, le=1024, allow_inf_nan=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    usage_flush_interval_s: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    usage_batch_size: int = Field(default=500, ge=1)
    usage_max_lag_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)  # /readyz: 503 past this
    usage_journal_dir: str | None = None  # None: next to the SQLite file, else ./data/journal
    usage_journal_fsync: Literal["off", "batch", "always"] = "batch"  # batch: fdatasync every 50 ms
    max_attempts: int = Field(default=3, ge=1, le=10)  # channels tried per request
    cooldown_after_failures: int = Field(default=3, ge=0)  # 0: no cooldowns, no keys set aside
    cooldown_base_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    cooldown_max_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    ip_rate_limit_rpm: int | None = Field(default=None, ge=1)  # per client address, whole API
    ip_rate_limit_burst: int = Field(default=20, ge=1)
    rate_limits: RateLimitSettings | None = None  # per-address classes; replaces ip_rate_limit_*
    default_key_limits: KeyLimitDefaults = KeyLimitDefaults()  # for keys without their own rpm/tpm/...
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed
    health_check_interval_s: float | None = Field(default=None, gt=0)  # off by default: checks cost money
    channel_auto_disable_after: int | None = Field(default=None, ge=1)  # failed checks in a row; None: never
    usage_retention_days: int | None = Field(default=None, ge=1)  # delete older log rows (roll-ups stay)
    video_poll_interval_s: float = Field(default=2.0, gt=0, allow_inf_nan=False)  # first re-poll; doubles
    video_task_timeout_s: float = Field(default=3600.0, gt=0, allow_inf_nan=False)  # then failed, unbilled
    log_format: Literal["text", "json"] = "text"
    redis_prefix: str = "hubgate:"  # namespace of every Redis key (several gateways may share a Redis)
    key_cache_ttl_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    hold_ttl_s: float = Field(default=900.0, gt=0, allow_inf_nan=False)  # a crashed process's leases go then
    max_request_cost_usd: Money | None = None  # caps the hold of a request that names no output limit
    hold_lease_chunk_usd: Money = Field(default=Decimal("1"), gt=0)  # leased per round trip (Redis, database)
    channels: tuple[ChannelSettings, ...] = ()
    accounts: tuple[AccountSettings, ...] = ()
    groups: dict[str, Money] = Field(default_factory=lambda: {"default": Decimal(1)})
    keys: tuple[KeySettings, ...] = ()
    pricing: dict[str, PriceSettings] = {}
    console: ConsoleSettings = ConsoleSettings()
    payments: PaymentSettings = PaymentSettings()

    @field_validator("redis_url", "admin_key", "secret_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        for prefix, canonical in _DATABASE_SCHEMES.items():
            if value.startswith(prefix):
                return canonical + value.removeprefix(prefix)
        raise ValueError(
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (or postgres://, sqlite://)"
        )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            raise ValueError(f"must start with one of: {', '.join(_REDIS_SCHEMES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of: {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("groups")
    @classmethod
    def _default_group(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return value if "default" in value else {"default": Decimal(1), **value}

    @model_validator(mode="after")
    def _one_rate_limit_style(self) -> "Settings":
        if self.rate_limits is not None and self.ip_rate_limit_rpm is not None:
            raise ValueError(
                "ip_rate_limit_rpm and ip_rate_limit_burst are replaced by rate_limits: move the figures "
                "to rate_limits.model_api / api / oauth / signup / other (each {rpm, burst}) and remove them"
            )
        return self

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> "Settings":
        if not (info.context or {}).get(SKIP_REFERENCES):
            problems = reference_errors(self.model_dump())
            if problems:
                raise ValueError("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems))
        return self
