"""Failed sign-ins slow the next try (access/throttle.py): after FREE failures in a row
for a name (from any address) or from an address (for any name), doubling from 1 s to at
most LONGEST; a success clears both counts, a quiet spell of QUIET seconds forgets
them; the counts live in the catalogue's database, so every server slows the same
guesser."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from beeldpost.access import throttle as throttle_module
from beeldpost.access.throttle import FREE, LONGEST, QUIET, Throttle, wait_after
from beeldpost.catalogue.journal import CatalogueDatabase

from support.postgres import BACKENDS, database_for

ADDRESS, OTHER_ADDRESS = "198.51.100.7", "203.0.113.9"


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path) -> CatalogueDatabase:
    return CatalogueDatabase(database_for(request, request.param, tmp_path))


@pytest.fixture
def clock(monkeypatch):
    now = [time.time()]
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def fail(throttle: Throttle, times: int, name: str, address: str | None) -> None:
    for _ in range(times):
        throttle.failed(name, address)


def test_the_wait_doubles_from_one_second_to_five_minutes():
    assert [wait_after(n) for n in range(FREE)] == [0.0] * FREE
    assert [wait_after(FREE + n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert wait_after(FREE + 8) == 256.0
    assert wait_after(FREE + 9) == LONGEST == 300.0
    assert wait_after(FREE + 500) == LONGEST


def test_the_wait_stays_at_five_minutes_however_many_failures():
    assert wait_after(FREE + 1024) == LONGEST
    assert wait_after(10_000) == LONGEST


def test_a_name_is_slowed_after_free_failures_from_any_address(database, clock):
    throttle = Throttle(database)
    fail(throttle, FREE - 1, "beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == 0
    throttle.failed("beheer", OTHER_ADDRESS)  # the fifth, from elsewhere
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(1.0)
    assert throttle.retry_after("beheer", "192.0.2.200") == pytest.approx(1.0)
    assert throttle.retry_after(" BEHEER ", "192.0.2.200") == pytest.approx(1.0)  # one name
    assert throttle.retry_after("iemand-anders", "192.0.2.200") == 0


def test_an_address_is_slowed_after_free_failures_for_any_names(database, clock):
    throttle = Throttle(database)
    for number in range(FREE):
        throttle.failed(f"naam-{number}", ADDRESS)  # one failure per name
    assert throttle.retry_after("naam-0", OTHER_ADDRESS) == 0
    assert throttle.retry_after("nog-nooit-gebruikt", ADDRESS) == pytest.approx(1.0)
    assert throttle.retry_after("nog-nooit-gebruikt", OTHER_ADDRESS) == 0


def test_the_wait_counts_down_and_doubles_with_each_failure(database, clock):
    throttle = Throttle(database)
    fail(throttle, FREE, "beheer", ADDRESS)
    clock[0] += 0.25
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(0.75)
    clock[0] += 1
    assert throttle.retry_after("beheer", ADDRESS) == 0
    throttle.failed("beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(2.0)
    clock[0] += 3
    throttle.failed("beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(4.0)
    for _ in range(20):
        clock[0] += LONGEST
        throttle.failed("beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(LONGEST)


def test_a_success_clears_the_names_and_the_addresss_counts(database, clock):
    throttle = Throttle(database)
    fail(throttle, FREE + 2, "beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) > 0
    throttle.succeeded("Beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == 0
    assert throttle.retry_after("beheer", OTHER_ADDRESS) == 0
    assert throttle.retry_after("iemand", ADDRESS) == 0
    # Counting starts again from nothing.
    fail(throttle, FREE - 1, "beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == 0
    throttle.failed("beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(1.0)


def test_a_success_leaves_other_names_and_addresses_counted(database, clock):
    throttle = Throttle(database)
    fail(throttle, FREE, "beheer", ADDRESS)
    fail(throttle, FREE, "archivaris", OTHER_ADDRESS)
    throttle.succeeded("beheer", ADDRESS)
    assert throttle.retry_after("archivaris", "192.0.2.200") == pytest.approx(1.0)
    assert throttle.retry_after("iemand", OTHER_ADDRESS) == pytest.approx(1.0)


def test_a_quiet_spell_forgets_the_failures(database, clock):
    throttle = Throttle(database)
    fail(throttle, FREE + 8, "beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(256.0)
    clock[0] += QUIET - 1
    assert throttle.retry_after("beheer", ADDRESS) == 0  # waited long enough already
    throttle.failed("beheer", ADDRESS)  # within the spell: counted on
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(LONGEST)
    clock[0] += QUIET + 1
    assert throttle.retry_after("beheer", ADDRESS) == 0
    throttle.failed("beheer", ADDRESS)  # after it: the first again
    fail(throttle, FREE - 2, "beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == 0
    throttle.failed("beheer", ADDRESS)
    assert throttle.retry_after("beheer", ADDRESS) == pytest.approx(1.0)


def test_every_server_on_the_database_slows_the_same_guesser(database, clock):
    first = Throttle(database)
    second = Throttle(CatalogueDatabase(database.database))  # another server's
    fail(first, FREE - 2, "beheer", ADDRESS)
    fail(second, 2, "beheer", OTHER_ADDRESS)
    assert first.retry_after("beheer", "192.0.2.200") == pytest.approx(1.0)
    assert second.retry_after("beheer", "192.0.2.200") == pytest.approx(1.0)
    second.succeeded("beheer", ADDRESS)
    assert first.retry_after("beheer", "192.0.2.200") == 0


def test_unknown_addresses_share_one_count_and_long_names_are_cut(database, clock):
    throttle = Throttle(database)
    for number in range(FREE):
        throttle.failed(f"naam-{number}", None)
    assert throttle.retry_after("iemand", None) == pytest.approx(1.0)
    assert throttle.retry_after("iemand", ADDRESS) == 0
    long_name = "x" * 5000
    fail(throttle, FREE, long_name, ADDRESS)
    assert throttle.retry_after("x" * 100 + "y", OTHER_ADDRESS) == pytest.approx(1.0)
    assert throttle.retry_after("x" * 99, OTHER_ADDRESS) == 0
    with database.reading() as db:
        keys = [row[0] for row in db.execute("SELECT key FROM sign_in_failures")]
    assert max(len(key) for key in keys) <= len("name:") + 100
