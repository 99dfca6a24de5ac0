"""Channels: consecutive failed checks, and when and why one was switched off automatically;
the run-time settings an admin changed (`system_settings`); on SQLite, API key ids are never
reused once a key is deleted.

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
    if op.get_bind().dialect.name == "sqlite":
        # A deleted key's id must never go to a new key (usage rows keep it): AUTOINCREMENT.
        with op.batch_alter_table("api_keys", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("failed_checks", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("auto_disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("auto_disabled_reason", sa.String(512), nullable=True))
    op.create_table(
        "system_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("system_settings")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("auto_disabled_reason")
        batch.drop_column("auto_disabled_at")
        batch.drop_column("failed_checks")
