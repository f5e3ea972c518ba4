"""Start and stop the two servers under test, both on 127.0.0.1 with 2 worker processes.

Beeldpost: `beeldpost serve`, i.e. gunicorn with beeldpost/http/gunicorn_conf.py (the
production configuration), WEB_CONCURRENCY=2.

IIPImage: Debian's iipimage-server (iipsrv 1.1, a FastCGI program) spawned by
lighttpd's mod_fastcgi with max-procs 2, its tile cache off
(MAX_IMAGE_CACHE_SIZE=0) and memcached off. The lighttpd configuration is written
at run time into the work directory.

Each server runs in its own session (process group) so that stopping it ends
exactly the processes this harness started, nothing else.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def get(port: int, path: str, timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


@dataclass
class Server:
    name: str
    port: int
    prefix: str  # path up to the image's base URI, ending in "/"
    command: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen | None = None
    description: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, tail: str) -> str:
        return self.prefix + tail

    def start(self, ready_path: str, timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            try:
                status, _, _ = get(self.port, self.url(ready_path), timeout=10)
                if status == 200:
                    return
                last_error = f"HTTP {status}"
            except OSError as error:
                last_error = str(error)
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s ({last_error}); "
                           f"see {self.log_path}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        group = process.pid  # start_new_session made it the group leader
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # Whatever of our group is still there (FastCGI children, stuck workers).
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def beeldpost(repo: Path, work: Path, response_cache: bool, logs: Path,
              extra_env: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update({
        "BEELDPOST_IMAGES": str(work / "images"),
        "BEELDPOST_CACHE": str(work / "cache"),
        # Documented switch for the rendered-output (derivative) cache; cold runs turn it off.
        "BEELDPOST_RESPONSE_CACHE": "on" if response_cache else "off",
        "WEB_CONCURRENCY": "2",
        "HOST": HOST,
        "PORT": str(port),
    })
    env.pop("BEELDPOST_DEBUG", None)
    env.update(extra_env or {})
    suffix = "warm" if response_cache else "cold"
    command = [sys.executable, "-m", "beeldpost.cli", "serve", "--host", HOST, "--port", str(port),
               "--workers", "2"]
    server = Server("Beeldpost", port, "/iiif/2/bench/", command, env,
                    logs / f"beeldpost-{suffix}.log", cwd=repo)
    server.description = {
        "command": "beeldpost serve --workers 2 (gunicorn, beeldpost/http/gunicorn_conf.py)",
        "env": {k: env[k] for k in sorted(env) if k.startswith(("BEELDPOST_", "WEB_CONCURRENCY",
                                                                  "VIPS_", "GUNICORN_"))},
    }
    return server


LIGHTTPD_CONF = """\
# Written by bench/run.py for one benchmark run; do not edit.
server.document-root = "{docroot}"
server.bind = "{host}"
server.port = {port}
server.errorlog = "{logs}/lighttpd-error.log"
server.pid-file = "{iip}/lighttpd.pid"
server.modules = ( "mod_fastcgi" )
# Keep client connections open like gunicorn does (its keepalive has no request limit).
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 30
fastcgi.server = ( "/fcgi-bin/iipsrv.fcgi" =>
  (( "socket" => "{socket}",
     "check-local" => "disable",
     "max-procs" => 2,
     "bin-path" => "{iipsrv}",
     "bin-environment" => (
{environment}
     )
  ))
)
"""


def iipimage(work: Path, image_dir: Path, logs: Path, jpeg_quality: int) -> Server:
    port = free_port()
    work, image_dir, logs = work.resolve(), image_dir.resolve(), logs.resolve()
    iip = work / "iip"
    docroot = iip / "htdocs"
    docroot.mkdir(parents=True, exist_ok=True)
    socket_path = iip / "iipsrv.sock"
    if len(str(socket_path)) > 100:  # AF_UNIX path limit is 108 bytes
        import tempfile
        socket_path = Path(tempfile.mkdtemp(prefix="bench-iip-")) / "iipsrv.sock"
    environment = {
        "LOGFILE": str(logs / "iipsrv.log"),
        "VERBOSITY": "1",
        "MAX_IMAGE_CACHE_SIZE": "0",  # its tile cache off: every tile is decoded and encoded
        "MEMCACHED_SERVERS": "",  # empty: no memcached (the default would try localhost)
        "FILESYSTEM_PREFIX": str(image_dir) + "/",  # IIIF identifiers are bare file names
        "JPEG_QUALITY": str(jpeg_quality),  # the same output quality as Beeldpost
        "MAX_CVT": "10000",  # allow full/full of the 6000-pixel image (default 5000)
        "CORS": "*",
    }
    environment_text = ",\n".join(f'        "{k}" => "{v}"' for k, v in environment.items())
    conf = iip / "lighttpd.conf"
    conf.write_text(LIGHTTPD_CONF.format(
        docroot=docroot, host=HOST, port=port, logs=logs, iip=iip, socket=socket_path,
        iipsrv=IIPSRV, environment=environment_text,
    ))
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    server = Server("IIPImage", port, "/fcgi-bin/iipsrv.fcgi?IIIF=bench.tif/",
                    [lighttpd, "-D", "-f", str(conf)], dict(os.environ), logs / "lighttpd.log")
    server.description = {
        "command": f"lighttpd -D -f {conf} (mod_fastcgi, max-procs 2) → {IIPSRV}",
        "env": environment,
    }
    return server
