"""Entity tags derived from content, the same on every node for the same bytes."""

from __future__ import annotations

import hashlib


def strong_etag(*parts: str | bytes) -> str:
    """A strong entity tag (without quotes) of the parts, in order."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:40]
