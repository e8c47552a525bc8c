"""Indexes for the dashboard: live records by year; effective tags by origin

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.create_index("ix_record_live_year", ["duplicate_of", "deleted", "pub_year"],
                              unique=False)
    with op.batch_alter_table("record_label", schema=None) as batch_op:
        batch_op.create_index("ix_record_label_origin", ["origin", "record_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_label", schema=None) as batch_op:
        batch_op.drop_index("ix_record_label_origin")
    with op.batch_alter_table("record", schema=None) as batch_op:
        batch_op.drop_index("ix_record_live_year")
