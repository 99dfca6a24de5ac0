"""Request bodies and query strings of the admin API, as pydantic models.

Money comes in as USD, a decimal string or a JSON number, with at most six decimals
(one micro-dollar); it is converted to integer micro-dollars exactly. Unknown fields
are refused, so a typo is a 400 naming it rather than a silent no-op.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hubgate.settings import usd_to_micros
from hubgate.storage.admin_usage import GROUP_FIELDS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


def _aware(value: datetime | None) -> datetime | None:
    """Timestamps without an offset are UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range (e.g. 10.0.0.0/8)") from None


def _nonzero(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError("must not be zero")
    return value


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
KeyLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]  # a user's own key name
Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Usd = Annotated[Decimal, Field(allow_inf_nan=False, decimal_places=6, ge=-(10**12), le=10**12)]
PositiveUsd = Annotated[Decimal, Field(allow_inf_nan=False, decimal_places=6, gt=0, le=10**12)]
NonNegativeUsd = Annotated[Decimal, Field(allow_inf_nan=False, decimal_places=6, ge=0, le=10**12)]
Multiplier = Annotated[Decimal, Field(allow_inf_nan=False, decimal_places=6, ge=0, le=1000)]
PerMillion = Annotated[Decimal, Field(allow_inf_nan=False, decimal_places=6, ge=0, le=10**7)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Timestamp = Annotated[datetime | None, AfterValidator(_aware)]
Period = Literal["daily", "weekly", "monthly"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- accounts ------------------------------------------------------------------------------


class AccountCreate(_Body):
    """A prepaid account; `credit_usd` is its opening credit (a ledger row of kind "initial")."""

    name: Name
    group: Name = "default"
    limited: bool = Field(default=True, description="false: no balance limit")
    credit_usd: NonNegativeUsd = Decimal(0)
    max_request_cost_usd: NonNegativeUsd | None = Field(
        default=None, description="caps the hold of a request naming no output limit; null: the global"
    )


class AccountPatch(_Body):
    """Only the fields sent are changed; `"max_request_cost_usd": null` clears the cap."""

    group: Name | None = None
    disabled: bool | None = None
    limited: bool | None = None
    max_request_cost_usd: NonNegativeUsd | None = None


class AccountAdjust(_Body):
    """Credit (positive) or debit (negative) an account; written to its ledger."""

    amount_usd: Annotated[Usd, AfterValidator(_nonzero)]
    reference: Text | None = None


# --- redemption codes ------------------------------------------------------------------------


class CodesCreate(_Body):
    batch: Name
    count: int = Field(ge=1, le=1000)
    amount_usd: PositiveUsd
    expires_at: Timestamp = None


class Redeem(_Body):
    code: Text


# --- groups and pricing ----------------------------------------------------------------------


class GroupPut(_Body):
    multiplier: Multiplier = Field(description="price multiplier for the group's accounts")


class PricePut(_Body):
    """USD per 1M tokens; `per_request` in USD per call."""

    input: PerMillion
    output: PerMillion = Decimal(0)
    cached_input: PerMillion | None = None
    cache_write: PerMillion | None = None
    per_request: PerMillion | None = None


# --- console users and invites ----------------------------------------------------------------


class UserPatch(_Body):
    """Only the fields sent are changed. Disabling a user ends every session of theirs."""

    role: Literal["user", "admin"] | None = None
    disabled: bool | None = None


class InviteCreate(_Body):
    """A one-time sign-up code (for `console.signup: invite`); null `expires_in_hours`: never expires.
    With `email`, the sign-up link is also mailed there (needs `console.smtp`)."""

    expires_in_hours: float | None = Field(default=168, gt=0, le=24 * 366, allow_inf_nan=False)
    email: str | None = Field(default=None, pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}$")


class ResetLinkCreate(_Body):
    """`send_email`: also mail the link to the user (needs `console.smtp`); the body may be empty."""

    send_email: bool = False


# --- keys ------------------------------------------------------------------------------------


class KeyLimits(_Body):
    """What a key's own user may set too (the user API): models, budget, limits, expiry, IPs."""

    models: list[Text] | None = Field(default=None, description="allow-list; null: every model")
    budget_usd: NonNegativeUsd | None = None
    budget_period: Period | None = Field(default=None, description="null: the budget is for life")
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1, description="requests in flight at once")
    expires_at: Timestamp = None
    allowed_ips: list[Cidr] | None = Field(default=None, description="CIDR ranges; null: any address")


def key_columns(body: BaseModel, fields: set[str]) -> dict[str, Any]:
    """The key repository's column values for the settings a request sent (admin and user API)."""
    values: dict[str, Any] = {}
    for field in sorted(fields):
        value = getattr(body, field)
        if field in ("budget_usd", "max_request_cost_usd"):
            column = field.removesuffix("_usd") + "_micros"
            values[column] = usd_to_micros(value) if value is not None else None
        elif field in ("name", "account"):
            continue
        else:
            values[field] = list(value) if isinstance(value, list) else value
    return values


class _KeySettings(KeyLimits):
    price_multiplier: Multiplier | None = None
    max_request_cost_usd: NonNegativeUsd | None = Field(
        default=None, description="caps the hold of a request naming no output limit; null: the account's"
    )


class KeyCreate(_KeySettings):
    name: Name
    account: Name | None = Field(default=None, description="null: the built-in default account")


class KeyPatch(_KeySettings):
    """Only the fields sent are changed; send null to clear one (e.g. `"budget_usd": null`)."""


# --- queries ---------------------------------------------------------------------------------


class PageQuery(_Body):
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: int | None = Field(default=None, ge=1, description="next_cursor of the previous page")


class AccountsQuery(PageQuery):
    group: str | None = None


class KeysQuery(PageQuery):
    account: str | None = None


class CodesQuery(PageQuery):
    batch: str | None = None


class UsersQuery(PageQuery):
    email: str | None = None
    account: str | None = Field(default=None, description="account name")


class AuditQuery(PageQuery):
    action: str | None = Field(default=None, description="e.g. keys.create")
    target: str | None = None


class _UsageFilter(_Body):
    key: str | None = None
    model: str | None = None
    channel: str | None = None
    since: Timestamp = Field(default=None, description="ISO 8601, inclusive")
    until: Timestamp = Field(default=None, description="ISO 8601, exclusive")


class UsageQuery(_UsageFilter):
    group_by: str = Field(
        default="key,model", description="comma-separated: key, model, channel, day, account"
    )
    limit: int = Field(default=1000, ge=1, le=10_000)

    @field_validator("group_by")
    @classmethod
    def _fields(cls, value: str) -> str:
        fields = [f.strip() for f in value.split(",") if f.strip()]
        unknown = [f for f in fields if f not in GROUP_FIELDS]
        if unknown:
            raise ValueError(f"unknown grouping {', '.join(unknown)}; use {', '.join(GROUP_FIELDS)}")
        return ",".join(dict.fromkeys(fields))

    @property
    def fields(self) -> list[str]:
        return self.group_by.split(",") if self.group_by else []


class LogsQuery(_UsageFilter, PageQuery):
    status: int | None = Field(default=None, ge=100, le=599)


class BillingUsageQuery(BaseModel):
    """The legacy dashboard's query; other parameters are ignored, as OpenAI did."""

    start_date: date | None = Field(default=None, description="YYYY-MM-DD; default: the 1st of this month")
    end_date: date | None = Field(default=None, description="YYYY-MM-DD, exclusive; default: tomorrow")
