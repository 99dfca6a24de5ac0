"""Online top-up: one `payments` row per Stripe Checkout Session or EPay order; the unique
(provider, payment_ref) index and the pending -> paid update credit each payment once.

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(40), nullable=False, unique=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("bonus_micros", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("charge", sa.String(32), nullable=False),
        sa.Column("session_ref", sa.String(255), nullable=True),
        sa.Column("payment_ref", sa.String(128), nullable=True),
        sa.Column("refund_ref", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ux_payments_provider_ref", "payments", ["provider", "payment_ref"], unique=True)
    op.create_index("ix_payments_account_created", "payments", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_payments_account_created", table_name="payments")
    op.drop_index("ux_payments_provider_ref", table_name="payments")
    op.drop_table("payments")
