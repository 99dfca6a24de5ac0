"""Table definitions shared by the repositories and the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
BigId = BigInteger().with_variant(Integer(), "sqlite")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("account", String(64), nullable=True),
    Column("models", JSON, nullable=True),
    Column("budget_micros", BigInteger, nullable=True),
    Column("spent_micros", BigInteger, nullable=False, server_default="0"),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("source", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("account_id", Integer, nullable=True),
    Column("budget_period", String(16), nullable=True),  # daily | weekly | monthly | None (lifetime)
    Column("period_spent_micros", BigInteger, nullable=False, server_default="0"),
    Column("period_started_at", DateTime(timezone=True), nullable=True),
    Column("price_multiplier", Numeric(12, 6), nullable=True),
    Column("allowed_ips", JSON, nullable=True),
    Column("max_concurrency", Integer, nullable=True),
    Column("leased_micros", BigInteger, nullable=False, server_default="0"),  # open hold leases (0013)
    Column("max_request_cost_micros", BigInteger, nullable=True),  # caps an uncapped request's hold (0013)
    sqlite_autoincrement=True,  # a deleted key's id is never reused: its usage rows keep it (0017)
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("base_url", String(512), nullable=True),
    Column("models", JSON, nullable=False),
    Column("model_map", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("api_version", String(32), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("settings", JSON, nullable=True),  # admin channels: ChannelSettings without secrets
    Column("secrets_enc", Text, nullable=True),  # admin channels: sealed {"api_keys", "headers"}
    Column("last_test_status", Integer, nullable=True),
    Column("last_test_latency_ms", Integer, nullable=True),
    Column("last_test_error", String(512), nullable=True),
    Column("last_tested_at", DateTime(timezone=True), nullable=True),
    Column("failed_checks", Integer, nullable=False, server_default="0"),  # consecutive (0017)
    Column("auto_disabled_at", DateTime(timezone=True), nullable=True),  # switched off by its checks (0017)
    Column("auto_disabled_reason", String(512), nullable=True),
)

usage_logs = Table(
    "usage_logs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(40), nullable=False),
    Column("key_id", Integer, nullable=True),
    Column("key_name", String(64), nullable=True),
    Column("endpoint", String(32), nullable=False),
    Column("model", String(128), nullable=True),
    Column("upstream_model", String(128), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("status", Integer, nullable=False),
    Column("stream", Boolean, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("ttfb_ms", Integer, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("error", String(512), nullable=True),
    Column("account_id", Integer, nullable=True),
    Column("cache_write_tokens", Integer, nullable=False, server_default="0"),
    Column("reasoning_tokens", Integer, nullable=False, server_default="0"),
    Column("estimated", Boolean, nullable=False, server_default="0"),
    Column("units", BigInteger, nullable=False, server_default="0"),  # images, seconds, characters...
    Column("unit", String(16), nullable=True),  # what `units` counts; None for token-only rows
    Index("ix_usage_logs_created_at", "created_at"),
    Index("ix_usage_logs_key_created", "key_id", "created_at"),
    Index("ix_usage_logs_model_created", "model", "created_at"),
    Index("ix_usage_logs_account_created", "account_id", "created_at"),
    Index("ux_usage_logs_request_id", "request_id", unique=True),  # a replayed journal bills once
)

# Usage rows the database refused (after the batch was split down to them): the row's
# fields as JSON text and the error, so the rows behind them still land.
usage_quarantine = Table(
    "usage_quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_id", String(40), nullable=False),
    Column("row", Text, nullable=False),
    Column("error", Text, nullable=False),
    Index("ix_usage_quarantine_created", "created_at"),
)

responses = Table(
    "responses",
    metadata,
    Column("id", String(96), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("model", String(128), nullable=False),
    Column("input_items", JSON, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_responses_key_id", "key_id"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("group_name", String(64), nullable=False, server_default="default"),
    Column("limited", Boolean, nullable=False, server_default="1"),
    Column("balance_micros", BigInteger, nullable=False, server_default="0"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("source", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("leased_micros", BigInteger, nullable=False, server_default="0"),  # open hold leases (0013)
    Column("max_request_cost_micros", BigInteger, nullable=True),  # caps an uncapped request's hold (0013)
    Column("low_balance_mailed_at", DateTime(timezone=True), nullable=True),  # its people were told (0018)
)

system_settings = Table(  # run-time settings an admin changed, over the config file's (0017)
    "system_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=False),
    Column("amount_micros", BigInteger, nullable=False),  # credits positive, debits negative
    Column("kind", String(16), nullable=False),  # initial | credit | debit | redeem | topup | refund
    Column("reference", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_credit_ledger_account", "account_id", "created_at"),
)

redemption_codes = Table(
    "redemption_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("code_prefix", String(16), nullable=False),
    Column("batch", String(64), nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("redeemed_at", DateTime(timezone=True), nullable=True),
    Column("redeemed_by", Integer, nullable=True),
    Index("ix_redemption_codes_batch", "batch"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)

# --- admin API (migration 0004): runtime overrides of the config file's groups and pricing ---

group_multipliers = Table(
    "group_multipliers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("multiplier", Numeric(12, 6), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

price_overrides = Table(
    "price_overrides",
    metadata,
    Column("model", String(128), primary_key=True),  # USD per 1M tokens; per_request in USD
    Column("input", Numeric(14, 6), nullable=False),
    Column("output", Numeric(14, 6), nullable=False),
    Column("cached_input", Numeric(14, 6), nullable=True),
    Column("cache_write", Numeric(14, 6), nullable=True),
    Column("per_request", Numeric(14, 6), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# What every daily roll-up sums: requests, errors (status >= 400), then the token and cost sums.
ROLLUP_SUMS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micros",
)


def _rollup_sums() -> list[Column[int]]:
    return [Column(name, BigInteger, nullable=False, server_default="0") for name in ROLLUP_SUMS]


# One row per (UTC day, key, account, model, channel), kept current by the usage writer in
# the transaction that inserts the log rows (migration 0010); 0 and '' stand for "none".
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", String(10), nullable=False),  # YYYY-MM-DD, UTC
    Column("key_id", Integer, nullable=False, server_default="0"),
    Column("key_name", String(64), nullable=False, server_default=""),
    Column("account_id", Integer, nullable=False, server_default="0"),
    Column("model", String(128), nullable=False, server_default=""),
    Column("channel", String(64), nullable=False, server_default=""),
    *_rollup_sums(),
    PrimaryKeyConstraint(
        "day", "key_id", "key_name", "account_id", "model", "channel", name="pk_usage_daily"
    ),
    Index("ix_usage_daily_key_day", "key_id", "day"),
    Index("ix_usage_daily_account_day", "account_id", "day"),
)

# The same sums per (UTC day, model, channel) only: reports that neither filter nor group by
# key or account read this, a few rows a day whatever the number of keys (migration 0010).
usage_daily_models = Table(
    "usage_daily_models",
    metadata,
    Column("day", String(10), nullable=False),
    Column("model", String(128), nullable=False, server_default=""),
    Column("channel", String(64), nullable=False, server_default=""),
    *_rollup_sums(),
    PrimaryKeyConstraint("day", "model", "channel", name="pk_usage_daily_models"),
)

# --- video generation tasks (migration 0008) ---

video_tasks = Table(
    "video_tasks",
    metadata,
    Column("id", String(96), primary_key=True),
    Column("upstream_id", String(128), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("upstream_key_index", Integer, nullable=False, server_default="0"),
    Column("key_id", Integer, nullable=False),
    Column("account_id", Integer, nullable=True),
    Column("model", String(128), nullable=False),
    Column("upstream_model", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # queued | in_progress | completed | failed
    Column("progress", Integer, nullable=False, server_default="0"),
    Column("seconds", Integer, nullable=True),
    Column("size", String(16), nullable=True),
    Column("prompt", Text, nullable=True),
    Column("upstream", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    Column("hold_micros", BigInteger, nullable=False, server_default="0"),
    Column("cost_micros", BigInteger, nullable=False, server_default="0"),
    Column("billed", Boolean, nullable=False, server_default="0"),
    Column("poll_attempts", Integer, nullable=False, server_default="0"),
    Column("next_poll_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Index("ix_video_tasks_key_created", "key_id", "created_at"),
    Index("ix_video_tasks_status_poll", "status", "next_poll_at"),
)

# --- web console (migration 0009) ---

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("role", String(16), nullable=False),  # user | admin
    Column("account_id", Integer, nullable=False),
    Column("totp_secret_enc", Text, nullable=True),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("email_verified_at", DateTime(timezone=True), nullable=True),  # None: not confirmed (0011)
    Column(
        "language", String(16), nullable=True
    ),  # the console language chosen (zh_CN...); None: none (0018)
)

user_identities = Table(
    "user_identities",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("mfa_pending", Boolean, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(255), nullable=True),
    Index("ix_ui_sessions_user", "user_id"),
)

invites = Table(
    "invites",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("created_by", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("used_by", Integer, nullable=True),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("purpose", String(16), nullable=False, server_default="reset"),  # reset | verify (0011)
)

# --- hold leases (migration 0013): a process's share of a balance or budget, held locally ---

# `leased_micros` of the account (kind `a`) or key (`k`) is the sum of its rows here: what
# processes may still spend without asking the database; a lease past `expires_at` (its
# process died) is deleted and subtracted by any replica.
hold_leases = Table(
    "hold_leases",
    metadata,
    Column("holder", String(40), primary_key=True),  # one process: random, per start
    Column("kind", String(1), primary_key=True),  # a | k
    Column("subject_id", Integer, primary_key=True),
    Column("amount_micros", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_hold_leases_expires", "expires_at"),
)

# --- online top-up (migration 0015): one row per payment, credited exactly once ---

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(40), nullable=False, unique=True),  # ours: out_trade_no, metadata
    Column("account_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("provider", String(16), nullable=False),  # stripe | epay
    Column("method", String(16), nullable=False),  # card | alipay | wxpay | qqpay
    Column("status", String(16), nullable=False),  # pending | paid | refunding | refunded
    Column("amount_micros", BigInteger, nullable=False),  # the USD bought
    Column("bonus_micros", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),  # what the customer is charged in
    Column("charge", String(32), nullable=False),  # "73.00": in `currency`, as the provider states it
    Column("session_ref", String(255), nullable=True),  # Stripe's Checkout Session id
    Column("payment_ref", String(128), nullable=True),  # the provider's payment id (pi_..., EPay trade_no)
    Column("refund_ref", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("refunded_at", DateTime(timezone=True), nullable=True),
    Index("ux_payments_provider_ref", "provider", "payment_ref", unique=True),  # one credit per payment
    Index("ix_payments_account_created", "account_id", "created_at"),
)

# The model catalogue: what the gateway sells, as callers see it (GET /v1/models, /api/pricing,
# /ui/models). `prices` holds decimal strings: input/output/cached_input/cache_write in USD per
# 1M tokens, per_image, per_second and per_request (per task) in USD.
model_catalogue = Table(
    "model_catalogue",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("vendor", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("context_length", Integer, nullable=True),
    Column("max_output_tokens", Integer, nullable=True),
    Column("input_modalities", JSON, nullable=False),
    Column("output_modalities", JSON, nullable=False),
    Column("prices", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
