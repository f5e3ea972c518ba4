"""What a request shows of who is asking (access/gate.py's Asking), read from its WSGI
environ: the one place the HTTP layers read cookies, `Authorization`, `Origin`, the
peer, `X-Forwarded-For` and the sign-on header for access."""

from __future__ import annotations

from werkzeug.http import parse_cookie

from ..access.gate import Asking
from ..access.sessions import SESSION_COOKIE


def own_origin(base_url: str) -> str:
    """scheme://host[:port] of a base URL (its path dropped)."""
    scheme, _, rest = base_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def asking_of(environ: dict, base_url: str, sign_on_header: str) -> Asking:
    cookies = environ.get("HTTP_COOKIE")
    try:
        cookie = parse_cookie(cookies).get(SESSION_COOKIE) if cookies else None
    except (UnicodeError, ValueError):  # a header no browser sends: no session shown
        cookie = None
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" and credentials else None
    sign_on = environ.get("HTTP_" + sign_on_header.upper().replace("-", "_"))
    return Asking(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), sign_on,
                  cookie, bearer, environ.get("HTTP_ORIGIN") or own_origin(base_url))


def is_secure(base_url: str) -> bool:
    """Whether cookies go with `Secure; SameSite=None` (HTTPS), or with `SameSite=Lax`
    over plain HTTP (for development on one's own machine only)."""
    return base_url.startswith("https://")
