"""Staff accounts (access/accounts.py and `beeldpost users`): kept in the catalogue's
database as Argon2id hashes, known to every server sharing it; wrong names and wrong
passwords are told apart by nothing."""

from __future__ import annotations

import io
import sys

import pytest
from argon2 import PasswordHasher

from beeldpost import cli
from beeldpost.access.accounts import AccountError, Accounts
from beeldpost.catalogue.journal import CatalogueDatabase

from support.postgres import BACKENDS, database_for

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    return database_for(request, request.param, tmp_path)


def cheap() -> PasswordHasher:
    """Argon2id at test strength (the real parameters are argon2-cffi's defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_an_account_signs_in_with_its_password_only(database):
    accounts = Accounts(CatalogueDatabase(database), cheap())
    accounts.add("Archivaris@Batavialand.nl", PASSWORD)
    assert accounts.verify("archivaris@batavialand.nl", PASSWORD) == "archivaris@batavialand.nl"
    assert accounts.verify(" ARCHIVARIS@batavialand.nl ", PASSWORD) == "archivaris@batavialand.nl"
    assert accounts.verify("archivaris@batavialand.nl", PASSWORD + "!") is None
    assert accounts.verify("niemand", PASSWORD) is None
    assert accounts.verify("'; DROP TABLE accounts; --", PASSWORD) is None
    assert accounts.verify("archivaris@batavialand.nl", "") is None
    assert [account.name for account in accounts.list()] == ["archivaris@batavialand.nl"]


def test_the_database_holds_a_hash_never_the_password(database):
    catalogue = CatalogueDatabase(database)
    Accounts(catalogue, cheap()).add("beheer", PASSWORD)
    with catalogue.reading() as db:
        (stored,) = db.execute("SELECT password FROM accounts").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_every_server_on_the_database_knows_an_account_at_once(database):
    first = Accounts(CatalogueDatabase(database), cheap())
    second = Accounts(CatalogueDatabase(database), cheap())  # another server's
    first.add("beheer", PASSWORD)
    assert second.verify("beheer", PASSWORD) == "beheer"
    first.set_password("beheer", "a new password, long enough")
    assert second.verify("beheer", PASSWORD) is None
    assert second.verify("beheer", "a new password, long enough") == "beheer"
    first.remove("beheer")
    assert second.verify("beheer", "a new password, long enough") is None


def test_accounts_that_cannot_be_made_or_changed_say_why(database):
    accounts = Accounts(CatalogueDatabase(database), cheap())
    accounts.add("beheer", PASSWORD)
    for attempt, message in (
            (lambda: accounts.add("beheer", PASSWORD), "there is an account 'beheer' already"),
            (lambda: accounts.add("te kort", PASSWORD), "cannot be an account name"),
            (lambda: accounts.add("kort", "kort"), "at least 12 characters"),
            (lambda: accounts.set_password("niemand", PASSWORD), "there is no account"),
            (lambda: accounts.remove("niemand"), "there is no account")):
        with pytest.raises(AccountError) as refused:
            attempt()
        assert message in refused.value.message
    assert [account.name for account in accounts.list()] == ["beheer"]


def test_a_hash_of_older_parameters_is_renewed_when_its_password_is_given(database):
    catalogue = CatalogueDatabase(database)
    Accounts(catalogue, cheap()).add("beheer", PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert Accounts(catalogue, stronger).verify("beheer", PASSWORD) == "beheer"
    with catalogue.reading() as db:
        (stored,) = db.execute("SELECT password FROM accounts").fetchone()
    assert not stronger.check_needs_rehash(stored)


def test_the_users_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BEELDPOST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "add", "beheer", "--password-stdin"]) == 0
    assert "account 'beheer' added" in capsys.readouterr().err
    assert cli.main(["users", "list"]) == 0
    assert capsys.readouterr().out.startswith("beheer ")
    monkeypatch.setattr(sys, "stdin", io.StringIO("kort\n"))
    assert cli.main(["users", "passwd", "beheer", "--password-stdin"]) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    accounts = Accounts(CatalogueDatabase(tmp_path / "cache" / "journal.sqlite3"))
    assert accounts.verify("beheer", PASSWORD) == "beheer"
    assert cli.main(["users", "remove", "beheer"]) == 0
    assert cli.main(["users", "remove", "beheer"]) == 1
    assert "there is no account 'beheer'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["users", "add"])  # a name is needed
