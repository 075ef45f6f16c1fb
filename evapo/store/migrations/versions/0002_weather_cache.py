"""Weather cache of fetched source days (evapo.store.cache).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:45:19.830281
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "weather_cache",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("lat_key", sa.Integer(), nullable=False),
        sa.Column("lon_key", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("layout", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("source", "lat_key", "lon_key", "month"),
    )


def downgrade() -> None:
    op.drop_table("weather_cache")
