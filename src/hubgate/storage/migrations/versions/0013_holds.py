"""Hold leases: without Redis, each process leases chunks of a balance or key budget and
holds requests against its lease; `leased_micros` on accounts and keys is their sum.
`max_request_cost_micros` on accounts and keys caps the hold of a request that names no
output limit (null: the global `max_request_cost_usd`).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("accounts", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("leased_micros", sa.BigInteger, nullable=False, server_default="0"))
            # Caps the hold of a request that names no output limit (null: the global setting).
            batch.add_column(sa.Column("max_request_cost_micros", sa.BigInteger, nullable=True))
    op.create_table(
        "hold_leases",
        sa.Column("holder", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", "kind", "subject_id"),
    )
    op.create_index("ix_hold_leases_expires", "hold_leases", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_hold_leases_expires", table_name="hold_leases")
    op.drop_table("hold_leases")
    for table in ("api_keys", "accounts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("max_request_cost_micros")
            batch.drop_column("leased_micros")
