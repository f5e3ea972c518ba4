"""Conditional GET: is the client's copy still current? One rule for every answer.

Works on a bare WSGI environ (the Image API layer has no Flask request) and leaves the
comparison to Werkzeug, which follows RFC 9110:

- `If-None-Match` uses the *weak* comparison (§13.1.2): `W/"x"` matches `"x"`. This is
  what keeps revalidation working behind nginx with `gzip on`, which weakens the
  strong ETags it passes on, and behind CDNs that do the same. `*` matches any
  current representation.
- `If-None-Match` wins over `If-Modified-Since`, which counts only without it.

A resource may have more than one representation (a document and its gzipped
twin, each with its own ETag). A client may hold either, so every current tag is
offered; the 304 carries the tag the client holds, so a cache knows which of its
stored answers to refresh (RFC 9111 §4.3.4).

`If-Match` and `If-Range` are not evaluated: this server answers GET and HEAD
only, and has no ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from werkzeug.sansio.http import is_resource_modified


def current_tag(environ: dict, tags: Sequence[str], last_modified: datetime | None = None) -> str | None:
    """The entity tag a 304 should carry when the client's copy is current, else None.

    `tags` are the resource's current entity tags without quotes, the one of the
    representation this request would get first.
    """
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not if_none_match and not if_modified_since:
        return None  # the common case costs two dictionary lookups
    for tag in tags:
        if not is_resource_modified(http_if_none_match=if_none_match,
                                    http_if_modified_since=if_modified_since,
                                    etag=tag, last_modified=last_modified):
            return tag
    return None
