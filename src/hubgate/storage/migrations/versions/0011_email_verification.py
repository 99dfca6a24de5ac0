"""Email verification for console sign-ups: when a user's address was confirmed, and
what a one-time link is for (a password reset, or confirming an address).

Every existing user counts as confirmed (at their creation).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")
    with op.batch_alter_table("password_resets") as batch:
        batch.add_column(sa.Column("purpose", sa.String(16), nullable=False, server_default="reset"))


def downgrade() -> None:
    with op.batch_alter_table("password_resets") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")
