"""Video generation tasks, and the billed units of non-token usage rows.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_tasks",
        sa.Column("id", sa.String(96), primary_key=True),  # our id, shown to the caller
        sa.Column("upstream_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("upstream_key_index", sa.Integer, nullable=False, server_default="0"),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("upstream_model", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # queued | in_progress | completed | failed
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", sa.Integer, nullable=True),
        sa.Column("size", sa.String(16), nullable=True),
        sa.Column("prompt", sa.Text, nullable=True),
        sa.Column("upstream", sa.JSON, nullable=True),  # the upstream's latest task object
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("hold_micros", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cost_micros", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("billed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("poll_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_video_tasks_key_created", "video_tasks", ["key_id", "created_at"])
    op.create_index("ix_video_tasks_status_poll", "video_tasks", ["status", "next_poll_at"])
    with op.batch_alter_table("usage_logs") as batch:
        batch.add_column(sa.Column("units", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("unit", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_logs") as batch:
        batch.drop_column("unit")
        batch.drop_column("units")
    op.drop_table("video_tasks")
