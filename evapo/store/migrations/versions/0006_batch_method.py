"""Reference ET method of a batch (method, reference, rso), as a job's spec has it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "batches",
        sa.Column("method", sa.String(length=16), server_default="fao56", nullable=False),
    )
    op.add_column(
        "batches",
        sa.Column("reference", sa.String(length=8), server_default="short", nullable=False),
    )
    op.add_column("batches", sa.Column("rso", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("batches", "rso")
    op.drop_column("batches", "reference")
    op.drop_column("batches", "method")
