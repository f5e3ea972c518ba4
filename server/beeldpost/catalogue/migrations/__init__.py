"""The PostgreSQL schema of the journal and the catalogue index, as Alembic migrations.

A server that opens a PostgreSQL database (database.py) brings it to the head
revision first: `upgrade()`, with a configuration made here in code (no alembic.ini).
A database already at the head costs one query; otherwise the migrations run in one
transaction holding an advisory lock, so of several servers opening a new database
at once one migrates and the others find it done. SQLite keeps its own
create-or-rebuild (journal.SCHEMA, index.VERSION).

A change to the tables is a new revision in versions/ (`down_revision` the one before)
and a new HEAD below; a revision is history and imports nothing of Beeldpost.

May import: alembic, sqlalchemy, psycopg; nothing of beeldpost.
"""

from __future__ import annotations

from pathlib import Path

REVISIONS = ("0001", "0002", "0003", "0004")  # those in versions/, oldest first
HEAD = REVISIONS[-1]
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 0x6265656C64706F74  # ("beeldpot"): the writers' lock is another
FOLDER = Path(__file__).resolve().parent


def current(conninfo: str, connect_timeout: int) -> str | None:
    """The database's revision (None: none yet)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout) as db:
        if db.execute(f"SELECT to_regclass('{VERSION_TABLE}') IS NULL").fetchone()[0]:
            return None
        row = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        return row[0] if row else None


def upgrade(conninfo: str, connect_timeout: int = 5) -> None:
    """Bring the database at `conninfo` (a libpq URL) to HEAD. Errors are psycopg's."""
    found = current(conninfo, connect_timeout)
    if found == HEAD:
        return
    if found is not None and found not in REVISIONS:  # migrated by a newer server
        import psycopg

        raise psycopg.errors.FeatureNotSupported(
            f"the catalogue's tables are at revision {found}, which this server does not "
            f"know (it has up to {HEAD}): upgrade it")
    import sqlalchemy
    from alembic import command
    from alembic.config import Config

    url = "postgresql+psycopg://" + conninfo.split("://", 1)[1]
    arguments = {} if "connect_timeout" in conninfo else {"connect_timeout": connect_timeout}
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args=arguments)
    config = Config()
    config.set_main_option("script_location", str(FOLDER).replace("%", "%%"))
    config.set_main_option("version_table", VERSION_TABLE)
    try:
        with engine.begin() as connection:
            # Of several servers opening a new database, one migrates; the others wait
            # here and then find it at HEAD (each statement sees the latest commit).
            connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sqlalchemy.exc.DBAPIError as error:
        raise error.orig from None
    finally:
        engine.dispose()
