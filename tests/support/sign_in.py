"""Staff sign-in over HTTP as a browser does it (the form's proof and cookie, the post
from the site itself), for the tests that run servers: through nginx, on a cluster."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

from .cluster import get

STAFF, PASSWORD = "archivaris", "een lang genoeg wachtwoord"
SESSION_COOKIE = "beeldpost_session"


def add_staff(environment: dict[str, str]) -> None:
    """`beeldpost users add` as an operator runs it, with a server's settings."""
    subprocess.run([str(Path(sys.executable).with_name("beeldpost")), "users", "add", STAFF,
                    "--password-stdin"], input=PASSWORD + "\n", capture_output=True,
                   text=True, env=environment, check=True)


def set_cookies(headers) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in headers.get_all("Set-Cookie") or []:
        parsed = SimpleCookie()
        parsed.load(line)
        found.update({name: morsel.value for name, morsel in parsed.items()})
    return found


def post(url: str, fields: dict[str, str], headers: dict[str, str]):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode("ascii"),
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              **headers}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def sign_in(base: str, password: str = PASSWORD) -> str | None:
    """Staff sign-in at `base` as a browser does it: the form (its proof and its cookie),
    then the post from this site. The session cookie's value, or None when refused."""
    status, headers, body = get(f"{base}/auth/login")
    assert status == 200, body[:300]
    form_cookie = set_cookies(headers)["beeldpost_form"]
    proof = re.search(rb'name="proof" value="([^"]+)"', body).group(1).decode("ascii")
    status, headers, body = post(f"{base}/auth/login",
                                 {"name": STAFF, "password": password, "proof": proof},
                                 {"Cookie": f"beeldpost_form={form_cookie}", "Origin": base})
    if status != 200:
        return None
    return set_cookies(headers)[SESSION_COOKIE]


def with_session(cookie: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={cookie}"}


