"""Entity tags derived from content, the same on every node for the same bytes."""

from __future__ import annotations

import hashlib


def strong_etag(*parts: str | bytes) -> str:
    """A strong entity tag (without quotes) of the parts, in order."""
    # Each part and a NUL after it, hashed in one call: the digest of updating part by
    # part (as this did), for a third of the calls on every image answer.
    joined = b"\0".join([part.encode() if isinstance(part, str) else part for part in parts])
    return hashlib.sha256(joined + b"\0" if parts else b"").hexdigest()[:40]
