"""Configuration: a YAML file plus the environment -> frozen, validated `Settings` (SPEC §3).

`${VAR}` and `${VAR:-default}` inside string values are expanded from the environment (`$$` is a
literal `$`); every top-level scalar can be overridden by `HUBGATE_<NAME>`, and the environment
wins. Every problem is reported at once as `path: message`, e.g. `channels[1].weight: ...`.
"""

import ipaddress
import os
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/hubgate.db"
CHANNEL_KINDS = "hubgate.channel_kinds"  # validation context: the ChannelKinds channels are checked against
LOG_LEVELS = ("debug", "info", "warning", "error")
ENV_PREFIX = "HUBGATE_"

# Accepted database URL prefixes and what each is normalised to.
_SQLITE, _POSTGRES = "sqlite+aiosqlite://", "postgresql+asyncpg://"
_DATABASE_SCHEMES = {_SQLITE: _SQLITE, "sqlite://": _SQLITE, _POSTGRES: _POSTGRES}
_DATABASE_SCHEMES |= {"postgresql://": _POSTGRES, "postgres://": _POSTGRES}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_SECTIONS = frozenset(
    {
        "channels",
        "accounts",
        "groups",
        "keys",
        "pricing",
        "trusted_proxies",
        "console",
        "payments",
        "rate_limits",
    }
)
_SKIP_REFERENCES = "hubgate.skip_references"  # validation context flag: parse_settings checks them itself
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w-]*")


def _no_whitespace(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


class ChannelKind(Protocol):
    """What validation needs to know of one channel type (a provider declares it)."""

    @property
    def needs_base_url(self) -> bool: ...

    @property
    def default_api_version(self) -> str | None:
        """Filled into `api_version` when unset; None: `api_version` does not apply."""

    @property
    def responses_api(self) -> bool:
        """Whether `api: responses` applies."""


class ChannelKinds(Protocol):
    """The known channel types, in the order messages list them (the provider registry)."""

    def names(self) -> Sequence[str]: ...

    def get(self, channel_type: str) -> ChannelKind | None: ...


def _kinds(info: ValidationInfo) -> ChannelKinds | None:
    """The channel types to check against; None (direct construction) checks none of them."""
    kinds: ChannelKinds | None = (info.context or {}).get(CHANNEL_KINDS)
    return kinds


def _kind(info: ValidationInfo) -> ChannelKind | None:
    kinds, name = _kinds(info), info.data.get("type")
    return kinds.get(name) if kinds is not None and name is not None else None


def _one_of(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


Loc = tuple[str | int, ...]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Slug = Annotated[Name, AfterValidator(_no_whitespace)]
NonEmpty = Annotated[str, Field(min_length=1)]
Secret = Annotated[str, Field(min_length=16)]


class ConfigError(Exception):
    """The configuration is invalid; `errors` lists every problem as "path: message"."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelSettings(_Frozen):
    """One upstream endpoint. `models` lists every public name served, `model_map` keys included."""

    name: Slug
    type: str
    base_url: str | None = Field(default=None, validate_default=True)
    api_key: str | None = None
    api_keys: tuple[NonEmpty, ...] = ()
    model_map: dict[NonEmpty, NonEmpty] = {}  # before `models`: its validator adds the mapped names
    models: tuple[NonEmpty, ...]
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    timeout_s: float = Field(default=600, gt=0, allow_inf_nan=False)  # a whole non-streamed answer
    connect_timeout_s: float = Field(default=10, gt=0, allow_inf_nan=False)
    first_byte_timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # default: timeout_s
    idle_timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # between stream chunks
    stream_timeout_s: float = Field(default=300, gt=0, allow_inf_nan=False)  # a whole stream
    headers: dict[str, str] = {}
    api_version: str | None = Field(default=None, validate_default=True)
    api: Literal["chat", "responses"] = Field(default="chat", validate_default=True)
    enabled: bool = True

    @property
    def upstream_keys(self) -> tuple[str, ...]:
        """The upstream API keys to spread requests over (`api_key` or `api_keys`)."""
        return (self.api_key, *self.api_keys) if self.api_key else self.api_keys

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("must not contain '/'")
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str, info: ValidationInfo) -> str:
        kinds = _kinds(info)
        if kinds is not None and kinds.get(value) is None:
            raise ValueError(
                f"unknown channel type {value!r}; expected one of: {', '.join(sorted(kinds.names()))}"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = _kind(info)
        if value is None:
            if kind is not None and kind.needs_base_url:
                raise ValueError(f"required for channel type {info.data['type']!r}")
            return None
        if not value.startswith(("http://", "https://")) or not urlsplit(value).netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and info.data.get("api_key"):
            raise ValueError("set either api_key or api_keys, not both")
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one model")
        duplicates = sorted({m for m in value if value.count(m) > 1})
        if duplicates:
            raise ValueError(f"duplicate model names: {', '.join(duplicates)}")
        mapped: dict[str, str] = info.data.get("model_map") or {}
        return value + tuple(m for m in mapped if m not in value)

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str | None, info: ValidationInfo) -> str | None:
        kinds, kind = _kinds(info), _kind(info)
        if kinds is None or kind is None:
            return value
        if kind.default_api_version is not None:
            return value or kind.default_api_version
        if value is not None:
            versioned = [n for n in kinds.names() if (k := kinds.get(n)) and k.default_api_version]
            raise ValueError(f"only applies to channels of type {_one_of(versioned)}")
        return value

    @field_validator("api")
    @classmethod
    def _check_api(cls, value: str, info: ValidationInfo) -> str:
        kinds, kind = _kinds(info), _kind(info)
        if value == "responses" and kinds is not None and kind is not None and not kind.responses_api:
            speaking = [n for n in kinds.names() if (k := kinds.get(n)) and k.responses_api]
            raise ValueError(f"'responses' only applies to channels of type {_one_of(speaking)}")
        return value


class AccountSettings(_Frozen):
    """A prepaid account; `balance_usd` is the initial credit only (the database owns the balance)."""

    name: Name
    balance_usd: Money = Decimal(0)
    group: str = "default"
    max_request_cost_usd: Money | None = None  # caps an uncapped request's hold; None: the global


class KeySettings(_Frozen):
    """A bootstrap API key; `key` is an optional fixed secret."""

    name: Slug
    account: str | None = None
    key: Secret | None = None
    models: tuple[NonEmpty, ...] | None = None
    budget_usd: Money | None = None
    budget_period: Literal["daily", "weekly", "monthly"] | None = None  # None: the budget is for life
    price_multiplier: Money | None = None  # on top of the account group's multiplier
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1)
    max_request_cost_usd: Money | None = None  # caps an uncapped request's hold; None: the account's
    allowed_ips: tuple[str, ...] | None = None  # CIDR ranges the key may be used from
    expires_at: datetime | None = None

    @field_validator("allowed_ips")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for cidr in value or ():
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad range
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class PriceSettings(_Frozen):
    """A model's price in USD per 1M tokens (`per_request` in USD per request)."""

    input: Money
    output: Money = Decimal(0)
    cached_input: Money | None = None
    cache_write: Money | None = None
    per_request: Money | None = None


GITHUB_URLS = (
    "https://github.com/login/oauth/authorize",
    "https://github.com/login/oauth/access_token",
    "https://api.github.com/user",
)


class OAuthSettings(_Frozen):
    """A sign-in provider for the console: GitHub OAuth, or any OpenID Connect issuer."""

    name: Slug  # in the callback URL: /ui/oauth/<name>/callback
    kind: Literal["github", "oidc"]
    client_id: NonEmpty
    client_secret: NonEmpty
    label: str | None = None  # the button's text (default: "Continue with <name>")
    issuer: str | None = None  # oidc: its discovery document is <issuer>/.well-known/openid-configuration
    authorize_url: str | None = None  # override what discovery (or GitHub's defaults) gives
    token_url: str | None = None
    userinfo_url: str | None = None
    scopes: tuple[str, ...] | None = None  # default: "read:user user:email" / "openid email profile"

    @model_validator(mode="after")
    def _endpoints(self) -> "OAuthSettings":
        explicit = (self.authorize_url, self.token_url, self.userinfo_url)
        if self.kind == "oidc" and self.issuer is None and None in explicit:
            raise ValueError("an oidc provider needs issuer (or authorize_url, token_url and userinfo_url)")
        return self


class SmtpSettings(_Frozen):
    """Where the console sends mail from: password-reset links and invites."""

    host: NonEmpty
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (usually port 465)
    username: str | None = None
    password: str | None = None
    from_address: NonEmpty  # e.g. "hubgate <noreply@example.com>"
    ca_file: str | None = None  # a CA bundle to trust instead of the system's (a private relay)
    timeout_s: float = Field(default=10, gt=0, allow_inf_nan=False)


class ConsoleSettings(_Frozen):
    """The web console at /ui: who may sign up, sessions, and the sign-in limits (SPEC §3)."""

    enabled: bool = True
    signup: Literal["open", "invite", "closed"] = "invite"
    new_account_credit_usd: Money = Decimal(0)  # credit given to an account made by sign-up
    new_account_group: str = "default"
    session_ttl_hours: float = Field(default=168, gt=0, allow_inf_nan=False)
    cookie_secure: Literal["auto", "always", "never"] = "auto"  # auto: Secure when served over https
    admin_email: str | None = None  # created as an admin at start-up if no such user exists
    admin_password: str | None = Field(default=None, min_length=8)
    login_rpm: int = Field(default=10, ge=1)  # per client address
    signup_rpm: int = Field(default=5, ge=1)
    reset_rpm: int = Field(default=5, ge=1)
    lockout_failures: int = Field(default=5, ge=1)  # failed log-ins in a row that lock an account
    lockout_minutes: float = Field(default=15, gt=0, allow_inf_nan=False)
    public_url: str | None = None  # e.g. https://gw.example.com: the base of OAuth callback URLs
    oauth: tuple[OAuthSettings, ...] = ()
    smtp: SmtpSettings | None = None  # mail reset links (self-service "forgot password") and invites
    verify_email: bool = False  # sign-ups confirm their address from a mailed link before logging in
    site_name: str = Field(default="hubgate", min_length=1, max_length=64)  # the console's title
    announcement: str | None = Field(default=None, max_length=2000)  # a banner on every console page

    @model_validator(mode="after")
    def _admin_pair(self) -> "ConsoleSettings":
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError("admin_email and admin_password are set together")
        if self.verify_email and self.smtp is None:
            raise ValueError("verify_email needs smtp: the confirmation link is mailed")
        if self.smtp is not None and self.public_url is None:
            # Links in mail must not be built on the Host header a client sends.
            raise ValueError("smtp needs public_url: the links it mails are built on it")
        return self


class StripeSettings(_Frozen):
    secret_key: NonEmpty  # sk_live_... / sk_test_...: Bearer key of the REST API
    webhook_secret: NonEmpty  # whsec_...: signs the events sent to /api/payments/stripe/webhook
    api_base: str = "https://api.stripe.com"  # a fake in tests
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")  # a two-decimal currency
    exchange_rate: Decimal = Field(default=Decimal(1), gt=0)  # `currency` units charged per USD credited


class EpaySettings(_Frozen):
    url: NonEmpty  # the EPay site; customers are sent to <url>/submit.php
    pid: NonEmpty  # merchant id
    key: NonEmpty  # merchant key: the MD5 signing secret
    exchange_rate: Decimal = Field(default=Decimal("7.3"), gt=0)  # CNY charged per USD credited
    types: tuple[Literal["alipay", "wxpay", "qqpay"], ...] = ("alipay", "wxpay")


class BonusTier(_Frozen):
    from_usd: Money  # top-ups of at least this much ...
    percent: Decimal = Field(gt=0, le=100)  # ... are credited this much more


class PaymentSettings(_Frozen):
    """Online top-up (README "Top-up"): Stripe Checkout and EPay, amounts and bonus tiers."""

    stripe: StripeSettings | None = None
    epay: EpaySettings | None = None
    public_url: str | None = None  # base of webhook/return URLs (default: console.public_url)
    min_usd: Money = Field(default=Decimal(1), gt=0)
    max_usd: Money = Field(default=Decimal(10000), gt=0)
    presets_usd: tuple[Money, ...] = (Decimal(5), Decimal(10), Decimal(20), Decimal(50), Decimal(100))
    bonus_tiers: tuple[BonusTier, ...] = ()  # the highest tier reached applies


class RateClassSettings(_Frozen):
    """One rate-limit class: a token bucket per client address, `rpm` a minute with `burst` at once."""

    rpm: int = Field(ge=1)
    burst: int = Field(ge=1)


class RateLimitSettings(_Frozen):
    """Per-client-address limits by route class (ToksHub's figures by default); null turns one off."""

    model_api: RateClassSettings | None = RateClassSettings(rpm=60, burst=20)  # /v1/*, /v1beta/*, ...
    api: RateClassSettings | None = RateClassSettings(rpm=60, burst=10)  # /api/* (user API)
    oauth: RateClassSettings | None = RateClassSettings(rpm=10, burst=5)  # /api/oauth/*, /ui/oauth/*
    signup: RateClassSettings | None = RateClassSettings(rpm=5, burst=2)  # POST sign-up forms and API
    other: RateClassSettings | None = None  # everything else (/ui pages, /admin)


class Settings(_Frozen):
    """Everything hubgate is configured with; see SPEC §3."""

    database_url: str = DEFAULT_DATABASE_URL
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
        if not (info.context or {}).get(_SKIP_REFERENCES):
            problems = _reference_errors(self.model_dump())
            if problems:
                raise ValueError("; ".join(f"{_format_loc(loc)}: {msg}" for loc, msg in problems))
        return self


_ENV_FIELDS = tuple(name for name in Settings.model_fields if name not in _SECTIONS)


def usd_to_micros(value: Decimal) -> int:
    """Convert USD to integer micro-dollars exactly, rounding half-up at the sixth decimal."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    with localcontext(prec=max(28, value.adjusted() + 10)):
        return int(value.quantize(Decimal("1e-6"), rounding=ROUND_HALF_UP).scaleb(6))


def find_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to use: `explicit`, else $HUBGATE_CONFIG, else ./hubgate.yaml if present, else None."""
    if explicit:
        return Path(explicit).expanduser()
    if env.get("HUBGATE_CONFIG"):
        return Path(env["HUBGATE_CONFIG"]).expanduser()
    default = Path("hubgate.yaml")
    return default if default.is_file() else None


def load_settings(
    path: str | Path | None = None, env: Mapping[str, str] | None = None, kinds: ChannelKinds | None = None
) -> Settings:
    """Read and validate the config file (or built-in defaults if there is none); raise ConfigError.

    Channel types are checked against `kinds` (the provider registry); without it, not at all."""
    env = os.environ if env is None else env
    resolved = Path(path) if path is not None else find_config_path(None, env)
    if resolved is None:
        return parse_settings({}, env, source="<defaults>", kinds=kinds)
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{resolved}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{resolved}: cannot read config file: {exc}"]) from exc
    return parse_settings(_load_yaml(text, str(resolved)), env, source=str(resolved), kinds=kinds)


def parse_settings(
    data: object,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    kinds: ChannelKinds | None = None,
) -> Settings:
    """Validate parsed config data (None means empty) against `env`; raise ConfigError with every problem.

    Channel types are checked against `kinds` (the provider registry); without it, not at all."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: the top level must be a mapping, not {type(data).__name__}"])
    unset: dict[Loc, str] = {}
    expanded: dict[str, Any] = _expand(data, (), env, unset)
    variables = {field: ENV_PREFIX + field.upper() for field in _ENV_FIELDS}
    from_env = {field: variable for field, variable in variables.items() if variable in env}
    for field, variable in from_env.items():
        expanded[field] = env[variable]
    unset = {loc: msg for loc, msg in unset.items() if loc[0] not in from_env}
    problems = list(unset.items())
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(expanded, context={_SKIP_REFERENCES: True, CHANNEL_KINDS: kinds})
    except ValidationError as exc:
        for loc, msg in _pydantic_errors(exc):
            if not any(loc[: len(bad)] == bad for bad in unset):  # already reported as an unset variable
                problems.append((loc, msg))
    problems += _reference_errors(expanded)
    if problems or settings is None:
        problems.sort(key=lambda problem: _position(expanded, problem[0]))
        raise ConfigError([_render(loc, msg, from_env, source) for loc, msg in problems])
    return settings


class _Loader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    problem = f"duplicate key {key_node.value!r}"
                    raise yaml.MarkedYAMLError(problem=problem, problem_mark=key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: invalid YAML{where}: {problem}"]) from exc


def _expand(value: Any, loc: Loc, env: Mapping[str, str], unset: dict[Loc, str]) -> Any:
    """Expand `${VAR}` references in every string of the tree, recording problems by path."""
    if isinstance(value, str):
        return _expand_string(value, loc, env, unset)
    if isinstance(value, list):
        return [_expand(item, (*loc, i), env, unset) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _expand(v, (*loc, str(k)), env, unset) for k, v in value.items()}
    return value


def _expand_string(text: str, loc: Loc, env: Mapping[str, str], unset: dict[Loc, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if match.group(0) == "$$":
            return "$"
        if name is None:
            hint = "use ${NAME} or ${NAME:-default}, and $$ for a literal $"
            unset.setdefault(loc, f"malformed reference {match.group(0)!r}; {hint}")
            return ""
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            unset.setdefault(loc, f"environment variable {name} is not set")
            return ""
        return value

    return _VARIABLE.sub(replace, text)


def _pydantic_errors(exc: ValidationError) -> Iterator[tuple[Loc, str]]:
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            yield loc, "unknown field"
        elif error["type"] == "missing":
            yield loc, "required field is missing"
        elif loc and loc[-1] == "[key]":
            yield loc[:-1], f"invalid key: {error['msg']}"
        else:
            yield loc, error["msg"].removeprefix("Value error, ")


def _items(section: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(section, list | tuple):
        for i, item in enumerate(section):
            if isinstance(item, Mapping):
                yield i, item


def _reference_errors(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Cross-entry checks: unique names, and keys/accounts naming accounts/groups that exist."""
    problems: list[tuple[Loc, str]] = []
    names: dict[str, set[str]] = {}
    for section in ("channels", "accounts", "keys"):
        seen = names[section] = set()
        for i, item in _items(data.get(section)):
            name = item.get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(((section, i, "name"), f"duplicate {section[:-1]} name {name!r}"))
                seen.add(name)
    groups = data.get("groups", {})
    if isinstance(groups, Mapping):
        known = {"default", *groups}
        for i, item in _items(data.get("accounts")):
            group = item.get("group", "default")
            if isinstance(group, str) and group not in known:
                message = f"unknown group {group!r}; groups: {', '.join(sorted(known))}"
                problems.append((("accounts", i, "group"), message))
    accounts = list(_items(data.get("accounts")))
    if all(isinstance(item.get("name"), str) for _, item in accounts):  # else the name error says enough
        for i, item in _items(data.get("keys")):
            account = item.get("account")
            if isinstance(account, str) and account != "default" and account not in names["accounts"]:
                problems.append((("keys", i, "account"), f"unknown account {account!r}"))
    return problems


def _position(data: object, loc: Loc) -> tuple[int, ...]:
    """Where `loc` sits in the document, so errors are listed top to bottom."""
    position: list[int] = []
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            position.append(list(data).index(part))
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            position.append(part)
            data = data[part]
        else:  # a missing field: after what is there
            return (*position, len(data) if isinstance(data, Mapping | list) else 0)
    return tuple(position)


def _format_loc(loc: Loc) -> str:
    """('channels', 0, 'api_key') -> 'channels[0].api_key'; odd keys are quoted: pricing['gpt-4.1']."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _render(loc: Loc, msg: str, from_env: Mapping[str, str], source: str) -> str:
    if not loc:
        return f"{source}: {msg}"
    origin = f" (from {from_env[str(loc[0])]})" if len(loc) == 1 and loc[0] in from_env else ""
    return f"{_format_loc(loc)}: {msg}{origin}"


# The settings an admin may change at run time (the `system_settings` table, edited on
# /ui/admin/settings): their names there, and where each sits in these settings.
RUNTIME_SETTINGS: dict[str, tuple[str, str]] = {
    "site_name": ("console", "site_name"),
    "announcement": ("console", "announcement"),
    "signup": ("console", "signup"),
    "new_account_credit_usd": ("console", "new_account_credit_usd"),
    "new_account_group": ("console", "new_account_group"),
    "topup_min_usd": ("payments", "min_usd"),
    "topup_max_usd": ("payments", "max_usd"),
}


def with_runtime(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """The file's settings with the stored run-time values over them; each section is checked
    again (ValidationError if a stored value does not fit)."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        where = RUNTIME_SETTINGS.get(name)
        if where is not None:
            sections.setdefault(where[0], {})[where[1]] = value
    update = {}
    for section, fields in sections.items():
        current = getattr(settings, section)
        update[section] = type(current).model_validate({**current.model_dump(), **fields})
    return settings.model_copy(update=update) if update else settings
