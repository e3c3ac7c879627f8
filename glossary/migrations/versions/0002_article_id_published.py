"""article (id, published) index

The term page lists the articles citing a term newest first: with this index the date of each
citing article is read from the index instead of from its row, which holds the whole text.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.create_index("ix_article_id_published", ["id", "published"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_index("ix_article_id_published")
