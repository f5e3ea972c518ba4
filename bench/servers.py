"""Start and stop the two servers under test, both on 127.0.0.1 with 2 worker processes.

Beeldpost: `beeldpost serve`, i.e. gunicorn with beeldpost/http/gunicorn_conf.py (the
production configuration), WEB_CONCURRENCY=2.

IIPImage: iipsrv (a FastCGI program) spawned by lighttpd's mod_fastcgi with
max-procs 2, its tile cache off (MAX_IMAGE_CACHE_SIZE=0) and memcached off. By
default Debian's iipimage-server (iipsrv 1.1); run.py's --iipsrv names another
binary, e.g. an iipsrv 1.3 built from its source release. The lighttpd
configuration is written at run time into the work directory.

Each server runs in its own session (process group) so that stopping it ends
exactly the processes this harness started, nothing else.
"""

from __future__ import annotations

import http.client
import os
import re
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


def iipimage(work: Path, image_dir: Path, logs: Path, jpeg_quality: int,
             binary: Path = IIPSRV, label: str | None = None) -> Server:
    """lighttpd + 2 iipsrv processes; `binary` is the iipsrv to run, `label` how the
    report names it (a path of this machine must not end up in a committed report)."""
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
        # Read by iipsrv 1.2 and later, ignored by 1.1 (which knows neither):
        "IIIF_VERSION": "2",  # 1.2+ speaks Image API 3 by default; both servers get 2.1 URLs
        # 1.3: a tile that maps onto one stored JPEG tile, with no processing asked, is
        # sent as the stored bytes without decoding and re-encoding (1.3's default; set
        # here so that the comparison does not depend on that default).
        "CODEC_PASSTHROUGH": "1",
    }
    environment_text = ",\n".join(f'        "{k}" => "{v}"' for k, v in environment.items())
    conf = iip / "lighttpd.conf"
    conf.write_text(LIGHTTPD_CONF.format(
        docroot=docroot, host=HOST, port=port, logs=logs, iip=iip, socket=socket_path,
        iipsrv=binary, environment=environment_text,
    ))
    lighttpd = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    server = Server("IIPImage", port, "/fcgi-bin/iipsrv.fcgi?IIIF=bench.tif/",
                    [lighttpd, "-D", "-f", str(conf)], dict(os.environ), logs / "lighttpd.log")
    server.description = {
        "command": f"lighttpd -D -f {conf} (mod_fastcgi, max-procs 2) → {label or binary}",
        "env": environment,
    }
    return server


def iipsrv_version(server: Server) -> str | None:
    """The version of the iipsrv behind `server`, as it says itself: the `Server:
    iipsrv/X` header of its answers (lighttpd passes it on), else the start banner in
    its log file ("IIPImage Server. Version X", written at VERBOSITY 1 and above)."""
    try:
        _, headers, _ = get(server.port, server.url("info.json"), timeout=10)
        found = re.search(r"iipsrv/(\S+)", headers.get("server", ""))
        if found:
            return found.group(1)
    except OSError:
        pass
    logfile = server.description.get("env", {}).get("LOGFILE")
    if logfile and Path(logfile).exists():
        found = re.findall(r"IIPImage Server\. Version (\S+)", Path(logfile).read_text(errors="replace"))
        if found:
            return found[-1]
    return None


def iipsrv_setting(server: Server, name: str) -> str | None:
    """A setting as iipsrv reports it at start in its log ("Setting codec passthrough to
    true"), None if it says nothing about it (1.1 has no codec passthrough)."""
    logfile = server.description.get("env", {}).get("LOGFILE")
    if not logfile or not Path(logfile).exists():
        return None
    found = re.findall(rf"Setting {re.escape(name)} to (.+)", Path(logfile).read_text(errors="replace"))
    return found[-1].strip() if found else None
