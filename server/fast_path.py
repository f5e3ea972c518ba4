"""A lean WSGI path for the requests deep-zoom viewers make by the thousand.

A viewer asks for one `info.json` and then hundreds of tiles. Through Flask each of
them pays for routing, request and response objects, context locals and seven
after-request hooks: more CPU than serving a stored tile itself. This middleware
answers `GET`/`HEAD` of `/iiif/{2,3}/{id}/info.json` and of image requests straight
from the WSGI environ with the same core calls (parse → operations → render) and the
same answer, byte for byte and header for header, as the Flask blueprints in
image_api.py, which keep serving everything else (redirects, OPTIONS, odd paths).
tests/test_fast_path.py holds the two paths to that.

The info.json body is kept per (version, image, base URL, Accept, what it describes),
so a repeated request skips building and serialising it.

`respond(..., at_hand=True)` answers only from what the worker already holds and
raises NotAtHand otherwise: server/asgi.py calls it so on its event loop, and
again without `at_hand` on a thread when it raises.
"""

from __future__ import annotations

import functools
import gzip
import logging
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from typing import Callable, Iterable, NamedTuple

from werkzeug.wsgi import get_host

from . import metrics, request_log
from .compression import entity_tags, gzip_selected
from .conditional import current_tag
from .errors import BeeldpostError
from .image_api import VERSION_2, VERSION_3, ApiVersion, info_document, service_url
from .images import ImageService, NotAtHand
from .parameters import FORMATS, parse_image_request
from .response_cache import KeptFile
from .responses import (
    EXPOSED_HEADERS,
    environ_path_segments,
    http_date,
    json_body,
    json_ld_mimetype,
    strong_etag,
)

log = logging.getLogger(__name__)

StartResponse = Callable[..., object]
Headers = list[tuple[str, str]]

STATUS_LINES = {200: "200 OK", 304: "304 NOT MODIFIED", 400: "400 BAD REQUEST",
                404: "404 NOT FOUND", 413: "413 REQUEST ENTITY TOO LARGE",
                422: "422 UNPROCESSABLE ENTITY", 500: "500 INTERNAL SERVER ERROR",
                501: "501 NOT IMPLEMENTED", 503: "503 SERVICE UNAVAILABLE"}
DOCUMENTS_KEPT = 256  # info.json bodies kept per worker


class Plan(NamedTuple):
    route: str  # the Flask endpoint's name, for metrics and the log
    answer: Callable[..., tuple[int, Headers, bytes]]
    version: ApiVersion
    segments: list[str]


class _Document:
    """One info.json representation, with its gzipped twin made on first demand."""

    __slots__ = ("body", "mimetype", "etag", "_gzipped")

    def __init__(self, body: bytes, mimetype: str):
        self.body, self.mimetype = body, mimetype
        self.etag = strong_etag(body, mimetype)
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class ImageApiFastPath:
    """WSGI middleware in front of the Flask app (`fallback` is Flask's own wsgi_app)."""

    def __init__(self, images: ImageService, public_base_url: str | None,
                 fallback: Callable[[dict, StartResponse], Iterable[bytes]]):
        self.images = images
        self.public_base_url = public_base_url
        self.fallback = fallback
        self._documents: dict[tuple, _Document] = {}
        self._documents_lock = threading.Lock()

    # ------------------------------------------------------------------ dispatch

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        plan = self.plan(environ)
        if plan is None:
            return self.fallback(environ, start_response)
        status, headers, body = self.respond(environ, plan)
        start_response(STATUS_LINES.get(status) or f"{status} ERROR", headers)
        return body if isinstance(body, KeptFile) else [body]

    def plan(self, environ: dict) -> Plan | None:
        """What answers this request here, or None when Flask should."""
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method not in ("GET", "HEAD") or not path.startswith(("/iiif/3/", "/iiif/2/")):
            return None
        version = VERSION_3 if path[6] == "3" else VERSION_2
        segments = environ_path_segments(environ, version.prefix)
        if segments is None:
            return None
        if len(segments) == 5:
            return Plan(f"iiif{version.number}.image", self._image, version, segments)
        if len(segments) == 2 and segments[1] == "info.json":
            return Plan(f"iiif{version.number}.info", self._info, version, segments)
        return None  # redirects, wrong segment counts: rare, Flask answers them

    def respond(self, environ: dict, plan: Plan,
                at_hand: bool = False) -> tuple[int, Headers, bytes | KeptFile]:
        """Status, headers and body (empty for HEAD; a large kept answer as a
        KeptFile to stream and close), logged and counted.

        With `at_hand`, answers only what needs no disk work beyond a read and no
        decode (NotAtHand otherwise, before anything is logged): an event loop calls
        it so, and does the same call on a thread when it raises.
        """
        started = time.perf_counter()
        try:
            status, headers, body = plan.answer(environ, plan.version, plan.segments, at_hand)
        except NotAtHand:
            raise
        except BeeldpostError as error:
            status, headers, body = _error(error)
        except Exception:  # never a bare 500 page, as in responses.install_error_handlers
            log.exception("unexpected error on %s", environ.get("PATH_INFO", ""))
            status, headers, body = _error(_Unexpected())
        headers.append(("Access-Control-Allow-Origin", "*"))
        headers.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))
        if status != 304:  # as werkzeug: a 304 has neither length nor Last-Modified
            headers.append(("Content-Length", str(len(body))))
        method = environ["REQUEST_METHOD"]
        self._record(environ, plan.route, method, status, len(body), started)
        if method == "HEAD":
            if isinstance(body, KeptFile):
                body.close()
            return status, headers, b""
        return status, headers, body

    # ------------------------------------------------------------------ answers

    def _image(self, environ: dict, version: ApiVersion, segments: list[str], at_hand: bool):
        identifier, region, size, rotation, quality_format = segments
        # Grammar first: garbage is refused without touching the disk.
        parsed = parse_image_request(region, size, rotation, quality_format, version.number)
        images = self.images
        resolved = images.resolve(identifier, at_hand)
        ops = images.operations(resolved, parsed)
        canonical_path = ops.canonical_path(version.number)
        service = service_url(self._base_url(environ), version, identifier)
        etag = images.etag(resolved, canonical_path)
        modified, modified_text = _last_modified(resolved.source.mtime_ns)
        headers = [
            ("Link", f'<{service}/{canonical_path}>;rel="canonical", <{version.profile}>;rel="profile"'),
            ("ETag", f'"{etag}"'),
            ("Last-Modified", modified_text),
            ("Cache-Control", f"public, max-age={images.settings.cache_max_age}"),
            ("Vary", "Accept"),
        ]
        if current_tag(environ, (etag,), modified) is not None:
            return 304, _without_last_modified(headers), b""
        # A 304 costs no render. HEAD renders like GET so Content-Length is true.
        body, origin = images.image_bytes(resolved, ops, etag, at_hand)
        headers.insert(0, ("Content-Type", FORMATS[ops.format]))
        headers.append(("X-Beeldpost-Cache", origin))
        return 200, headers, body

    def _info(self, environ: dict, version: ApiVersion, segments: list[str], at_hand: bool):
        identifier = segments[0]
        images = self.images
        resolved = images.resolve(identifier, at_hand)
        base = self._base_url(environ)
        rights = images.rights(identifier, at_hand) if version.number == 3 else None
        mimetype = json_ld_mimetype(environ.get("HTTP_ACCEPT", ""), version.context)
        key = (version.number, identifier, base, mimetype, resolved.content_hash,
               resolved.width, resolved.height, resolved.limits, rights,
               images.settings.tile_size)
        document = self._documents.get(key)
        if document is None:
            built = info_document(version, images, resolved, service_url(base, version, identifier),
                                  rights)
            document = _Document(json_body(built), mimetype)
            with self._documents_lock:
                if len(self._documents) >= DOCUMENTS_KEPT:
                    self._documents.clear()
                self._documents[key] = document
        modified, modified_text = _last_modified(resolved.source.mtime_ns)
        headers = [
            ("Link", f'<{version.profile}>;rel="profile"'),
            ("Last-Modified", modified_text),
            ("Cache-Control", f"public, max-age={images.settings.info_max_age}"),
            ("Vary", "Accept, Accept-Encoding"),
        ]
        body = document.body
        gzipped = gzip_selected(environ, document.mimetype, len(body))
        tags = entity_tags(document.etag, document.mimetype, gzipped)
        held = current_tag(environ, tags, modified)
        headers.insert(1, ("ETag", f'"{held or tags[0]}"'))
        if held is not None:
            return 304, _without_last_modified(headers), b""
        if gzipped:
            body = document.gzipped
            headers.append(("Content-Encoding", "gzip"))
        headers.insert(0, ("Content-Type", document.mimetype))
        return 200, headers, body

    # ------------------------------------------------------------------ helpers

    def _base_url(self, environ: dict) -> str:
        """As responses.base_url: the configured public URL, or the request's own host."""
        if self.public_base_url:
            return self.public_base_url
        script = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace")
        return f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}{script.rstrip('/')}"

    @staticmethod
    def _record(environ: dict, route: str, method: str, status: int, size: int,
                started: float) -> None:
        """The metrics and the JSON log line Flask's hooks write (metrics.py, request_log.py)."""
        elapsed = time.perf_counter() - started
        metrics.answered(route, method, status, elapsed)
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        query = environ.get("QUERY_STRING")
        request_log.write(method, f"{path}?{query}" if query else path, status,
                          round(elapsed * 1000, 2), size, route, environ.get("REMOTE_ADDR"),
                          environ.get("HTTP_USER_AGENT"))


class _Unexpected(BeeldpostError):
    status = 500
    title = "Internal Server Error"

    def __init__(self):
        super().__init__("the server failed to answer this request; it has been logged.")


def _error(error: BeeldpostError) -> tuple[int, Headers, bytes]:
    """As responses.error_response (and the compression hook's Vary for text)."""
    body = f"{error.status} {error.title}: {error.message}\n".encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
    headers.extend((error.headers or {}).items())
    headers.append(("Vary", "Accept-Encoding"))
    return error.status, headers, body


@functools.lru_cache(maxsize=1024)
def _last_modified(mtime_ns: int) -> tuple[datetime, str]:
    """A source's modification time and its Last-Modified text (formatted once)."""
    modified = http_date(mtime_ns)
    return modified, format_datetime(modified, usegmt=True)


def _without_last_modified(headers: Headers) -> Headers:
    return [(name, value) for name, value in headers if name != "Last-Modified"]
