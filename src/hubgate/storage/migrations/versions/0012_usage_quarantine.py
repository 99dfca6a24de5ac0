"""Usage rows the database refused: kept aside with the error, so no row blocks the rows
behind it; and one usage row per request id, so a replayed journal never bills twice.

Request ids are gateway-made and unique, but an older log may hold repeats (imports,
tests): every repeat after the first gets its row id appended, so no row (and no money)
goes away.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_quarantine",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("row", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_usage_quarantine_created", "usage_quarantine", ["created_at"])
    # One sort of the log (a window function; NOT IN over a big log can go quadratic);
    # usually no row matches.
    op.execute(
        "UPDATE usage_logs SET request_id = substr(request_id, 1, 19) || '-' || CAST(id AS VARCHAR(20)) "
        "WHERE id IN (SELECT id FROM (SELECT id, "
        "ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY id) AS n FROM usage_logs) AS numbered "
        "WHERE n > 1)"
    )
    op.create_index("ux_usage_logs_request_id", "usage_logs", ["request_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_usage_logs_request_id", table_name="usage_logs")
    op.drop_table("usage_quarantine")
