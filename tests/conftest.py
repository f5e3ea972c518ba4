"""Fixtures every test package shares: the validator's test image, an app on temporary
folders and its client, a live gunicorn server.

Helpers that are not fixtures live in support/; test modules import those, never
one another.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from beeldpost import create_app

from support.live import LiveServer
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


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """A fresh server per test module, so modules cannot see each other's images."""
    root = tmp_path_factory.mktemp("live")
    images = root / "images"
    images.mkdir()
    server = LiveServer(root, images)
    yield server
    server.stop()
