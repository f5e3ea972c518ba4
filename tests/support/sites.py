"""Two sites over HTTPS on this machine, as a browser sees the web: the archive's
(`https://beeld.test:PORT`, the shipped deploy/nginx.conf in front of Beeldpost) and a
portal of another site (`https://portal.test:PORT`, static pages with the stock viewers),
both served by one nginx with a certificate made for the test. Chromium is told to
resolve both names to 127.0.0.1 and to accept the test certificate.
"""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .cluster import nginx_binary, nginx_config
from .live import free_port

ARCHIVE_HOST, PORTAL_HOST = "beeld.test", "portal.test"


def chromium_arguments(address: str = "127.0.0.1") -> list[str]:
    return [f"--host-resolver-rules=MAP {ARCHIVE_HOST} {address}, MAP {PORTAL_HOST} {address}",
            "--ignore-certificate-errors"]


def browser_profile(folder: Path) -> Path:
    """A Chromium profile that sends cookies to other sites' frames and images, as a
    browser whose user allows third-party cookies does (Chromium blocks them by default
    now, as Safari and Firefox do: then a viewer on another site shows the public face)."""
    (folder / "Default").mkdir(parents=True, exist_ok=True)
    (folder / "Default" / "Preferences").write_text(
        '{"profile": {"cookie_controls_mode": 0}}', "utf-8")
    return folder


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for both names (openssl, as Debian has it)."""
    certificate, key = folder / "test.crt", folder / "test.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={ARCHIVE_HOST}", "-keyout", str(key), "-out", str(certificate),
         "-addext", f"subjectAltName=DNS:{ARCHIVE_HOST},DNS:{PORTAL_HOST}"],
        check=True, capture_output=True)
    return certificate, key


class Sites:
    """nginx on two free ports: the archive in front of `nodes`, the portal from `portal`
    (a folder of pages; /viewers/ is `viewers`)."""

    def __init__(self, root: Path, nodes: list, portal: Path, viewers: Path,
                 also_on: tuple[str, ...] = (), archive_port: int | None = None):
        """`also_on`: more loopback addresses both sites answer on. There the archive is a
        proxy in front of the shipped nginx that connects from the address after it
        (127.0.0.2 → 127.0.0.3), as a reading room's network would: a browser that
        resolves the names to 127.0.0.2 reaches Beeldpost from 127.0.0.3."""
        self.root = root
        self.archive_port, self.portal_port = archive_port or free_port(), free_port()
        self.archive = f"https://{ARCHIVE_HOST}:{self.archive_port}"
        self.portal = f"https://{PORTAL_HOST}:{self.portal_port}"
        certificate, key = make_certificate(root)
        text = nginx_config(root, self.archive_port, nodes)
        tls = (f"listen 127.0.0.1:{self.archive_port} ssl;\n"
               f"        ssl_certificate {certificate};\n"
               f"        ssl_certificate_key {key};")
        text = text.replace(f"listen 127.0.0.1:{self.archive_port};", tls, 1)
        text = text.replace("server_name _;", f"server_name {ARCHIVE_HOST};", 1)
        portal_server = f"""
    server {{
        listen 127.0.0.1:{self.portal_port} ssl;
        {"".join(f"listen {extra}:{self.portal_port} ssl; " for extra in also_on)}
        server_name {PORTAL_HOST};
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        include {nginx_mime_types()};
        location /viewers/ {{ alias {viewers.resolve()}/; }}
        location / {{ root {portal.resolve()}; }}
    }}
"""
        for extra in also_on:
            hop = extra.rsplit(".", 1)[0] + "." + str(int(extra.rsplit(".", 1)[1]) + 1)
            portal_server += f"""
    server {{
        listen {extra}:{self.archive_port} ssl;
        server_name {ARCHIVE_HOST};
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass https://127.0.0.1:{self.archive_port};
            proxy_bind {hop};
            proxy_set_header Host $http_host;
            proxy_ssl_server_name on;
            proxy_ssl_name {ARCHIVE_HOST};
        }}
    }}
"""
        closing = text.rstrip().rfind("}")
        text = text[:closing] + portal_server + "}\n"
        (root / "sites.conf").write_text(text, "utf-8")
        self.process = subprocess.Popen(
            [nginx_binary(), "-c", str(root / "sites.conf"), "-p", str(root),
             "-e", str(root / "nginx-error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.root / 'nginx-error.log').read_text()}")
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{self.archive_port}/ready",
                                       timeout=2, context=context).read()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not answer within 20 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def nginx_mime_types() -> str:
    for candidate in ("/etc/nginx/mime.types", "/usr/share/nginx/mime.types"):
        if Path(candidate).exists():
            return candidate
    raise RuntimeError("nginx's mime.types is missing")
