"""The Image API's HTTP layer, 3.0 under /iiif/3 and 2.1 under /iiif/2: the only one.

Every request below those prefixes is answered here, straight from the WSGI environ,
whichever server runs the app: `info.json`, image requests, the base URI's 303 to
`info.json`, CORS preflights, and the 400/404/405 answers to everything else. Flask
never sees them (a viewer asks for hundreds of tiles, and Flask's routing, request
objects and hooks would cost more CPU than serving a stored tile). Everything else
goes on to Flask (`fallback`).

The work per request is small and done once: routing makes an Exchange; the image
core's Plan (image/plan.py) decides level, crop, renderer and cache key; the answer
follows from those. `respond(exchange, at_hand=True)` answers only from what the
worker already holds and raises NotAtHand otherwise: asgi.py calls it so on its event
loop, then `respond(exchange)` on a thread, which goes on from where the first try
stopped (nothing parsed, hashed or looked up twice).

The info.json body is kept per (version, image, base URL, media type, what it
describes), so a repeated request skips building and serialising it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime
from typing import Callable, Iterable

from ..access.decision import ANONYMOUS, Who, decide
from ..access.gate import Gate
from ..access.services import auth1_services, auth2_service
from ..catalogue.store import Catalogue
from ..errors import BadRequest, BeeldpostError, MethodNotAllowed, NotFound, NotPublic
from ..etags import strong_etag
from ..image.info import VERSION_2, VERSION_3, ApiVersion, info_document, service_url
from ..image.parameters import FORMATS, ImageRequest, parse_image_request
from ..image.plan import Plan
from ..image.resolved import ImagePolicy, View
from ..image.response_cache import KeptFile
from ..image.service import ImageService, NotAtHand, ResolvedImage
from . import metrics, request_log
from .asking import asking_of
from .cdn import image_tag, shared_cache_control, tag_headers
from .compression import entity_tags, gzip_selected, gzipped
from .conditional import current_tag
from .cors import ALLOWED_METHODS, cors_headers
from .negotiation import json_ld_mimetype
from .responses import (
    environ_base_url,
    environ_path_segments,
    error_parts,
    http_date,
    json_body,
)

log = logging.getLogger(__name__)

StartResponse = Callable[..., object]
Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes | KeptFile]

STATUS_LINES = {200: "200 OK", 302: "302 FOUND", 303: "303 SEE OTHER", 304: "304 NOT MODIFIED",
                400: "400 BAD REQUEST", 401: "401 UNAUTHORIZED", 404: "404 NOT FOUND",
                405: "405 METHOD NOT ALLOWED",
                413: "413 REQUEST ENTITY TOO LARGE", 422: "422 UNPROCESSABLE ENTITY",
                500: "500 INTERNAL SERVER ERROR", 501: "501 NOT IMPLEMENTED",
                503: "503 SERVICE UNAVAILABLE"}
DOCUMENTS_KEPT = 256  # info.json bodies kept per worker
PREFIXES = (VERSION_3.prefix + "/", VERSION_2.prefix + "/")
# `{identifier}~full` names an image's full version, for an image that is not open: its
# answers depend on who is asking (never kept by a shared cache); `{identifier}` stays
# its public face, the same for everyone, at the URLs it always had.
FULL_SUFFIX = "~full"
PERSONAL = ("Vary", "Cookie, Authorization, Origin")


def split_version(identifier: str) -> tuple[str, View]:
    """The image an identifier names, and which of its versions."""
    if identifier.endswith(FULL_SUFFIX) and len(identifier) > len(FULL_SUFFIX):
        return identifier[:-len(FULL_SUFFIX)], View.FULL
    return identifier, View.PUBLIC


@dataclass(frozen=True, slots=True)
class Access:
    """Who asks for an image's full version, and whether they may see it."""

    policy: ImagePolicy
    who: Who
    granted: bool


@dataclass(slots=True)
class Exchange:
    """One request to the Image API and how far its answer got."""

    environ: dict
    version: ApiVersion
    route: str  # for metrics and the log: iiif3.image, iiif2.info, …
    answer: Callable[["Exchange", bool], Answer]
    segments: list[str] = field(default_factory=list)
    # Filled in as the answer is worked out, so a second try goes on from there.
    parsed: ImageRequest | None = None
    resolved: ResolvedImage | None = None
    plan: Plan | None = None
    headers: Headers | None = None
    access: Access | None = None  # decided once, for the full version
    missing: NotAtHand | None = None  # what the event loop lacked to answer it
    hold: float = 0.0  # seconds the answer is kept back (a refusal: errors.Overloaded)


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
            self._gzipped = gzipped(self.body)
        return self._gzipped


class ImageApi:
    """WSGI middleware in front of the Flask app (`fallback` is Flask's own wsgi_app)."""

    def __init__(self, images: ImageService, catalogue: Catalogue, public_base_url: str | None,
                 fallback: Callable[[dict, StartResponse], Iterable[bytes]],
                 gate: Gate | None = None):
        """`catalogue`: what the images' records say comes through `images` (its index
        lookups); the catalogue itself is asked only to look for changed records first,
        in an app that no watcher keeps current (Catalogue.current: a no-op in served
        workers, whose event loop must never scan)."""
        self.images = images
        self.catalogue = catalogue
        self.public_base_url = public_base_url
        self.fallback = fallback
        self.gate = gate  # who is asking (access/gate.py); None: everyone is anonymous
        self._documents: dict[tuple, _Document] = {}
        self._documents_lock = threading.Lock()

    # ------------------------------------------------------------------ routing

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        exchange = self.exchange(environ)
        if exchange is None:
            return self.fallback(environ, start_response)
        status, headers, body = self.respond(exchange)
        start_response(STATUS_LINES.get(status) or f"{status} ERROR", headers)
        return body if isinstance(body, KeptFile) else [body]

    def exchange(self, environ: dict) -> Exchange | None:
        """The Image API request this is, or None when it is not one (Flask answers)."""
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIXES):
            return None
        version = VERSION_3 if path[6] == "3" else VERSION_2
        name = f"iiif{version.number}"
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":
            return Exchange(environ, version, f"{name}.options", _preflight)
        if method not in ("GET", "HEAD"):
            return Exchange(environ, version, f"{name}.dispatch", _not_allowed)
        self.catalogue.current()
        segments = environ_path_segments(environ, version.prefix)
        if segments is None:
            return Exchange(environ, version, f"{name}.dispatch", _not_utf8)
        if len(segments) == 5:
            return Exchange(environ, version, f"{name}.image", self._image, segments)
        if len(segments) == 2 and segments[1] == "info.json":
            return Exchange(environ, version, f"{name}.info", self._info, segments)
        if len(segments) == 1 or (len(segments) == 2 and segments[1] == ""):
            return Exchange(environ, version, f"{name}.redirect", self._redirect, segments)
        return Exchange(environ, version, f"{name}.dispatch", _malformed, segments)

    def respond(self, exchange: Exchange, at_hand: bool = False) -> Answer:
        """Status, headers and body (empty for HEAD; a large kept answer as a
        KeptFile to stream and close), logged and counted.

        With `at_hand`, answers only what needs no disk work beyond a read and no
        decode (NotAtHand otherwise, before anything is logged): an event loop calls
        it so, and the same exchange is then answered on a thread.
        """
        started = time.perf_counter()
        environ = exchange.environ
        try:
            status, headers, body = exchange.answer(exchange, at_hand)
        except NotAtHand:
            raise
        except BeeldpostError as error:
            status, headers, body = error_parts(error.status, error.title, error.message,
                                                error.headers)
            exchange.hold = getattr(error, "hold", 0.0)
        except Exception:  # never a bare 500 page, as in responses.install_error_handlers
            log.exception("unexpected error on %s", environ.get("PATH_INFO", ""))
            status, headers, body = error_parts(
                500, "Internal Server Error",
                "the server failed to answer this request; it has been logged.")
        headers.extend(cors_headers(environ))
        if status != 304:  # as werkzeug: a 304 has neither length nor Last-Modified
            headers.append(("Content-Length", str(len(body))))
        method = environ["REQUEST_METHOD"]
        self._record(environ, exchange.route, method, status, len(body), started)
        if method == "HEAD":
            if isinstance(body, KeptFile):
                body.close()
            return status, headers, b""
        return status, headers, body

    # ------------------------------------------------------------------ answers

    def _image(self, exchange: Exchange, at_hand: bool) -> Answer:
        images = self.images
        if exchange.plan is None:
            identifier, region, size, rotation, quality_format = exchange.segments
            if exchange.parsed is None:
                # Grammar first: garbage is refused without touching the disk.
                exchange.parsed = parse_image_request(region, size, rotation, quality_format,
                                                      exchange.version.number)
            name, view = split_version(identifier)
            access = (self._access(exchange, name, at_hand, token=False)
                      if view is View.FULL else None)
            resolved = images.resolve(name, at_hand, view=view)
            ops = images.operations(resolved, exchange.parsed)
            if access is not None and not access.granted and not images.shows_no_more(
                    resolved, ops, access.policy):
                raise NotPublic(f"this request shows more of {name!r} than the public may see; "
                                "sign in (the auth services of its info.json) to see it.")
            version = exchange.version
            plan = images.plan(resolved, ops, ops.canonical_path(version.number))
            service = service_url(self._base_url(exchange.environ), version, identifier)
            modified, modified_text = _last_modified(resolved.source.mtime_ns)
            exchange.headers = [
                ("Link", f'<{service}/{plan.canonical}>;rel="canonical", '
                         f'<{version.profile}>;rel="profile"'),
                ("ETag", f'"{plan.key}"'),
                ("Last-Modified", modified_text),
                *self._caching(view, images.settings.cache_max_age),
                *((PERSONAL,) if view is View.FULL else ()),
                # No Vary on the public face: the bytes depend on the URL alone (the
                # format is its suffix), and a shared cache keeps one copy for every
                # browser's own `Accept`. The full version's depend on who asks.
                *tag_headers([image_tag(name)]),
            ]
            exchange.plan = plan
            if current_tag(exchange.environ, (plan.key,), modified) is not None:
                return 304, _without_last_modified(exchange.headers), b""
        # A 304 costs no render. HEAD renders like GET so Content-Length is true.
        plan = exchange.plan
        body, origin = images.answer(plan, at_hand)
        headers = [("Content-Type", FORMATS[plan.ops.format]), *exchange.headers,
                   ("X-Beeldpost-Cache", origin)]
        return 200, headers, body

    def _info(self, exchange: Exchange, at_hand: bool) -> Answer:
        identifier = exchange.segments[0]
        version, environ = exchange.version, exchange.environ
        images = self.images
        name, view = split_version(identifier)
        access = self._access(exchange, name, at_hand) if view is View.FULL else None
        base = self._base_url(environ)
        if (access is not None and not access.granted and version.number == 2
                and access.policy.public):
            # Authorization 1.0's tiered access, as UV 4.4 (which takes the 2.x service)
            # follows it: to whoever may not see the full version, a 302 to the public
            # face's info.json, whose 1.0 services offer the way in. (3.0 answers 401
            # with the whole description instead: Mirador draws from that.)
            target = f"{service_url(base, version, name)}/info.json"
            return 302, [("Location", target), ("Cache-Control", "no-store"),
                         ("Content-Type", "text/plain; charset=utf-8"), PERSONAL], \
                f"302 Found: {target}\n".encode("utf-8")
        resolved = images.resolve(name, at_hand, view=view)
        rights = images.rights(name, at_hand) if version.number == 3 else None
        mimetype = json_ld_mimetype(environ.get("HTTP_ACCEPT", ""), version.context)
        # The full version's info.json lists its auth services (the reading room's own
        # way in only to the reading room), and is a 401 to whoever may not see it: the
        # whole description all the same, so that a viewer draws what it may. In 2.1,
        # the public face of an image that is not open lists the 1.0 ones too (the
        # degraded description of tiered access).
        services = None
        if access is not None and not access.policy.is_open:
            services = (access.policy.tier, access.policy.public, access.who.reading_room)
        elif version.number == 2 and view is View.PUBLIC:
            policy = images.policy(name, at_hand)
            if not policy.is_open:
                services = (policy.tier, policy.public, False)
        key = (version.number, identifier, base, mimetype, resolved.content_hash,
               resolved.width, resolved.height, resolved.limits, rights,
               images.settings.tile_size, services)
        document = self._documents.get(key)
        if document is None:
            built = info_document(version, resolved, images.settings.tile_size,
                                  service_url(base, version, identifier), rights)
            if services is not None:
                built = _with_auth_services(built, version, base, name, *services)
            document = _Document(json_body(built), mimetype)
            with self._documents_lock:
                if len(self._documents) >= DOCUMENTS_KEPT:
                    self._documents.clear()
                self._documents[key] = document
        modified, modified_text = _last_modified(resolved.source.mtime_ns)
        body = document.body
        compressed = gzip_selected(environ, document.mimetype, len(body))
        tags = entity_tags(document.etag, document.mimetype, compressed)
        refused = access is not None and not access.granted
        held = None if refused else current_tag(environ, tags, modified)
        headers = [
            ("Link", f'<{version.profile}>;rel="profile"'),
            ("ETag", f'"{held or tags[0]}"'),
            ("Last-Modified", modified_text),
            *self._caching(view, images.settings.info_max_age),
            ("Vary", "Accept, Accept-Encoding" if view is View.PUBLIC
             else "Accept, Accept-Encoding, " + PERSONAL[1]),
            *tag_headers([image_tag(name)]),
        ]
        if held is not None:
            return 304, _without_last_modified(headers), b""
        if compressed:
            body = document.gzipped
            headers.append(("Content-Encoding", "gzip"))
        headers.insert(0, ("Content-Type", document.mimetype))
        return (401 if refused else 200), headers, body

    def _access(self, exchange: Exchange, name: str, at_hand: bool,
                token: bool = True) -> Access:
        """Whether whoever asks may see the image's full version (decided, and for an
        image that is not open logged, once per request). An access token counts for
        info.json only (`token`), as IIIF Authorization has it: pixels go by the cookie,
        which another site's script cannot read answers with (CORS allows any origin
        but no credentials), where it could send a token it got from a framed token page."""
        if exchange.access is None:
            policy = self.images.policy(name, at_hand)
            who = ANONYMOUS
            if not policy.is_open and self.gate is not None:
                environ = exchange.environ
                asking = asking_of(environ, self._base_url(environ), self.gate.sign_on_header)
                if not token:
                    asking = replace(asking, bearer=None)
                who = self.gate.who(asking, at_hand)
            exchange.access = Access(policy, who, decide(policy, who, name, exchange.route))
        return exchange.access

    def _caching(self, view: View, max_age: int) -> Headers:
        """The public face is the same for everyone: shared caches keep it. The full
        version's answers depend on who asks: only the browser that asked keeps them,
        and only for the credentials it asked with (PERSONAL)."""
        if view is View.PUBLIC:
            return [("Cache-Control", shared_cache_control(max_age,
                                                           self.images.settings.shared_max_age))]
        return [("Cache-Control", f"private, max-age={max_age}")]

    def _redirect(self, exchange: Exchange, at_hand: bool) -> Answer:
        """The base URI (with or without its slash) is a 303 to its info.json."""
        identifier = exchange.segments[0]
        name, _view = split_version(identifier)
        self.images.source(name, at_hand)  # 404 for unknown identifiers (nothing built)
        target = f"{service_url(self._base_url(exchange.environ), exchange.version, identifier)}/info.json"
        return 303, [("Content-Type", "text/plain; charset=utf-8"), ("Location", target),
                     ("Vary", "Accept-Encoding")], f"303 See Other: {target}\n".encode("utf-8")

    # ------------------------------------------------------------------ helpers

    def _base_url(self, environ: dict) -> str:
        return self.public_base_url or environ_base_url(environ)

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


def _with_auth_services(document: dict, version: ApiVersion, base: str, name: str,
                        tier: str, public_face: bool, reading_room: bool) -> dict:
    """The full version's description with its IIIF Authorization services: 1.0 (in
    both versions) and, in 3.0, the 2.0 probe."""
    services = list(document.get("service") or [])
    services += auth1_services(base, name, tier, public_face, reading_room)
    if version.number == 3:
        services.append(auth2_service(base, name, tier, reading_room))
    return {**document, "service": services}


def _preflight(exchange: Exchange, at_hand: bool) -> Answer:
    """A CORS preflight (asked before `Accept: application/ld+json` requests)."""
    return 200, [("Allow", ALLOWED_METHODS), ("Vary", "Accept")], b""


def _not_allowed(exchange: Exchange, at_hand: bool) -> Answer:
    raise MethodNotAllowed(f"{exchange.environ.get('REQUEST_METHOD')} is not allowed here; "
                           "use GET or HEAD.", headers={"Allow": ALLOWED_METHODS})


def _not_utf8(exchange: Exchange, at_hand: bool) -> Answer:
    raise NotFound("the identifier is not valid UTF-8 once decoded.")


def _malformed(exchange: Exchange, at_hand: bool) -> Answer:
    if len(exchange.segments) in (3, 4):
        raise BadRequest(
            "an image request needs {identifier}/{region}/{size}/{rotation}/{quality}.{format}.")
    # More segments: an identifier with unescaped slashes, which names nothing here.
    raise NotFound("no such image (identifiers containing '/' must be escaped as %2F).")


@functools.lru_cache(maxsize=1024)
def _last_modified(mtime_ns: int) -> tuple[datetime, str]:
    """A source's modification time and its Last-Modified text (formatted once)."""
    modified = http_date(mtime_ns)
    return modified, format_datetime(modified, usegmt=True)


def _without_last_modified(headers: Headers) -> Headers:
    return [(name, value) for name, value in headers if name != "Last-Modified"]
