"""Users: the console language each one chose (`language`, a locale code such as `zh_CN`;
null: none chosen, the browser's applies), used for their pages and the mail sent to them;
accounts: when their people were mailed that the balance is low (`low_balance_mailed_at`;
null: not since it last fell).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("low_balance_mailed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("low_balance_mailed_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
