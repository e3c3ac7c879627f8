"""term (merged_into_id) index

Every term page lists the slugs merged into the term: without this index that read scans the
whole term table.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.create_index("ix_term_merged_into_id", ["merged_into_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.drop_index("ix_term_merged_into_id")
