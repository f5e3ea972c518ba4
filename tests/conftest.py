"""Shared fixtures: the validator's test image, an app on temporary folders, a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from server import create_app

VALIDATOR_IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"
REPO = Path(__file__).resolve().parent.parent


def validator_colours() -> list[list[tuple[int, int, int]]]:
    """colorInfo[x][y]: the colour of the square in column x, row y."""
    from iiif_validator.validator import ValidationInfo

    return ValidationInfo().colorInfo


def draw_validator_image(path: Path) -> Path:
    """The validator's 1000×1000 test image: 10×10 flat 100 px squares."""
    colours = validator_colours()
    image = Image.new("RGB", (1000, 1000))
    draw = ImageDraw.Draw(image)
    for x in range(10):
        for y in range(10):
            draw.rectangle([x * 100, y * 100, x * 100 + 99, y * 100 + 99], fill=colours[x][y])
    image.save(path)
    return path


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """gunicorn with the production config, on temporary folders."""

    def __init__(self, root: Path, images: Path):
        self.root = root
        self.images = images
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        env = dict(os.environ)
        env.update(
            BEELDPOST_IMAGES=str(images),
            BEELDPOST_CACHE=str(root / "cache"),
            BEELDPOST_MANIFESTS=str(root / "manifests"),
            BEELDPOST_ACCESS_LOG=str(root / "access.log"),
            HOST="127.0.0.1",
            PORT=str(self.port),
        )
        self.log = open(root / "server.log", "wb")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "--config", "python:server.gunicorn_conf", "server:create_app()"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(root / 'server.log').read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/iiif/3/none/info.json", timeout=2)
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is up
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """A fresh server per test module, so modules cannot see each other's images."""
    root = tmp_path_factory.mktemp("live")
    images = root / "images"
    images.mkdir()
    server = LiveServer(root, images)
    yield server
    server.stop()
