"""Alembic's environment: the migrations run on the connection upgrade() gives
(migrations/__init__.py), inside its transaction."""

from alembic import context


def run() -> None:
    config = context.config
    context.configure(connection=config.attributes["connection"],
                      version_table=config.get_main_option("version_table") or "alembic_version")
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # run by Alembic (not merely imported, as the layout test does)
    run()
