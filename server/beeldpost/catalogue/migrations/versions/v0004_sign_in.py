"""Sign-in's shared memory (access/throttle.py, access/sessions.py): failed sign-ins by
account name and by address, which slow the next try on every server; and sessions
signed out, whose cookie and tokens every server then refuses. As in the SQLite file's
journal schema.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.Text(collation="C"), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
    )
    op.create_table(
        "ended_sessions",
        sa.Column("session", sa.Text(collation="C"), primary_key=True),
        sa.Column("until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ended_sessions")
    op.drop_table("sign_in_failures")
