"""The `beeldpost` command: ingest, check, import, serve."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from .app import make_journal, make_record_store, watched_folders
from .errors import BeeldpostError
from .image.service import ImageService
from .presentation.manifests import ImageFacts, Urls, build_manifest
from .settings import S3Url, ServerSettings, Settings, markdown_table


def _progress(done: int, total: int, label: str, started: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    elapsed = time.monotonic() - started
    line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f}s {label[:40]:<40}"
    sys.stderr.write(line)
    sys.stderr.flush()


def ingest(settings: Settings, identifiers: list[str] | None = None, jobs: int | None = None,
           edges: bool = False) -> int:
    """Build every missing pyramidal derivative now, on every core, so no visitor waits
    for one. Stopped, it can be run again: what was built stays built."""
    from .image.ingest import ingest as build_all

    if edges and isinstance(settings.cache_dir, S3Url):
        sys.stderr.write("--edges: pyramids in a bucket are not changed in place; "
                         "their edge tiles are cut per request until they are rebuilt\n")
        return 2
    wanted = identifiers or ImageService(settings).catalog.identifiers()
    show = _rated_progress()
    report = build_all(settings, wanted, jobs, lambda done, total: show("images", done, total),
                       edges=edges)
    for identifier, why in sorted(report.failed.items()):
        sys.stderr.write(f"{identifier}: {why}\n")
    ready = report.built + report.present
    sys.stderr.write(f"{ready} of {report.total} images ready in {settings.cache_dir} "
                     f"({report.built} built now, {report.present} before"
                     f"{f', {report.edged} of them given their edge tiles' if edges else ''})"
                     f"{f', {len(report.failed)} failed' if report.failed else ''}\n")
    for reason, count, some in report.reasons():
        sys.stderr.write(f"  {count} × {reason} (e.g. {', '.join(some)})\n")
    if report.interrupted:
        sys.stderr.write("interrupted: run `beeldpost ingest` again to build the rest\n")
        return 130
    if not identifiers:  # a full ingest also brings the Change Discovery journal up to date
        journal(settings, quiet=True)
    return 1 if report.failed else 0


def watch(settings: Settings) -> int:
    """Keep the catalogue current until stopped: what a server's process does itself."""
    import signal

    from .catalogue.watcher import Watcher

    store = make_journal(settings)
    watcher = Watcher(store.scan, watched_folders(settings),
                      settings.local_cache_dir / "catalogue-writer.lock", settings.scan_interval,
                      events=settings.watch, due=store.listing_due)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    watcher.start()
    sys.stderr.write(f"watching {settings.manifests_dir} and {settings.images_dir} "
                     f"(a scan at least every {settings.scan_interval:g} s); Ctrl-C stops\n")
    stopping.wait()
    watcher.stop()
    return 0


def journal(settings: Settings, quiet: bool = False) -> int:
    """Compare the records with the activity journal now and print what it recorded."""
    store = make_journal(settings)
    try:
        written = store.scan()
    except BeeldpostError as error:
        sys.stderr.write(f"journal: {error.message}\n")
        return 1
    if not quiet:
        for activity in written:
            print(f"{activity.end_time}  {activity.type:6}  {activity.kind:10}  {activity.item}")
    sys.stderr.write(f"{len(written)} new activities, {store.count()} in {store.database}\n")
    return 0


def check(settings: Settings) -> int:
    """Check every record in the manifests folder; one line per problem, exit 1 on any.

    Records are checked against their images as the server would serve them, so
    missing derivatives are built first (as `ingest` would). Each valid record's
    manifest is also built, which checks it against the Presentation 3 models.
    """
    images = ImageService(settings)
    records = make_record_store(settings, images)
    # The store logs each broken record as a warning for the server's log; here the
    # problems are the output itself, printed once below.
    records_log = logging.getLogger("beeldpost.catalogue.records")
    level = records_log.level
    records_log.setLevel(logging.ERROR)
    try:
        valid, broken = records.load_all()
    finally:
        records_log.setLevel(level)
    problems = [str(problem) for error in broken for problem in error.problems]
    urls = Urls(settings.public_base_url or "http://localhost")
    buildable = 0
    for record in valid:
        try:
            build_manifest(record, ImageFacts.of(images, record.image), urls)
            buildable += 1
        except ValidationError as error:
            problems.append(f"{record.file}: (manifest): does not make a valid manifest: "
                            f"{str(error).splitlines()[0]}")
    for line in problems:
        print(line)
    total = len(valid) + len(broken)
    sys.stderr.write(f"{buildable} of {total} records in {settings.manifests_dir} are fine\n")
    return 1 if problems else 0


# Imports of fewer rows are over before a progress bar would say anything.
PROGRESS_ROWS = 200


def import_export(settings: Settings, export: Path, mapping: Path | None = None, *,
                  apply: bool = False, delete_missing: bool = False,
                  overwrite_edited: bool = False) -> int:
    """Turn a CSV export into records, one per row: a dry run unless `apply`.

    Problems (by row and column), records kept because they were changed by hand, and
    notes go to stdout, one line each; the counts to stderr. Exit status 1 on any problem.
    """
    from .catalogue import importer
    from .image.sources import SourceCatalog

    try:
        columns_map = importer.read_mapping(mapping) if mapping else {}
        data = importer.read_export(export)
        columns = importer.map_columns(data.columns, columns_map, data.name)
    except importer.ExportError as error:
        for problem in error.problems:
            print(problem)
        sys.stderr.write(f"{Path(export).name}: nothing imported\n")
        return 1
    progress = _rated_progress() if len(data.rows) >= PROGRESS_ROWS else None
    plan = importer.plan_import(data, columns, settings.manifests_dir,
                                SourceCatalog(settings.images_dir),
                                overwrite_edited=overwrite_edited,
                                delete_missing=delete_missing, progress=progress)
    if apply:
        importer.apply_plan(plan, progress)
    for line in importer.report(plan):
        print(line)
    sys.stderr.write(importer.summary(plan, applied=apply) + f" (in {settings.manifests_dir})\n")
    return 1 if plan.problems else 0


def _rated_progress() -> Callable[[str, int, int], None]:
    """A progress bar per phase in the style of _progress, with the rate and the time left."""
    started: dict[str, float] = {}
    shown = [0.0]

    def show(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        began = started.setdefault(phase, now)
        if done < total and now - shown[0] < 0.1:
            return
        shown[0] = now
        rate = done / (now - began) if now > began else 0.0
        left = (total - done) / rate if rate else 0.0
        _progress(done, total, f"{phase} {rate:,.0f}/s, {left:,.0f}s left", began)
        if done == total:
            sys.stderr.write("\n")

    return show


def users(settings: Settings, action: str, name: str | None, password_stdin: bool) -> int:
    """Staff accounts in the catalogue's database (every server of a cluster knows them)."""
    from .access.accounts import AccountError, Accounts
    from .catalogue.journal import CatalogueDatabase, JournalUnavailable, journal_database

    accounts = Accounts(CatalogueDatabase(journal_database(settings)))
    try:
        if action == "list":
            for account in accounts.list():
                print(f"{account.name:40}  since {account.created}  password of {account.changed}")
            return 0
        if action == "remove":
            accounts.remove(name)
            sys.stderr.write(f"account {name!r} removed\n")
            return 0
        password = _new_password(password_stdin)
        if action == "add":
            accounts.add(name, password)
            sys.stderr.write(f"account {name!r} added\n")
        else:
            accounts.set_password(name, password)
            sys.stderr.write(f"password of {name!r} changed\n")
        return 0
    except (AccountError, JournalUnavailable) as error:
        sys.stderr.write(f"users: {error.message}\n")
        return 1


def _new_password(from_stdin: bool) -> str:
    """A new password: one line of standard input, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("The same again: ") != first:
        raise SystemExit("users: the two passwords differ; nothing changed")
    return first


def serve(host: str, port: int, workers: int | None) -> int:
    """Run gunicorn with the production settings in beeldpost/http/gunicorn_conf.py."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
    if gunicorn is None:
        sys.stderr.write("gunicorn is not installed (pip install beeldpost installs it)\n")
        return 2
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    # glibc gives every thread its own malloc arena by default; with 24 threads per
    # worker and libvips' large short-lived buffers that fragments memory and makes
    # RSS creep. Two arenas keep it flat. (Read at process start, hence set here.)
    os.environ.setdefault("MALLOC_ARENA_MAX", str(ServerSettings.from_env().malloc_arena_max))
    if workers:
        os.environ["WEB_CONCURRENCY"] = str(workers)
    arguments = [gunicorn, "--config", "python:beeldpost.http.gunicorn_conf", "beeldpost:create_app()"]
    os.execv(gunicorn, arguments)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beeldpost", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_parser = commands.add_parser("ingest", help="build pyramidal derivatives ahead of time")
    ingest_parser.add_argument("identifiers", nargs="*", help="only these (default: all)")
    ingest_parser.add_argument("--jobs", type=int, default=None,
                               help="processes building at once (default: one per core)")
    ingest_parser.add_argument("--edges", action="store_true",
                               help="also give pyramids built before edge tiles were kept cut "
                                    "their cut edges (a copy of each, renamed into place)")
    commands.add_parser("check", help="check every record in the manifests folder")
    commands.add_parser("journal", help="record changed records as Change Discovery activities")
    commands.add_parser("watch", help="keep the catalogue current from file events until stopped")
    import_parser = commands.add_parser(
        "import", help="turn a CSV export into records, one per row (a dry run unless --apply)",
        description="Turn a collection management system's CSV export into item records, "
                    "one per row, in the manifests folder. A dry run unless --apply: it "
                    "says what would change and lists every problem by row and column. "
                    "manifests/README.md explains the columns and the rules.")
    import_parser.add_argument("export", type=Path, help="the CSV file")
    import_parser.add_argument("--mapping", type=Path,
                               help="a YAML file naming the field of other columns "
                                    "(\"Titel (NL)\": label.nl)")
    import_parser.add_argument("--apply", action="store_true",
                               help="write the records (default: a dry run)")
    import_parser.add_argument("--delete-missing", action="store_true",
                               help="delete records this export made earlier whose ids it "
                                    "no longer has")
    import_parser.add_argument("--overwrite-edited", action="store_true",
                               help="overwrite (or delete) records changed by hand")
    users_parser = commands.add_parser(
        "users", help="staff accounts: add, remove, list, passwd",
        description="Staff accounts, kept in the catalogue's database (BEELDPOST_DATABASE_URL, "
                    "or the SQLite file), so every server knows them. A password is asked "
                    "twice, or read as one line of standard input with --password-stdin.")
    users_parser.add_argument("action", choices=("add", "remove", "list", "passwd"))
    users_parser.add_argument("name", nargs="?", help="the account's name (not for list)")
    users_parser.add_argument("--password-stdin", action="store_true",
                              help="read the password as one line of standard input")
    serve_parser = commands.add_parser("serve", help="serve with gunicorn")
    serve_parser.add_argument("--host", help="address to listen on (default: HOST, 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: PORT, 8000)")
    serve_parser.add_argument("--workers", type=int, default=None)
    settings_parser = commands.add_parser("settings",
                                          help="list the settings and their environment variables")
    settings_parser.add_argument("--markdown", action="store_true",
                                 help="print the README's configuration table instead")
    arguments = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        server = ServerSettings.from_env()
    except ValueError as error:
        parser.error(str(error))
    if arguments.command == "ingest":
        return ingest(settings, arguments.identifiers, arguments.jobs, arguments.edges)
    if arguments.command == "check":
        return check(settings)
    if arguments.command == "journal":
        return journal(settings)
    if arguments.command == "watch":
        return watch(settings)
    if arguments.command == "import":
        return import_export(settings, arguments.export, arguments.mapping,
                             apply=arguments.apply, delete_missing=arguments.delete_missing,
                             overwrite_edited=arguments.overwrite_edited)
    if arguments.command == "users":
        if arguments.action != "list" and not arguments.name:
            parser.error(f"users {arguments.action} needs the account's name")
        return users(settings, arguments.action, arguments.name, arguments.password_stdin)
    if arguments.command == "serve":
        return serve(arguments.host or server.host, arguments.port or server.port, arguments.workers)
    if arguments.markdown:
        sys.stdout.write(markdown_table())
        return 0
    for group in (settings, server):
        for name, variable, _default, description in group.documented():
            print(f"{variable:32} {_shown(name, getattr(group, name))!s:40} {description}")
    return 0


def _shown(name: str, value: object) -> object:
    """A setting's value as `beeldpost settings` prints it: what this machine will use."""
    from .catalogue.database import safe_url
    from .image.admission import memory_for, slots_for

    if value is None:  # sized for the machine when not set, as the server takes them
        if name == "render_memory":
            return f"{memory_for(None) // 2**20}M (sized for this machine)"
        if name == "heavy_slots":
            return f"{slots_for(None)} (one per usable core)"
        return "none"
    if name == "database_url" and value:  # never a password on the screen
        return safe_url(value)
    if name == "secret" and value:  # nor the key that signs sessions
        return "(set)"
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return value


if __name__ == "__main__":
    sys.exit(main())
