"""Billing: accounts, the credit ledger, redemption codes, key budgets per period,
richer usage rows, and the admin audit log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("group_name", sa.String(64), nullable=False, server_default="default"),
        sa.Column("limited", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("balance_micros", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "credit_ledger",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_credit_ledger_account", "credit_ledger", ["account_id", "created_at"])
    op.create_table(
        "redemption_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("code_prefix", sa.String(16), nullable=False),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("redeemed_at", _TS, nullable=True),
        sa.Column("redeemed_by", sa.Integer, nullable=True),
    )
    op.create_index("ix_redemption_codes_batch", "redemption_codes", ["batch"])
    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(16), nullable=True))
        batch.add_column(sa.Column("period_spent_micros", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("period_started_at", _TS, nullable=True))
        batch.add_column(sa.Column("price_multiplier", sa.Numeric(12, 6), nullable=True))
        batch.add_column(sa.Column("allowed_ips", sa.JSON, nullable=True))
    with op.batch_alter_table("usage_logs") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("reasoning_tokens", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("estimated", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_usage_logs_model_created", "usage_logs", ["model", "created_at"])
    op.create_index("ix_usage_logs_account_created", "usage_logs", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_logs_account_created", "usage_logs")
    op.drop_index("ix_usage_logs_model_created", "usage_logs")
    with op.batch_alter_table("usage_logs") as batch:
        for name in ("estimated", "reasoning_tokens", "cache_write_tokens", "account_id"):
            batch.drop_column(name)
    with op.batch_alter_table("api_keys") as batch:
        for name in (
            "allowed_ips", "price_multiplier", "period_started_at", "period_spent_micros",
            "budget_period", "account_id",
        ):  # fmt: skip
            batch.drop_column(name)
    op.drop_table("audit_log")
    op.drop_table("redemption_codes")
    op.drop_table("credit_ledger")
    op.drop_table("accounts")
