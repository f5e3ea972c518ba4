"""Content negotiation on `Accept`, parsed once by Werkzeug, for every IIIF document.

- The media type (json_ld_mimetype). IIIF documents are JSON-LD. A client that asks
  for `application/ld+json` gets it, with the document's context as its `profile`
  parameter; everyone else gets `application/json` (never a 406: plain JSON is what
  most clients want anyway). An `application/ld+json` entry counts when its quality
  is above 0 and not below that of `application/json` (wildcards included), and when
  its `profile`, if it names one, is this document's.
- The Presentation API version of a manifest (presentation_version): 2 only when a
  JSON entry whose profile is the 2 context is preferred to one for 3; equal
  preference, or no profile at all, is the current version.
"""

from __future__ import annotations

import functools

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

JSON = "application/json"
JSON_LD = "application/ld+json"


PRESENTATION_2 = "iiif.io/api/presentation/2/"
PRESENTATION_3 = "iiif.io/api/presentation/3/"


def _ranges(accept: str) -> tuple[MIMEAccept, list[tuple[str, dict[str, str], float]]]:
    """The header as Werkzeug reads it, and each entry's media type, parameters and quality."""
    accepted = parse_accept_header(accept, MIMEAccept)
    entries = []
    for value, quality in accepted:
        mimetype, options = parse_options_header(value)
        entries.append((mimetype.lower(), options, quality))
    return accepted, entries


@functools.lru_cache(maxsize=256)
def json_ld_mimetype(accept: str, context: str) -> str:
    """The media type to answer with (kept per header: viewers send the same few)."""
    if JSON_LD not in accept.lower():
        return JSON  # the common case, without parsing
    accepted, entries = _ranges(accept)
    linked = max((quality for mimetype, options, quality in entries
                  if mimetype == JSON_LD and options.get("profile", context) == context), default=0.0)
    if linked > 0 and linked >= accepted[JSON]:
        return f'{JSON_LD};profile="{context}"'
    return JSON


@functools.lru_cache(maxsize=256)
def presentation_version(accept: str) -> int:
    """2 when Accept prefers the Presentation 2 context to 3, else 3."""
    if PRESENTATION_2 not in accept:
        return 3
    best = {2: 0.0, 3: 0.0}
    for mimetype, options, quality in _ranges(accept)[1]:
        if mimetype not in (JSON_LD, JSON):
            continue
        profile = options.get("profile", "")
        for version, marker in ((2, PRESENTATION_2), (3, PRESENTATION_3)):
            if marker in profile:
                best[version] = max(best[version], quality)
    return 2 if best[2] > best[3] else 3
