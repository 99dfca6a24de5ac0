"""Channels: consecutive failed checks, and when and why one was switched off automatically.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("failed_checks", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("auto_disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("auto_disabled_reason", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("auto_disabled_reason")
        batch.drop_column("auto_disabled_at")
        batch.drop_column("failed_checks")
