"""Admin API: group multipliers and model prices set at run time, over the config file's.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_PRICE = sa.Numeric(14, 6)


def upgrade() -> None:
    op.create_table(
        "group_multipliers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("multiplier", sa.Numeric(12, 6), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "price_overrides",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("input", _PRICE, nullable=False),
        sa.Column("output", _PRICE, nullable=False),
        sa.Column("cached_input", _PRICE, nullable=True),
        sa.Column("cache_write", _PRICE, nullable=True),
        sa.Column("per_request", _PRICE, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("price_overrides")
    op.drop_table("group_multipliers")
