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

    def __init__(self, root: Path, images: Path, name: str = "server",
                 settings: dict[str, str] | None = None):
        """`name` names its log files in `root` (several servers may share one root, as
        nodes share one catalogue); `settings` adds environment variables."""
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
            BEELDPOST_ACCESS_LOG=str(root / f"{name}-access.log" if name != "server"
                                     else root / "access.log"),
            HOST="127.0.0.1",
            PORT=str(self.port),
        )
        env.update(settings or {})
        self.env = env
        self.log_path = root / f"{name}.log"
        self.start()

    def start(self) -> None:
        """Start (again, after kill() or stop(): same port, folders and settings), and
        wait until it is ready."""
        self.log = open(self.log_path, "ab")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "--config", "python:beeldpost.http.gunicorn_conf", "beeldpost:create_app()"],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the workers too
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()}")
            try:  # ready: up, and the catalogue index made from the records
                urllib.request.urlopen(f"{self.url}/ready", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()  # not left running behind a failed test
        raise RuntimeError("gunicorn was not ready within 60 s")

    def wait_for(self, path: str, status: int = 200, within: float = 15.0) -> None:
        """Until `path` answers `status`: what a file dropped into a folder takes to show
        (the watcher's file event, settle time and scan)."""
        deadline = time.monotonic() + within
        found = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
                    found = response.status
            except urllib.error.HTTPError as error:
                found = error.code
            if found == status:
                return
            time.sleep(0.05)
        raise AssertionError(f"{path} answered {found}, not {status}, for {within} s")

    def kill(self) -> None:
        """As a machine that dies: SIGKILL to the master and every worker at once."""
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=15)
        self.log.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
