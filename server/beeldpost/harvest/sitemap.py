"""For crawlers: /robots.txt (everything allowed, where the sitemap is) and the sitemaps.

/sitemap.xml is a sitemap index; /sitemap/{n}.xml are its sitemaps, none holding more
URLs than BEELDPOST_SITEMAP_URLS (the protocol allows 50,000). Together they list the
collection and every published item's web page and its IIIF manifests (3.0 and 2.1),
each with the time of its last change from the activity journal (`lastmod`); the
index gives each sitemap the latest of its items'. Each sitemap is one ranged query
of the journal, so its cost does not grow with the archive.

No sitemap links to an image (no `image:image` entries): an item whose image the
public may not see (staff only, closed until a date, or the reading room's or behind
terms with no cap) is listed by its page and manifests alone, whose metadata is
public, as every other item is.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from flask import Blueprint, current_app, g

from ..catalogue.journal import Journal
from ..errors import NotFound
from ..http.responses import base_url, content_response
from ..presentation.links import manifest_v2_url
from ..presentation.manifests import Urls

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_AGE = 3600


def _journal() -> Journal:
    return current_app.extensions["beeldpost.journal"]


def _current() -> None:
    current_app.extensions["beeldpost.catalogue"].current()


URLS_PER_ITEM = 3  # its page, its manifest, its Presentation 2.1 manifest


def items_per_sitemap(max_urls: int) -> int:
    # The first sitemap also holds the collection, hence the one URL kept free.
    return max(1, (max_urls - 1) // URLS_PER_ITEM)


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def build_sitemap_index(base: str, last_changes: list[str],
                        collection_changes: list[str] = ()) -> str:
    """The index: one sitemap per run of items, then one per run of the archive's
    levels (Collections), each with the latest change in it."""
    index = ET.Element("sitemapindex", {"xmlns": SITEMAP_NS})
    listed = [(f"{base}/sitemap/{number}.xml", changed)
              for number, changed in enumerate(last_changes or [None])]
    listed += [(f"{base}/sitemap/collections/{number}.xml", changed)
               for number, changed in enumerate(collection_changes)]
    for location, changed in listed:
        entry = ET.SubElement(index, "sitemap")
        ET.SubElement(entry, "loc").text = location
        if changed:
            ET.SubElement(entry, "lastmod").text = changed
    return _xml(index)


def build_collections_sitemap(base: str, collections: list[tuple[str, str]]) -> str:
    """A sitemap of levels of the archive: each one's Collection."""
    urls = Urls(base)
    urlset = ET.Element("urlset", {"xmlns": SITEMAP_NS})
    for path, changed in collections:
        entry = ET.SubElement(urlset, "url")
        ET.SubElement(entry, "loc").text = urls.collection_part(path)
        if changed:
            ET.SubElement(entry, "lastmod").text = changed
    return _xml(urlset)


def build_sitemap(base: str, items: list[tuple[str, str]], with_collection: bool = True,
                  collection_changed: str | None = None) -> str:
    """A sitemap of these items, and of the collection (the first sitemap lists it).

    Written as text: 50,000 URLs through ElementTree and its indent took over a second."""
    urls = Urls(base)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{SITEMAP_NS}">']

    def add(location: str, modified: str | None = None) -> None:
        lines.append(f"  <url>\n    <loc>{escape(location)}</loc>"
                     + (f"\n    <lastmod>{escape(modified)}</lastmod>" if modified else "")
                     + "\n  </url>")

    if with_collection:
        add(urls.collection, collection_changed)
    for item, changed in items:
        add(urls.item_page(item), changed)
        add(urls.manifest(item), changed)
        add(manifest_v2_url(urls.manifest(item)), changed)
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def build_robots(base: str) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n"


def _answer(body: str, mimetype: str):
    return content_response(body, mimetype, MAX_AGE)


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("harvest", __name__)

    @blueprint.before_request
    def _label():
        g.route = "harvest"

    @blueprint.route("/robots.txt", methods=["GET"])
    def robots():
        return _answer(build_robots(base_url()), "text/plain; charset=utf-8")

    @blueprint.route("/sitemap.xml", methods=["GET"])
    def sitemap_index():
        journal = _journal()
        settings = current_app.config["BEELDPOST"]
        size = items_per_sitemap(settings.sitemap_urls)
        base = base_url()
        # One pass over every published item: kept until the catalogue changes.
        body = current_app.extensions["beeldpost.catalogue"].kept(
            ("sitemap index", base, size), lambda: build_sitemap_index(
                base, journal.live_pages(size),
                journal.live_collection_pages(settings.sitemap_urls)))
        return _answer(body, "application/xml; charset=utf-8")

    @blueprint.route("/sitemap/collections/<int:number>.xml", methods=["GET"])
    def collections_sitemap(number: int):
        journal = _journal()
        _current()
        size = current_app.config["BEELDPOST"].sitemap_urls
        collections = journal.live_collections(number * size, size)
        if not collections:
            raise NotFound(f"there is no collections sitemap {number}: /sitemap.xml lists them.")
        return _answer(build_collections_sitemap(base_url(), collections),
                       "application/xml; charset=utf-8")

    @blueprint.route("/sitemap/<int:number>.xml", methods=["GET"])
    def sitemap(number: int):
        journal = _journal()
        _current()
        size = items_per_sitemap(current_app.config["BEELDPOST"].sitemap_urls)
        catalogue = current_app.extensions["beeldpost.catalogue"]
        # (Counting 100,000 published items takes 20 ms: kept with the sitemaps.)
        count, latest = catalogue.kept(("live summary",), journal.live_summary)
        sitemaps = max(1, -(-count // size))
        if number >= sitemaps:
            listed = "one sitemap, /sitemap/0.xml" if sitemaps == 1 else \
                f"{sitemaps} sitemaps, numbered from 0"
            raise NotFound(f"there is no sitemap {number}: /sitemap.xml lists {listed}.")
        base = base_url()
        # The collection changes whenever its members do: the latest change of all.
        body = catalogue.kept(
            ("sitemap", base, number, size), lambda: build_sitemap(
                base, journal.live_items(number * size, size), number == 0, latest))
        return _answer(body, "application/xml; charset=utf-8")

    return blueprint
