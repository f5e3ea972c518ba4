"""A live gunicorn server with the production configuration, on temporary folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .paths import REPO


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
            [str(gunicorn), "--config", "python:beeldpost.http.gunicorn_conf", "beeldpost:create_app()"],
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
