"""gzip for documents (JSON, JSON-LD, XML, text, HTML) when the client accepts it.

Only complete, in-memory 200 answers of at least MIN_SIZE bytes are compressed:
never images (their formats are compressed already), files sent as they are, or
streams. A compressed answer is another representation, so it gets its own strong
ETag (the plain one + "-gz") and `Vary: Accept-Encoding`; a client revalidating
with that ETag gets its 304.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_SIZE = 1024
COMPRESSIBLE = ("application/json", "application/ld+json", "application/rdf+xml",
                "application/xml", "text/xml", "text/plain", "text/html", "text/css",
                "application/javascript", "text/javascript")
SUFFIX = "-gz"


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def compress(response: Response) -> Response:
    if response.mimetype in COMPRESSIBLE:
        response.vary.add("Accept-Encoding")
    if (response.status_code != 200 or response.direct_passthrough or response.is_streamed
            or response.mimetype not in COMPRESSIBLE or "Content-Encoding" in response.headers
            or request.method not in ("GET", "HEAD") or not _accepts_gzip()):
        return response
    body = response.get_data()
    if len(body) < MIN_SIZE:
        return response
    etag, weak = response.get_etag()
    if etag is not None:
        etag = etag + SUFFIX
        if request.if_none_match and request.if_none_match.contains(etag):
            not_modified = Response(status=304, mimetype=response.mimetype)
            for name in ("Cache-Control", "Last-Modified", "Vary", "Link", "Content-Location"):
                if name in response.headers:
                    not_modified.headers[name] = response.headers[name]
            not_modified.set_etag(etag, weak)
            not_modified.vary.add("Accept-Encoding")
            return not_modified
        response.set_etag(etag, weak)
    response.set_data(gzip.compress(body, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    return response


def install(app: Flask) -> None:
    app.after_request(compress)
