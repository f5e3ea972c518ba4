"""Staff accounts (access/accounts.py): a name and an Argon2id hash of its password, as
in the SQLite file's journal schema.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.Text(collation="C"), primary_key=True),
        sa.Column("password", sa.Text(collation="C"), nullable=False),
        sa.Column("created", sa.Text(collation="C"), nullable=False),
        sa.Column("changed", sa.Text(collation="C"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts")
