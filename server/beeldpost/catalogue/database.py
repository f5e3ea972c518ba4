"""Where the journal and the catalogue index live: an SQLite file (embedded, the
default: nothing to run) or a PostgreSQL database that several servers share
(BEELDPOST_DATABASE_URL).

Both give the journal (journal.py) the same small interface:

- `prepare(sqlite_schema)`: make the tables, once per process. SQLite runs the
  journal's create-or-rebuild (`sqlite_schema`, index.VERSION in `user_version`);
  PostgreSQL upgrades its schema with its Alembic migrations (migrations/), once
  however many servers open it at the same time.
- `reading()`: a connection for reading (each statement reads the latest commit:
  SQLite's autocommit, psycopg's `autocommit=True`). SQLite gives each thread one of
  its own, kept open; PostgreSQL lends one of at most `readers` per process
  (BEELDPOST_DATABASE_CONNECTIONS; the event loop's thread has one more of its own),
  so that N servers of 2 workers and 24 threads stay within the server's
  `max_connections`. A connection that failed is dropped: the next read opens
  another (a database back after a restart is used again). A kept connection is
  checked before each loan (`alive`: one poll of its socket, which a server that
  restarted or ended the session has closed), and a loan's first statement that
  finds the connection cut is sent once more on a new one, so a restart of the
  database costs only the reads that were in flight.
- `writing()`: a connection inside one write transaction that holds the writers' lock
  from its start, so writers are serialised by the database itself: SQLite's
  `BEGIN IMMEDIATE`, PostgreSQL's `pg_advisory_xact_lock` (across every node). Either
  gives up after 30 seconds of waiting.
- `errors`: what the driver raises when the database cannot be reached or used.

A connection is spoken to as sqlite3's is: `execute(sql, parameters)` with `?`
placeholders and `LIMIT -1` for no limit, `executemany`, rows as tuples. On SQLite
that *is* sqlite3 (nothing in front of the hot read path but a class attribute,
`dialect`); on PostgreSQL a thin wrapper rewrites each statement once (cached) for
psycopg. Where a statement differs by dialect, the function that needs it keeps both
forms side by side, choosing by `db.dialect`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import select
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol
from urllib.parse import urlsplit, urlunsplit

# Every writer of one catalogue takes this lock first (PostgreSQL: across servers).
WRITE_LOCK = 0x6265656C64706F73  # "beeldpos"
# Seconds a writer waits for the writers' lock (SQLite: a statement for its lock).
LOCK_TIMEOUT = 30
# Seconds to reach a PostgreSQL server, else the journal is unavailable (a 503).
CONNECT_TIMEOUT = 5
# Seconds a read waits for one of its process's connections to PostgreSQL (a 503 after).
LEND_TIMEOUT = 5
# Reading connections per process to PostgreSQL, unless the settings say otherwise.
READERS = 3

POSTGRESQL_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")


class Connection(Protocol):
    """What the journal and the index use of a connection."""

    dialect: str

    def execute(self, sql: str, parameters: Any = ...) -> Any: ...

    def executemany(self, sql: str, rows: Any) -> Any: ...

    def close(self) -> None: ...


class Database(Protocol):
    dialect: str
    errors: tuple[type[BaseException], ...]
    path: Path | None  # the SQLite file

    def prepare(self, sqlite_schema: Callable[[sqlite3.Connection], None]) -> None: ...

    def connect(self) -> Connection: ...

    def reading(self) -> Any: ...

    def writing(self) -> Any: ...


def is_postgresql_url(target: object) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0] in POSTGRESQL_SCHEMES \
        and "://" in target


def open_database(target: "Database | Path | str", readers: int = READERS) -> "Database":
    """A database from a PostgreSQL URL (at most `readers` reading connections per
    process) or the path of an SQLite file (or as it is)."""
    if isinstance(target, (SqliteDatabase, PostgresDatabase)):
        return target
    if is_postgresql_url(target):
        return PostgresDatabase(str(target), readers)
    return SqliteDatabase(Path(target))


# --------------------------------------------------------------------------- SQLite


class SqliteConnection(sqlite3.Connection):
    """sqlite3's own connection, saying which database it is."""

    dialect = "sqlite"

    def alive(self) -> bool:
        return True  # a file: nothing to lose between reads

    def lent(self) -> "SqliteConnection":
        return self


class SqliteDatabase:
    """One file; WAL, so readers never wait for the writer; synchronous FULL."""

    dialect = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._kept = threading.local()

    def __str__(self) -> str:
        return str(self.path)

    def prepare(self, sqlite_schema: Callable[[sqlite3.Connection], None]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path, timeout=LOCK_TIMEOUT) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            sqlite_schema(setup)
        setup.close()

    def connect(self) -> SqliteConnection:
        connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None,
                                     factory=SqliteConnection)
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    @contextmanager
    def reading(self) -> Iterator[SqliteConnection]:
        """This thread's own connection, kept open: opening one costs more than the
        index lookups most requests make (a file has no limit on connections)."""
        yield from _kept_by_thread(self._kept, self.connect, self.errors)

    @contextmanager
    def writing(self) -> Iterator[SqliteConnection]:
        """One atomic transaction, holding SQLite's write lock from the start."""
        connection = self.connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()


# --------------------------------------------------------------------------- PostgreSQL

_LIMIT = re.compile(r"\bLIMIT \?")


@functools.lru_cache(maxsize=2048)
def _postgresql(sql: str) -> str:
    """A statement as the index writes it, for psycopg: `?` -> `%s` (no statement holds
    a `?` of its own), a literal `%` doubled, and `LIMIT ?` taking SQLite's negative
    limit (none) as PostgreSQL's NULL."""
    sql = _LIMIT.sub("LIMIT NULLIF(GREATEST(?::bigint, -1), -1)", sql.replace("%", "%%"))
    return sql.replace("?", "%s")


class PostgresConnection:
    """A psycopg connection (autocommit: each statement reads the latest commit).

    `reopen` (a reader's: the database): where a new session comes from
    (`open_raw()`, failing with one of its `errors`) when the first statement
    of a loan finds this one cut (`lent()` marks the loan's start). That statement
    has done nothing yet, so sending it again on a new connection is safe; a later
    one is not retried (the read in progress fails, and the connection is dropped)."""

    dialect = "postgresql"
    __slots__ = ("raw", "pid", "reopen", "_first", "__weakref__")

    def __init__(self, raw, reopen: Callable[[], Any] | None = None):
        self.raw = raw
        self.pid = os.getpid()
        self.reopen = reopen
        self._first = False
        _OPEN.add(self)

    def lent(self) -> "PostgresConnection":
        self._first = self.reopen is not None
        return self

    def execute(self, sql: str, parameters: Any = ()):
        if self._first:
            self._first = False
            try:
                return self.raw.execute(_postgresql(sql), parameters)
            except self.reopen.errors:  # type: ignore[union-attr]
                if not (self.raw.closed or self.raw.broken):
                    raise  # the statement failed, not the connection
                self._replace()
        return self.raw.execute(_postgresql(sql), parameters)

    def _replace(self) -> None:
        """A new session in place of one the server cut (a restart, an ended backend)."""
        _close_quietly(self, self.reopen.errors)  # type: ignore[union-attr]
        self.raw = self.reopen.open_raw()  # type: ignore[union-attr]
        self.pid = os.getpid()

    def executemany(self, sql: str, rows: Any) -> None:
        self._first = False
        with self.raw.cursor() as cursor:
            cursor.executemany(_postgresql(sql), rows)

    @property
    def usable(self) -> bool:
        return not (self.raw.closed or self.raw.broken) and self.pid == os.getpid()

    def alive(self) -> bool:
        """Whether this idle connection can be used: not closed, of this process, and
        with nothing waiting on its socket. An idle session in autocommit is sent
        nothing by the server, except that it is going away (a restart, a shutdown,
        pg_terminate_backend: an error message, then the socket's end), so a socket
        with something to read is one to drop (one poll: about a microsecond)."""
        if not self.usable:
            return False
        try:
            poller = select.poll()
            poller.register(self.raw.fileno(), select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except Exception:  # noqa: BLE001 -- a socket gone under us: not usable
            return False

    def close(self) -> None:
        if self.pid == os.getpid():  # never the socket of the process this one forked from
            self.raw.close()


_OPEN: "weakref.WeakSet[PostgresConnection]" = weakref.WeakSet()
_INHERITED: list = []


_POOLS: "weakref.WeakSet[ReaderPool]" = weakref.WeakSet()


def _after_fork() -> None:
    """A forked process shares its parent's sockets: its copies of the connections are
    kept, never finished (libpq's goodbye would end the parent's sessions), and it
    opens its own (the pools start empty; the writer checks the process id)."""
    _INHERITED.extend(connection.raw for connection in list(_OPEN))
    _OPEN.clear()
    for pool in list(_POOLS):
        pool.forget()


def _close_quietly(connection, errors) -> None:
    try:
        connection.close()
    except errors:
        pass


def _kept_by_thread(kept: threading.local, open_connection: Callable[[], Any],
                    errors: tuple[type[BaseException], ...]) -> Iterator[Any]:
    """The calling thread's own connection (`kept.own`; `kept.lent` while in use),
    opened on first use and kept open; one of another process (forked since) is never
    used, one that failed is closed and dropped, so that the next read opens another."""
    connection = getattr(kept, "own", None)
    if connection is None or getattr(kept, "pid", None) != os.getpid() \
            or not connection.alive():
        if connection is not None and getattr(kept, "pid", None) == os.getpid():
            _close_quietly(connection, errors)
        connection = kept.own = open_connection()
        kept.pid = os.getpid()
    kept.lent = connection.lent()
    try:
        yield connection
    except errors:
        kept.own = None
        _close_quietly(connection, errors)
        raise
    finally:
        kept.lent = None


class ReaderPool:
    """At most `size` connections, lent to one thread at a time and kept open between
    loans (most reads are one lookup of tens of microseconds, an open costs
    milliseconds). A thread that already holds one gets the same one again (a read
    inside a read never waits for itself). With every connection lent, a read waits
    up to `wait` seconds, then fails with `exhausted`. A thread running an event loop
    (the ASGI worker's, answering stored tiles) must never wait behind a slow search:
    it keeps one connection of its own, beside the `size`.

    Not psycopg_pool: its maintenance threads would not survive gunicorn's fork, and
    the loan is all this needs; broken connections are dropped when given back."""

    def __init__(self, size: int, open_connection: Callable[[], Any],
                 errors: tuple[type[BaseException], ...], exhausted: Callable[[], BaseException],
                 wait: float = LEND_TIMEOUT):
        self.size, self.wait = size, wait
        self._open, self._errors, self._exhausted = open_connection, errors, exhausted
        self.forget()
        _POOLS.add(self)

    def forget(self) -> None:
        """Start empty (in a forked process: the parent's connections are not ours)."""
        self._idle: list = []
        self._lock = threading.Lock()
        self._free = threading.BoundedSemaphore(self.size)
        self._held = threading.local()

    @property
    def idle(self) -> int:
        return len(self._idle)

    @contextmanager
    def lend(self) -> Iterator[Any]:
        held = getattr(self._held, "lent", None)
        if held is not None:
            yield held
            return
        if asyncio._get_running_loop() is not None:
            yield from _kept_by_thread(self._held, self._open, self._errors)
            return
        if not self._free.acquire(timeout=self.wait):
            raise self._exhausted()
        connection = None
        try:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            while connection is not None and not connection.alive():
                _close_quietly(connection, self._errors)  # cut while idle: the next
                with self._lock:
                    connection = self._idle.pop() if self._idle else None
            if connection is None:
                connection = self._open()
            self._held.lent = connection.lent()
            try:
                yield connection
            except self._errors:
                _close_quietly(connection, self._errors)
                connection = None
                raise
            finally:
                self._held.lent = None
        finally:
            if connection is not None and connection.usable:
                with self._lock:
                    self._idle.append(connection)
            self._free.release()


os.register_at_fork(after_in_child=_after_fork)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


class PostgresDatabase:
    """A PostgreSQL database through psycopg 3; its schema from Alembic (migrations/)."""

    dialect = "postgresql"

    def __init__(self, url: str, readers: int = READERS):
        import psycopg

        self.url = url
        rest = url.split("://", 1)[1]
        self.conninfo = f"postgresql://{rest}"  # libpq's own form (no `+psycopg`)
        self.errors = (psycopg.Error,)
        self._psycopg = psycopg
        self._writer: PostgresConnection | None = None
        self._writer_lock = threading.Lock()
        self.path = None
        self.readers = ReaderPool(readers, self._connect_reader, self.errors, self._exhausted)

    def _exhausted(self) -> BaseException:
        return self._psycopg.errors.ConnectionTimeout(
            f"all {self.readers.size} of this process's connections to PostgreSQL were "
            f"busy for {self.readers.wait:g} s (BEELDPOST_DATABASE_CONNECTIONS)")

    def __str__(self) -> str:
        return safe_url(self.url)

    def prepare(self, sqlite_schema: Callable | None = None) -> None:
        """Bring the schema to the migrations' head (`sqlite_schema` is SQLite's)."""
        from .migrations import upgrade

        upgrade(self.conninfo, CONNECT_TIMEOUT)

    def open_raw(self):
        """A new psycopg connection (autocommit), or one of `errors`."""
        options = {"autocommit": True, "application_name": "beeldpost"}
        if "connect_timeout" not in self.conninfo:
            options["connect_timeout"] = CONNECT_TIMEOUT
        return self._psycopg.connect(self.conninfo, **options)

    def connect(self) -> PostgresConnection:
        return PostgresConnection(self.open_raw())

    def _connect_reader(self) -> PostgresConnection:
        """A reader's connection: a loan's first statement that finds it cut is sent
        again on a new one (PostgresConnection)."""
        return PostgresConnection(self.open_raw(), reopen=self)

    def reading(self):
        """A connection lent from this process's pool (`readers`)."""
        return self.readers.lend()

    @contextmanager
    def writing(self) -> Iterator[PostgresConnection]:
        """One transaction holding the catalogue's advisory lock from its start: one
        writer at a time on every server. The connection is kept for the next write
        (writes come from one scan at a time), and dropped when it broke."""
        if not self._writer_lock.acquire(timeout=LOCK_TIMEOUT):
            raise self._psycopg.errors.LockNotAvailable(
                "another write in this process took too long")
        try:
            connection = self._writer
            if connection is None or not connection.alive():
                if connection is not None:
                    _close_quietly(connection, self.errors)
                self._writer = None
                connection = self._writer = self.connect()
            try:
                # In pipeline mode: statements whose results nobody reads (most of a
                # scan's) go out without waiting for the server's answer to each.
                with connection.raw.pipeline(), connection.raw.transaction():
                    connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}s'")
                    connection.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
                    yield connection
            except BaseException:
                if not connection.usable:
                    self._writer = None
                    try:
                        connection.close()
                    except self.errors:
                        pass
                raise
        finally:
            self._writer_lock.release()
