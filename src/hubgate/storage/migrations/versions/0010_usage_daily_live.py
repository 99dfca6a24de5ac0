"""Daily usage roll-ups kept current: the usage writer adds every batch to `usage_daily`
in the transaction that inserts its rows, so reports over months read a few thousand
roll-up rows instead of scanning the log. Retention now only deletes old log rows.

The table is rebuilt with one row per (day, key, account, model, channel), a primary
key the writer upserts on (no NULLs: 0 and '' stand for "none"), filled from the old
roll-ups (days retention removed) plus every log row still kept; `usage_daily_models`
holds the same sums per (day, model, channel) only.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

GROUP = ("day", "key_id", "key_name", "account_id", "model", "channel")
SUMS = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micros",
)
TOKENS = SUMS[2:]


def _day_of_created() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "to_char(timezone('UTC', created_at), 'YYYY-MM-DD')"
    return "date(created_at)"


def _logs_as_daily() -> str:
    """Every kept log row as a one-request roll-up row."""
    return (
        f"SELECT {_day_of_created()} AS day, COALESCE(key_id, 0) AS key_id, "
        "COALESCE(key_name, '') AS key_name, "
        "COALESCE(account_id, 0) AS account_id, COALESCE(model, '') AS model, "
        "COALESCE(channel, '') AS channel, 1 AS requests, "
        "CASE WHEN status >= 400 THEN 1 ELSE 0 END AS errors, "
        + ", ".join(f"COALESCE({c}, 0) AS {c}" for c in TOKENS)
        + " FROM usage_logs"
    )


def upgrade() -> None:
    op.drop_index("ix_usage_daily_key_day", table_name="usage_daily")
    op.drop_index("ix_usage_daily_day", table_name="usage_daily")
    op.rename_table("usage_daily", "usage_daily_0007")
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(10), nullable=False),  # YYYY-MM-DD, UTC
        sa.Column("key_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("key_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("account_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("model", sa.String(128), nullable=False, server_default=""),
        sa.Column("channel", sa.String(64), nullable=False, server_default=""),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in SUMS),
        sa.PrimaryKeyConstraint(*GROUP, name="pk_usage_daily"),
    )
    old = (
        "SELECT day, COALESCE(key_id, 0) AS key_id, COALESCE(key_name, '') AS key_name, "
        "COALESCE(account_id, 0) AS account_id, COALESCE(model, '') AS model, "
        "COALESCE(channel, '') AS channel, " + ", ".join(SUMS) + " FROM usage_daily_0007"
    )
    group = ", ".join(GROUP)
    op.execute(
        f"INSERT INTO usage_daily ({group}, {', '.join(SUMS)}) "
        f"SELECT {group}, {', '.join(f'SUM({s})' for s in SUMS)} "
        f"FROM ({old} UNION ALL {_logs_as_daily()}) AS u GROUP BY {group}"
    )
    op.drop_table("usage_daily_0007")
    op.create_index("ix_usage_daily_key_day", "usage_daily", ["key_id", "day"])
    op.create_index("ix_usage_daily_account_day", "usage_daily", ["account_id", "day"])
    # The same per (day, model, channel) only, for reports by model or channel over all keys.
    op.create_table(
        "usage_daily_models",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("model", sa.String(128), nullable=False, server_default=""),
        sa.Column("channel", sa.String(64), nullable=False, server_default=""),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in SUMS),
        sa.PrimaryKeyConstraint("day", "model", "channel", name="pk_usage_daily_models"),
    )
    op.execute(
        f"INSERT INTO usage_daily_models (day, model, channel, {', '.join(SUMS)}) "
        f"SELECT day, model, channel, {', '.join(f'SUM({s})' for s in SUMS)} "
        "FROM usage_daily GROUP BY day, model, channel"
    )
    # Planner statistics for the new tables now: without them PostgreSQL guesses that a third
    # of a table is "today" and scans it all (measured: 0.76 s instead of 0.07 s on 2M roll-ups).
    op.execute("ANALYZE usage_daily")
    op.execute("ANALYZE usage_daily_models")


def downgrade() -> None:
    """Back to roll-ups of removed rows only: each day's totals minus the log rows still kept."""
    op.drop_table("usage_daily_models")
    op.drop_index("ix_usage_daily_account_day", table_name="usage_daily")
    op.drop_index("ix_usage_daily_key_day", table_name="usage_daily")
    op.rename_table("usage_daily", "usage_daily_0010")
    op.create_table(
        "usage_daily",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=True),
        sa.Column("key_name", sa.String(64), nullable=True),
        sa.Column("account_id", sa.Integer, nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in SUMS),
    )
    group = ", ".join(GROUP)
    kept = f"SELECT {group}, " + ", ".join(f"SUM({s}) AS {s}" for s in SUMS)
    kept += f" FROM ({_logs_as_daily()}) AS l GROUP BY {group}"
    on = " AND ".join(f"l.{g} = d.{g}" for g in GROUP)
    left = ", ".join(f"d.{s} - COALESCE(l.{s}, 0)" for s in SUMS)
    op.execute(
        f"INSERT INTO usage_daily (day, key_id, key_name, account_id, model, channel, {', '.join(SUMS)}) "
        "SELECT d.day, NULLIF(d.key_id, 0), NULLIF(d.key_name, ''), NULLIF(d.account_id, 0), "
        f"NULLIF(d.model, ''), NULLIF(d.channel, ''), {left} "
        f"FROM usage_daily_0010 AS d LEFT JOIN ({kept}) AS l ON {on} "
        "WHERE d.requests - COALESCE(l.requests, 0) > 0"
    )
    op.drop_table("usage_daily_0010")
    op.create_index("ix_usage_daily_day", "usage_daily", ["day"])
    op.create_index("ix_usage_daily_key_day", "usage_daily", ["key_id", "day"])
