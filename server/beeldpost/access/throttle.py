"""Failed sign-ins slow the next try, per account name and per address, on every server.

After FREE failures in a row for a name (whatever the address) or from an address
(whatever the name), the next try must wait, doubling from 1 s to at most 5 minutes
(OWASP's advice: slow guessing, never lock an account for good, which would let anyone
lock staff out). A success clears the name's and the address's count; a quiet spell
of QUIET seconds forgets them. The counts live in the catalogue's database
(`sign_in_failures`), so a cluster's servers slow the same guesser.
"""

from __future__ import annotations

import time

from ..catalogue.journal import CatalogueDatabase

FREE = 5  # failures in a row before tries are slowed
LONGEST = 300.0  # seconds, the most a try must wait
QUIET = 3600.0  # seconds without a failure after which a count is forgotten


def wait_after(failures: int) -> float:
    """Seconds the next try must wait after this many failures in a row."""
    if failures < FREE:
        return 0.0
    return min(LONGEST, 2.0 ** min(failures - FREE, 16))


class Throttle:
    def __init__(self, database: CatalogueDatabase):
        self.database = database

    @staticmethod
    def keys(name: str, address: str | None) -> list[str]:
        return [f"name:{name.strip().lower()[:100]}", f"address:{address or 'unknown'}"]

    def retry_after(self, name: str, address: str | None) -> float:
        """Seconds until this name may try again from this address (0: now)."""
        now = time.time()
        longest = 0.0
        with self.database.reading() as db:
            for key in self.keys(name, address):
                row = db.execute("SELECT failures, last FROM sign_in_failures WHERE key = ?",
                                 (key,)).fetchone()
                if row is None or now - row[1] > QUIET:
                    continue
                longest = max(longest, row[1] + wait_after(row[0]) - now)
        return max(0.0, longest)

    def failed(self, name: str, address: str | None) -> None:
        now = time.time()
        with self.database.writing() as db:
            for key in self.keys(name, address):
                db.execute(
                    "INSERT INTO sign_in_failures (key, failures, last) VALUES (?, 1, ?) "
                    "ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN "
                    "sign_in_failures.last < ? THEN 1 ELSE sign_in_failures.failures + 1 END, "
                    "last = excluded.last", (key, now, now - QUIET))

    def succeeded(self, name: str, address: str | None) -> None:
        with self.database.writing() as db:
            for key in self.keys(name, address):
                db.execute("DELETE FROM sign_in_failures WHERE key = ?", (key,))
