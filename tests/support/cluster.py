"""Beeldpost servers behind Debian's nginx with the shipped deploy/nginx.conf (only its
ports and folders changed), and the process that keeps their catalogue current.

Used by the proxy tests (two servers on one shared disk) and the cluster tests (two
servers with no records folder, the catalogue in PostgreSQL, images on S3, and one
`beeldpost watch` process beside them).
"""

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

from .browser import CI
from .live import LiveServer
from .paths import REPO

NGINX_CONF = REPO / "deploy" / "nginx.conf"


def nginx_binary() -> str:
    """Debian's nginx; skip without it locally, fail in CI (where `make test` installs it)."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = ("nginx is not installed: `apt-get install nginx` (Debian); `make test` "
              "installs it when run as root")
    if CI:
        pytest.fail(f"the proxy tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def nginx_config(root: Path, port: int, nodes: list[LiveServer]) -> str:
    """The shipped configuration, with this test's ports and folders."""
    text = NGINX_CONF.read_text("utf-8")
    shipped = re.search(r"        server 127\.0\.0\.1:800\d( [^;\n]*)?;\n", text)
    assert shipped, "deploy/nginx.conf no longer lists its servers as this test expects"
    options = shipped.group(1) or ""  # as shipped: max_fails, fail_timeout
    servers = "".join(f"        server {node.host}{options};\n" for node in nodes)
    text, count = re.subn(r"(        server 127\.0\.0\.1:800\d[^\n]*\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf no longer lists its servers as this test expects"
    replacements = {
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "worker_processes auto;": "worker_processes 1;",
        "/run/nginx-beeldpost.pid": str(root / "nginx.pid"),
        "/var/log/nginx/beeldpost-error.log": str(root / "nginx-error.log"),
        "/var/log/nginx/beeldpost-access.log": str(root / "nginx-access.log"),
        "/var/cache/nginx-beeldpost": str(root / "nginx-cache"),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    if os.geteuid() == 0:  # its workers would run as nobody, who cannot enter tmp folders
        text = "user root;\n" + text
    # Temporary files of proxied answers, in the test's own folder too.
    temporaries = "".join(f"    {name}_temp_path {root / ('nginx-' + name)};\n"
                          for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return text.replace("http {\n", "http {\n" + temporaries, 1)


class Nginx:
    """nginx on a free port in front of `nodes`, until stop()."""

    def __init__(self, root: Path, port: int, nodes: list, adjust=None):
        """`nodes`: anything with a `host` ("127.0.0.1:port"); `adjust(text)` may change
        the configuration first (the benchmark turns nginx's own cache off)."""
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        text = nginx_config(root, port, nodes)
        (root / "nginx.conf").write_text(adjust(text) if adjust else text, "utf-8")
        self.process = subprocess.Popen(
            [nginx_binary(), "-c", str(root / "nginx.conf"), "-p", str(root),
             "-e", str(root / "nginx-error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(root / 'nginx-error.log').read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/ready", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # nginx answers; the servers behind it may not be ready yet
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not answer within 20 s")

    @property
    def error_log(self) -> str:
        return (self.root / "nginx-error.log").read_text("utf-8")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


class CatalogueWatcher:
    """`beeldpost watch`: the one process that keeps a shared catalogue current from the
    records folder (the servers themselves run with BEELDPOST_WATCH=off)."""

    def __init__(self, root: Path, settings: dict[str, str]):
        env = dict(os.environ)
        env.update(settings)
        self.log_path = root / "watcher.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("beeldpost")), "watch"], cwd=REPO, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 30):
    """(status, headers, body); an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()
