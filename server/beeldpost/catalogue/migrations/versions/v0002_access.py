"""Access tiers in the catalogue index, as SQLite's index.VERSION 3: each item's tier
and the day its closure ends (tiers.py).

Items indexed before this revision were indexed without tiers: a record with
`max_size` is `capped` (as it is read now), every other one `open`; no record had a
closure yet.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("access", sa.Text(collation="C"), nullable=False,
                                     server_default="open"))
    op.add_column("items", sa.Column("restricted_until", sa.Text(collation="C"), nullable=True))
    op.execute("UPDATE items SET access = 'capped' WHERE max_size IS NOT NULL")


def downgrade() -> None:
    for column in ("restricted_until", "access"):
        op.drop_column("items", column)
