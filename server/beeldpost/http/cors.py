"""CORS: every answer, errors included, is readable from any origin; preflights pass.

Viewers live on other sites and fetch manifests, info.json, tiles and search answers
with CORS (UV loads tiles in CORS mode: a tile without the header leaves its canvas
blank). One rule for the Image API layer and for Flask's answers alike.
"""

from __future__ import annotations

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
ALLOWED_HEADERS = "Accept, Accept-Language, Authorization, Content-Type, If-None-Match, If-Modified-Since, Range"
EXPOSED_HEADERS = "ETag, Last-Modified, Link, Content-Length, Content-Type, Retry-After"
MAX_AGE = "86400"  # seconds a browser may keep a preflight's answer

ALWAYS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED_HEADERS))


def cors_headers(environ: dict) -> tuple[tuple[str, str], ...]:
    """The CORS headers of an answer to this request (a preflight's when OPTIONS)."""
    if environ.get("REQUEST_METHOD") != "OPTIONS":
        return ALWAYS
    asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    return ALWAYS + (("Access-Control-Allow-Methods", ALLOWED_METHODS),
                     ("Access-Control-Allow-Headers", asked or ALLOWED_HEADERS),
                     ("Access-Control-Max-Age", MAX_AGE))
