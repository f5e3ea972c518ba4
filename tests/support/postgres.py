"""A real PostgreSQL server for the test session, in a temporary data directory.

Debian's binaries (`/usr/lib/postgresql/<newest>/bin`, `make postgresql` installs them)
or those on PATH; `initdb` with trust authentication and a C.UTF-8 locale, listening
on 127.0.0.1 at a free port with its socket in the data directory's folder. Run as
root (CI is), the server runs as `nobody`, which PostgreSQL asks for. Each test that
needs a database gets a fresh one (`create_database`), so none sees another's data.
Without binaries the tests that need it are skipped, and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from .browser import CI
from .live import free_port

USER = "postgres"  # the superuser initdb makes (`-U`)

# The catalogue's two databases, for tests to parametrise with (`backend` in conftest.py).
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def binaries() -> Path | None:
    """The folder of the newest installed server's binaries, or None."""
    installed = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if (folder / "postgres").is_file() and re.fullmatch(r"\d+(\.\d+)?", folder.parent.name):
            installed.append((float(folder.parent.name), folder))
    if installed:
        return max(installed)[1]
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def unavailable(reason: str):
    if CI:
        pytest.fail(f"the PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class PostgresServer:
    """One server for the session: start(), create_database(), stop(), remove()."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        # Not below pytest's own temporary folder: that is private to root, and the
        # server's user must reach its data directory.
        parent = tempfile.gettempdir()
        if not os.stat(parent).st_mode & 0o001:
            parent = "/tmp"
        self.root = Path(tempfile.mkdtemp(prefix="beeldpost-postgres-", dir=parent))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._as = (["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else
                        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            shutil.chown(self.root, "nobody")
        self._numbered = 0
        try:
            for locale in ("C.UTF-8", "C"):  # (C.UTF-8 where the system has it)
                done = self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust",
                                 "--encoding=UTF8", f"--locale={locale}", "--no-sync",
                                 check=locale == "C")
                if done.returncode == 0:
                    break
                shutil.rmtree(self.data, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, program: str, *arguments: str,
             check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self._as, str(self.bin / program), *arguments], check=False,
                              capture_output=True, text=True, timeout=120, cwd=self.root)
        if check and done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                               f"{done.stderr[-3000:]}\n{log}")
        return done

    def start(self) -> None:
        options = " ".join([
            f"-c listen_addresses={self.host}", f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            # A test server: nothing needs to survive a crash of the machine.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c max_connections=400", "-c shared_buffers=64MB",
        ])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        """Stop the server (fast: connections are cut, as when a database goes away)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop",
                  check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, scheme: str = "postgresql") -> str:
        return f"{scheme}://{USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (from template0); its URL."""
        if name is None:
            self._numbered += 1
            name = f"test_{os.getpid()}_{self._numbered}"
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as db:
            db.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        try:
            with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # a test that stopped the server; the folder goes at the end anyway


def database_for(request, backend: str, root: Path) -> Path | str:
    """Where a journal on `backend` lives: `root`'s SQLite file, or a new PostgreSQL
    database of the session's server (for fixtures wider than a test)."""
    if backend == "sqlite":
        return root / "journal.sqlite3"
    return request.getfixturevalue("postgres_server").create_database()


def settings_for(request, backend: str, root: Path) -> dict:
    """create_app's settings for database_for()."""
    where = database_for(request, backend, root)
    return {"journal_file": where} if backend == "sqlite" else {"database_url": where}
