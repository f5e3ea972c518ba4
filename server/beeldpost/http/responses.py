"""HTTP rules shared by every API: CORS, errors, caching, conditional requests, ids."""

from __future__ import annotations

import functools

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import unquote

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import get_host

from ..errors import BeeldpostError
from ..etags import strong_etag
from .compression import entity_tags, gzip_selected
from .conditional import current_tag
from .cors import ALLOWED_METHODS, cors_headers
from .negotiation import json_ld_mimetype

log = logging.getLogger(__name__)

def add_cors(response: Response) -> Response:
    """Flask's answers get the CORS headers of cors.py, as the Image API layer's do."""
    for name, value in cors_headers(request.environ):
        response.headers[name] = value
    response.headers.setdefault("Vary", "Accept")
    return response


def error_parts(status: int, title: str, message: str,
                headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """Every error's answer: a short plain text saying what was wrong, never cached.
    (`Vary: Accept-Encoding`, as on every text answer: compression.py.)"""
    body = f"{status} {title}: {message}\n".encode("utf-8")
    listed = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
    listed.extend((headers or {}).items())
    listed.append(("Vary", "Accept-Encoding"))
    return status, listed, body


def error_response(status: int, title: str, message: str, headers: dict | None = None) -> Response:
    status, listed, body = error_parts(status, title, message, headers)
    return Response(body, status=status, headers=listed)


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(BeeldpostError)
    def _beeldpost_error(error: BeeldpostError):
        return error_response(error.status, error.title, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        headers = {}
        if error.code == 405:
            headers["Allow"] = ALLOWED_METHODS
        description = {
            404: f"nothing is served at {request.path!r}.",
            405: f"{request.method} is not allowed here; use GET or HEAD.",
        }.get(error.code, (error.description or "").strip())
        return error_response(error.code or 500, error.name, description, headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Never a bare 500 page: log the trace, tell the client plainly.
        log.exception("unexpected error on %s", request.path)
        return error_response(500, "Internal Server Error",
                              "the server failed to answer this request; it has been logged.")


def base_url() -> str:
    """scheme://host[:port][/prefix] as the client sees this server."""
    return current_app.config["BEELDPOST"].public_base_url or environ_base_url(request.environ)


def environ_base_url(environ: dict) -> str:
    """scheme://host[:port][/prefix] of the request itself (Werkzeug reads the Host)."""
    return _base_url(environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"),
                     environ.get("SERVER_NAME"), environ.get("SERVER_PORT"),
                     environ.get("SCRIPT_NAME", ""))


@functools.lru_cache(maxsize=256)
def _base_url(scheme: str, host: str | None, server_name: str | None, server_port: str | None,
              script: str) -> str:
    """Kept per the few values it is made of: every info.json and image asks for it."""
    environ = {"wsgi.url_scheme": scheme}
    for key, value in (("HTTP_HOST", host), ("SERVER_NAME", server_name),
                       ("SERVER_PORT", server_port)):
        if value is not None:
            environ[key] = value
    script = script.encode("latin-1").decode("utf-8", "replace")
    return f"{scheme}://{get_host(environ)}{script.rstrip('/')}"


def environ_path_segments(environ: dict, prefix: str, path: str | None = None) -> list[str] | None:
    """The path after `prefix/`, split on the *raw* slashes, then percent-decoded.

    WSGI decodes %2F before routing, which would make `a%2Fb` look like two
    segments; the raw request line (RAW_URI in gunicorn, REQUEST_URI in werkzeug)
    keeps the difference. Returns None when a segment is not valid UTF-8.
    (`path`: the decoded path, if known.)
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        raw = raw.split("?", 1)[0].split("#", 1)[0]
        if "://" in raw:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        script = environ.get("SCRIPT_NAME", "")
        if script and raw.startswith(script):
            raw = raw[len(script):]
    if not raw or not raw.startswith(prefix + "/"):
        if path is None:
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        if not path.startswith(prefix + "/"):
            return []
        return path[len(prefix) + 1:].split("/")
    try:
        return [unquote(part, errors="strict") for part in raw[len(prefix) + 1:].split("/")]
    except UnicodeDecodeError:
        return None


def http_date(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns // 1_000_000_000, tz=timezone.utc)


def cached_response(
    body: bytes | Iterable[bytes] | None,
    mimetype: str,
    etag: str,
    last_modified: datetime | None,
    max_age: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """A 200 (or a 304 when the client already has it) with validators and caching.

    `body` None: the caller found the client's copy current (conditional.current_tag).
    """
    size = len(body) if isinstance(body, bytes) else -1
    tags = entity_tags(etag, mimetype, gzip_selected(request.environ, mimetype, size))
    held = current_tag(request.environ, tags, last_modified)
    if body is None or held is not None:
        # The 304 keeps the 200's media type so the same per-type rules (Vary, framing)
        # apply to both; werkzeug drops Content-Type and Last-Modified from a 304 itself.
        # It names the twin the client holds, so its cache refreshes that one.
        response = Response(status=304, mimetype=mimetype)
    elif isinstance(body, bytes):
        response = Response(body, mimetype=mimetype)
        response.headers["Content-Type"] = mimetype
    else:  # a large kept answer, streamed from its file (response_cache.KeptFile)
        response = Response(body, mimetype=mimetype, direct_passthrough=True)
        response.headers["Content-Type"] = mimetype
        response.headers["Content-Length"] = str(len(body))
    response.set_etag(held or etag)
    if last_modified is not None:
        response.headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_body(document: dict) -> bytes:
    """How every JSON document of this server is written (readable, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def content_response(data: bytes | str, mimetype: str, max_age: int,
                     last_modified: datetime | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    """A document whose ETag is its own content (and media type): 200, or 304."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return cached_response(data, mimetype, strong_etag(data, mimetype), last_modified, max_age,
                           headers)


def json_ld_response(
    document: dict | bytes, profile_context: str, max_age: int,
    last_modified: datetime | None = None, headers: dict[str, str] | None = None,
) -> Response:
    """JSON-LD when asked for it, plain JSON otherwise (the IIIF specs' conneg rule).
    `document` as a dict, or as json_body() wrote it (a document kept written)."""
    mimetype = json_ld_mimetype(request.headers.get("Accept", ""), profile_context)
    body = document if isinstance(document, bytes) else json_body(document)
    response = content_response(body, mimetype, max_age, last_modified, headers)
    response.vary.add("Accept")
    return response
