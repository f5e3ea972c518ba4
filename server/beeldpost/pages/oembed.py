"""oEmbed 1.0 (https://oembed.com): a portal pastes an item's URL and gets an embeddable player.

`/oembed?url=<item page>&maxwidth=…&maxheight=…&format=json` answers a `rich` response
whose `html` is an <iframe> of `/embed/{item}`: the photo in a viewer with its credit
line underneath. The iframe is sized to the photo's aspect ratio plus the credit bar,
within maxwidth × maxheight; the thumbnail comes from the image service, within them too.

As the spec says: an unsupported `format` is 501, a URL that is not one of ours 404,
and a missing or malformed parameter 400.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import BadRequest, NotFound, NotImplementedFeature

# The embed page's default width, and the height of its credit bar under the photo
# (one line of text; it wraps onto a second within the viewer's area when narrow).
DEFAULT_WIDTH = 800
CREDIT_BAR = 52
MIN_WIDTH, MIN_HEIGHT = 200, 120
THUMBNAIL_BOX = 400
# URLs of an item that oEmbed accepts: its pages, its embed page, its manifest.
_ITEM_PATHS = (
    re.compile(r"^/items/(?P<item>[^/]+)/?$"),
    re.compile(r"^/items/(?P<item>[^/]+)/uv/?$"),
    re.compile(r"^/embed/(?P<item>[^/]+)/?$"),
    re.compile(r"^/iiif/manifests/(?P<item>[^/]+)/?$"),
)


@dataclass(frozen=True)
class Request:
    url: str
    maxwidth: int | None
    maxheight: int | None


def parse_request(args) -> Request:
    """The oEmbed parameters from a query string (a Flask MultiDict)."""
    fmt = args.get("format", "json").strip().lower()
    if fmt != "json":
        raise NotImplementedFeature(f"format {fmt!r} is not offered; use format=json.")
    url = args.get("url", "").strip()
    if not url:
        raise BadRequest("the url parameter is missing: /oembed?url=<the item's page>.")
    return Request(url, _dimension(args, "maxwidth"), _dimension(args, "maxheight"))


def _dimension(args, name: str) -> int | None:
    value = args.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number of pixels, got {value!r}.") from None
    if number <= 0:
        raise BadRequest(f"{name} must be positive, got {number}.")
    return number


def item_of(url: str, base: str) -> str:
    """The item an URL of this server shows; NotFound for any other URL."""
    parts = urlsplit(url)
    ours = urlsplit(base)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != ours.netloc.lower():
        raise NotFound(f"{url!r} is not a page of this server ({ours.netloc}).")
    path = parts.path
    prefix = ours.path.rstrip("/")
    if prefix:
        if not path.startswith(prefix + "/"):
            raise NotFound(f"{url!r} is not a page of this server.")
        path = path[len(prefix):]
    for pattern in _ITEM_PATHS:
        match = pattern.match(path)
        if match:
            return match.group("item")
    raise NotFound(f"{url!r} is not the page of an item.")


def embed_source(embed_page: str, url: str) -> str:
    """The embed page for `url`, keeping a content state (`iiif-content`) the URL carries,
    so a shared view of a region embeds as that region."""
    states = parse_qs(urlsplit(url).query).get("iiif-content")
    if not states:
        return embed_page
    return f"{embed_page}?{urlencode({'iiif-content': states[0]})}"


def embed_size(image_width: int, image_height: int, maxwidth: int | None,
               maxheight: int | None) -> tuple[int, int]:
    """The iframe's width and height: the photo's aspect plus the credit bar, in bounds."""
    ratio = image_height / image_width
    width = min(DEFAULT_WIDTH, maxwidth or DEFAULT_WIDTH)
    height = math.ceil(width * ratio) + CREDIT_BAR
    if maxheight is not None and height > maxheight:
        height = maxheight
        width = min(width, max(1, math.floor((height - CREDIT_BAR) / ratio)))
    # Never smaller than a usable viewer, unless the consumer's box is smaller still.
    width = max(width, min(MIN_WIDTH, maxwidth or MIN_WIDTH))
    height = max(height, min(MIN_HEIGHT, maxheight or MIN_HEIGHT))
    return width, height


def iframe(src: str, width: int, height: int, title: str) -> str:
    return (f'<iframe src="{escape(src)}" width="{width}" height="{height}" '
            f'title="{escape(title)}" style="border:0;max-width:100%" '
            f'allow="fullscreen" allowfullscreen loading="lazy"></iframe>')
