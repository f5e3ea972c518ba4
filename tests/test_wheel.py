"""The wheel works on its own: built from the repository's sources, installed into a
fresh virtualenv outside the repository, started from another directory on the
repository's images and records, it serves pages, manifests, info.json and tiles,
with the templates, static files and (when built) the viewers inside the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.browser import CI
from support.live import free_port
from support.paths import IMAGES, MANIFESTS, PHOTO, REPO

pytestmark = pytest.mark.live

SOURCES = ("pyproject.toml", "setup.py", "README.md", "server")


def run(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (its dependencies from the index)."""
    root = tmp_path_factory.mktemp("wheel")
    sources = root / "sources"
    sources.mkdir()
    for name in SOURCES:  # a copy, so the build leaves nothing in the repository
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, sources / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, sources / name)
    environment = dict(os.environ)
    viewers = Path(environment.get("BEELDPOST_VIEWERS") or REPO / "var" / "viewers").resolve()
    environment["BEELDPOST_VIEWERS"] = str(viewers)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(root / "dist"), str(sources)], env=environment, cwd=root)
    (wheel,) = (root / "dist").glob("beeldpost-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(REPO / "constraints.txt"),
         str(wheel)], cwd=root)  # as the README installs it
    return venv


def get(url: str, timeout: float = 120) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.fixture(scope="module")
def served(installed, tmp_path_factory):
    """`beeldpost serve` of the installed wheel, started in a directory of its own."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    port = free_port()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("BEELDPOST_", "PYTHON", "VIRTUAL_ENV"))}
    environment.update(BEELDPOST_IMAGES=str(IMAGES), BEELDPOST_MANIFESTS=str(MANIFESTS),
                       BEELDPOST_CACHE=str(elsewhere / "cache"), WEB_CONCURRENCY="1")
    log = open(elsewhere / "server.log", "wb")
    process = subprocess.Popen([str(installed / "bin" / "beeldpost"), "serve", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=elsewhere, env=environment,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the installed server exited: {(elsewhere / 'server.log').read_text()}")
        try:
            urllib.request.urlopen(f"{url}/ready", timeout=2).read()  # and its index made
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the installed server did not start within 60 s")
    yield url
    process.terminate()
    process.wait(timeout=15)
    log.close()


def test_the_installed_package_is_not_the_repository(installed):
    where = run([str(installed / "bin" / "python"), "-c", "import beeldpost; print(beeldpost.__file__)"],
                cwd="/")
    assert Path(where.strip()).is_relative_to(installed)


@pytest.mark.parametrize("path", [
    "/",
    f"/items/{PHOTO}",
    f"/iiif/manifests/{PHOTO}",
    f"/iiif/3/{PHOTO}/info.json",
    f"/iiif/3/{PHOTO}/0,0,256,256/256,/0/default.jpg",
    f"/iiif/2/{PHOTO}/full/!200,200/0/default.jpg",
    "/iiif/collection",
])
def test_the_installed_server_answers(served, path):
    status, body, _headers = get(served + path)
    assert status == 200, body[:300]
    assert body


def test_the_pages_carry_their_static_files_and_viewers(served):
    status, page, _ = get(f"{served}/items/{PHOTO}")
    assert status == 200
    html = page.decode("utf-8")
    styles = re.findall(r'href="([^"]*/static/beeldpost\.css[^"]*)"', html)
    assert styles and get(styles[0])[0] == 200
    viewer = re.findall(r'"(https?://[^"]*/static/viewers/[^"]*mirador[^"]*\.js)"', html)
    if not viewer:
        assert not CI, "the wheel was built without the viewers, which CI builds first"
        pytest.skip("the viewers were not built (make viewers) when the wheel was")
    assert get(viewer[0])[0] == 200
