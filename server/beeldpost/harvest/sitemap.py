"""For crawlers: /robots.txt (everything allowed, where the sitemap is) and /sitemap.xml.

The sitemap lists every published item's web page and its IIIF manifests, with the
time of its last change from the activity journal (`lastmod`), and the collection.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Blueprint, current_app, g

from ..catalogue.journal import Journal
from ..http.responses import base_url, content_response
from ..presentation.links import manifest_v2_url
from ..presentation.manifests import Urls

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_AGE = 3600


def _journal() -> Journal:
    return current_app.extensions["beeldpost.journal"]


def build_sitemap(base: str, items: list[tuple[str, str]]) -> str:
    urls = Urls(base)
    urlset = ET.Element("urlset", {"xmlns": SITEMAP_NS})

    def add(location: str, modified: str | None = None) -> None:
        entry = ET.SubElement(urlset, "url")
        ET.SubElement(entry, "loc").text = location
        if modified:
            ET.SubElement(entry, "lastmod").text = modified

    add(urls.collection, max((changed for _item, changed in items), default=None))
    for item, changed in items:
        add(urls.item_page(item), changed)
        add(urls.manifest(item), changed)
        add(manifest_v2_url(urls.manifest(item)), changed)
    ET.indent(urlset)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(urlset, encoding="unicode") + "\n"


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
    def sitemap():
        journal = _journal()
        journal.refresh()
        return _answer(build_sitemap(base_url(), journal.live_items()),
                       "application/xml; charset=utf-8")

    return blueprint
