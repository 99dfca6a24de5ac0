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
    String,
    Table,
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
    Index("ix_usage_logs_created_at", "created_at"),
    Index("ix_usage_logs_key_created", "key_id", "created_at"),
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
