"""Local staff accounts, in the catalogue's database, so that every server of a cluster
knows them (`beeldpost users add/remove/list/passwd`).

A password is kept only as its Argon2id hash (argon2-cffi's defaults: 64 MiB, 3 passes,
4 lanes, as RFC 9106's second recommendation; about 0.1 s a check on 2 cores), and is
hashed again with the current parameters when they have changed since. Checking a name
that has no account costs the same as a wrong password (a hash is checked all the
same), so how long a refusal takes says nothing of which names exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..catalogue.journal import CatalogueDatabase
from ..errors import BadRequest

# Names as people type them to sign in: letters, digits, and . _ @ - (an e-mail address is one).
NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,99}$")
MIN_PASSWORD = 12  # characters; NIST SP 800-63B asks for at least 8, we ask a little more


class AccountError(BadRequest):
    """An account that cannot be made or changed as asked: the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    created: str
    changed: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Accounts:
    def __init__(self, database: CatalogueDatabase, hasher: PasswordHasher | None = None):
        self.database = database
        self.hasher = hasher or PasswordHasher()
        # What an unknown name is checked against, so that it costs a real check.
        self._decoy = self.hasher.hash("not the password of any account")

    @staticmethod
    def checked_name(name: str) -> str:
        folded = name.strip().lower()
        if not NAME.match(folded):
            raise AccountError(f"{name!r} cannot be an account name: use letters, digits "
                               "and . _ @ - (at most 100)")
        return folded

    def _checked_password(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    def add(self, name: str, password: str) -> Account:
        name = self.checked_name(name)
        hashed = self._checked_password(password)
        now = _now()
        with self.database.writing() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"there is an account {name!r} already; `beeldpost users "
                                   "passwd` changes its password")
            db.execute("INSERT INTO accounts (name, password, created, changed) "
                       "VALUES (?, ?, ?, ?)", (name, hashed, now, now))
        return Account(name, now, now)

    def set_password(self, name: str, password: str) -> None:
        name = self.checked_name(name)
        hashed = self._checked_password(password)
        with self.database.writing() as db:
            self._existing(db, name)
            db.execute("UPDATE accounts SET password = ?, changed = ? WHERE name = ?",
                       (hashed, _now(), name))

    def remove(self, name: str) -> None:
        name = self.checked_name(name)
        with self.database.writing() as db:
            self._existing(db, name)
            db.execute("DELETE FROM accounts WHERE name = ?", (name,))

    @staticmethod
    def _existing(db, name: str) -> None:
        """Inside a write (the writers' lock held): AccountError unless it exists. (Asked,
        not read off a row count: PostgreSQL's writes are pipelined, counts come late.)"""
        if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone() is None:
            raise AccountError(f"there is no account {name!r}")

    def changed(self, name: str) -> float | None:
        """When the account was last made or given a password (Unix time), or None when
        there is no such account: a sign-in from before that counts no more."""
        with self.database.reading() as db:
            row = db.execute("SELECT changed FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp()

    def list(self) -> list[Account]:
        with self.database.reading() as db:
            rows = db.execute("SELECT name, created, changed FROM accounts ORDER BY name")
            return [Account(*row) for row in rows.fetchall()]

    def verify(self, name: str, password: str) -> str | None:
        """The account's name when the password is its own, else None (the same work
        for an unknown name, a malformed one and a wrong password)."""
        folded = name.strip().lower()
        row = None
        if NAME.match(folded):
            with self.database.reading() as db:
                row = db.execute("SELECT password FROM accounts WHERE name = ?",
                                 (folded,)).fetchone()
        try:
            self.hasher.verify(row[0] if row else self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(row[0]):
            with self.database.writing() as db:
                db.execute("UPDATE accounts SET password = ? WHERE name = ? AND password = ?",
                           (self.hasher.hash(password), folded, row[0]))
        return folded
