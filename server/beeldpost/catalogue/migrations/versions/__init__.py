"""The revisions, oldest first (Alembic reads them; nothing imports them).

May import: alembic, sqlalchemy; nothing of beeldpost.
"""
