"""gzip for documents (JSON, JSON-LD, XML, text, HTML) when the client accepts it.

Only complete, in-memory 200 answers of at least MIN_SIZE bytes are compressed:
never images (their formats are compressed already), files sent as they are, or
streams. A compressed answer is another representation, so it gets its own strong
ETag (the plain one + "-gz") and `Vary: Accept-Encoding`. Which representation a
request gets, and so which ETag it is answered with, is decided here alone
(`gzip_selected`, `entity_tags`); conditional.py then says whether the client's
copy of either is current.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request
from werkzeug.http import parse_accept_header

MIN_SIZE = 1024
COMPRESSIBLE = ("application/json", "application/ld+json", "application/rdf+xml",
                "application/xml", "text/xml", "text/plain", "text/html", "text/css",
                "application/javascript", "text/javascript")
SUFFIX = "-gz"


def is_compressible(mimetype: str) -> bool:
    """Whether answers of this media type (parameters allowed) have a gzipped twin."""
    return mimetype.partition(";")[0].strip().lower() in COMPRESSIBLE


def accepts_gzip(environ: dict) -> bool:
    value = environ.get("HTTP_ACCEPT_ENCODING")
    return bool(value) and parse_accept_header(value)["gzip"] > 0


def gzip_selected(environ: dict, mimetype: str, size: int) -> bool:
    """Whether this request gets the gzipped representation of a 200 of `size` bytes."""
    return (size >= MIN_SIZE and is_compressible(mimetype)
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD") and accepts_gzip(environ))


def entity_tags(etag: str, mimetype: str, gzipped: bool) -> tuple[str, ...]:
    """A resource's current entity tags, the one of the representation served first.

    A document's client may hold either twin (it may have asked without gzip before,
    or a proxy may have decompressed it), and either is current.
    """
    if not is_compressible(mimetype):
        return (etag,)
    return (etag + SUFFIX, etag) if gzipped else (etag, etag + SUFFIX)


def gzipped(body: bytes) -> bytes:
    """The gzipped twin of a body: the same bytes for the same body (no time stamp)."""
    return gzip.compress(body, compresslevel=6, mtime=0)


def compress(response: Response) -> Response:
    if is_compressible(response.mimetype):
        response.vary.add("Accept-Encoding")
    if (response.status_code != 200 or response.direct_passthrough or response.is_streamed
            or "Content-Encoding" in response.headers):
        return response
    body = response.get_data()
    if not gzip_selected(request.environ, response.mimetype, len(body)):
        return response
    # 304s for either twin are answered before this hook, in responses.cached_response.
    etag, weak = response.get_etag()
    if etag is not None:
        response.set_etag(etag + SUFFIX, weak)
    response.set_data(gzipped(body))
    response.headers["Content-Encoding"] = "gzip"
    return response


def install(app: Flask) -> None:
    app.after_request(compress)
