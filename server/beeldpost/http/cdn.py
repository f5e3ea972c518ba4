"""What a shared cache in front of the servers (a CDN, nginx's proxy_cache) needs
beyond what a browser does: how long it may keep an answer (`s-maxage`, apart from the
browser's `max-age`), and tags to purge by: one per image and one per item, so that an
archivist's fix to one record or one scan can be purged alone.

Tags go out under both names CDNs read: `Surrogate-Key` (Fastly, Varnish; space
separated) and `Cache-Tag` (Cloudflare, Akamai; comma separated). An identifier is
percent-encoded into its tag, so a tag never holds a space or a comma.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from flask import Flask, Response, g


@functools.lru_cache(maxsize=4096)  # every image answer carries it
def image_tag(identifier: str) -> str:
    return "image-" + quote(identifier, safe="")


def item_tag(item: str) -> str:
    return "item-" + quote(item, safe="")


def tag_headers(tags: list[str]) -> list[tuple[str, str]]:
    return [("Surrogate-Key", " ".join(tags)), ("Cache-Tag", ",".join(tags))] if tags else []


def tag(*tags: str) -> None:
    """Tag the answer this request gets (an item's documents: its item and its image)."""
    g.cache_tags = [*getattr(g, "cache_tags", []), *tags]


def shared_cache_control(max_age: int, shared_max_age: int) -> str:
    return f"public, max-age={max_age}, s-maxage={shared_max_age}"


def install(app: Flask) -> None:
    @app.after_request
    def _tags(response: Response) -> Response:
        for name, value in tag_headers(getattr(g, "cache_tags", [])):
            response.headers[name] = value
        return response
