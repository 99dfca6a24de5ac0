"""Channels managed at run time: full settings, sealed secrets, last test result.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("settings", sa.JSON, nullable=True))
        batch.add_column(sa.Column("secrets_enc", sa.Text, nullable=True))
        batch.add_column(sa.Column("last_test_status", sa.Integer, nullable=True))
        batch.add_column(sa.Column("last_test_latency_ms", sa.Integer, nullable=True))
        batch.add_column(sa.Column("last_test_error", sa.String(512), nullable=True))
        batch.add_column(sa.Column("last_tested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        for name in (
            "last_tested_at", "last_test_error", "last_test_latency_ms", "last_test_status",
            "secrets_enc", "settings",
        ):  # fmt: skip
            batch.drop_column(name)
