"""Web pages for people and portals: the collection, each item in a viewer, an embed page, oEmbed.

    /                       the collection: every item with thumbnail, title, date and credit
    /search?q=…             search every item's words, by level of the archive and years (search_page.py)
    /items/{item}           the item in Mirador 4, with credit, rights, metadata and transcript
    /items/{item}/uv        the same in Universal Viewer 4.4
    /embed/{item}           a minimal page for an <iframe> elsewhere (the only frameable page)
    /oembed?url=…           oEmbed for the above (see oembed.py)
    /static/viewers/{build}/…   the built viewer assets (`make viewers`), cached for a year

Pages are rendered from the item records with Jinja (autoescaped); their words follow
Accept-Language (Dutch or English, `?lang=` overrides), the viewers' interface follows
navigator.languages. Item pages take a IIIF Content State (`?iiif-content=`) to open
at a region. Nothing on a page comes from another host: no CDN, no fonts, no analytics.
When the viewer assets have not been built, pages still show the photo, its credit,
rights and transcript, and say that the viewer is missing.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    send_file,
)

from ..catalogue.index import Entry
from ..catalogue.records import Record
from ..catalogue.store import Catalogue
from ..errors import BadRequest, BeeldpostError, NotFound
from ..http import cdn
from ..http.responses import base_url, content_response, json_body
from ..image.info import VERSION_3
from ..image.operations import resolve
from ..image.parameters import parse_image_request
from ..presentation import content_state
from ..presentation.manifests import ImageFacts, Urls, build_manifest, shows_transcript, thumbnail
from . import oembed, search_page, sign_in

log = logging.getLogger(__name__)

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "en"  # when the browser asks for neither
PREVIEW_BOX = 1600  # the photo as one image: page fallback, og:image, schema.org contentUrl
PAGE_MAX_AGE = 0  # revalidate every time (a 304): records are edited while the server runs
ASSET_MAX_AGE = 365 * 24 * 3600
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "site": "Beeldpost",
        "skip": "Naar de inhoud",
        "all_items": "Alle stukken",
        "search_label": "Zoek in de collectie",
        "search_button": "Zoeken",
        "search_nav": "Zoeken",
        "levels_title": "Archief",
        "items_title": "Stukken",
        "pages_label": "Pagina's",
        "previous_page": "Vorige",
        "next_page": "Volgende",
        "last_page": "Laatste",
        "page_of": "Pagina {number} van {pages}",
        "collection_title": "Beeldpost: alle stukken",
        "collection_intro": "Foto's uit het archief. Open een stuk om het in te zoomen, de "
                            "naamsvermelding en de rechten te zien en de transcriptie te lezen.",
        "iiif_collection": "IIIF-collectie",
        "iiif_manifest": "IIIF-manifest",
        "iiif_drag": "Sleep het IIIF-logo naar een IIIF-viewer om het daar te openen.",
        "iiif_logo_alt": "IIIF-logo: sleep naar een IIIF-viewer",
        "view_mirador": "Bekijk in Mirador",
        "view_uv": "Bekijk in Universal Viewer",
        "credit": "Naamsvermelding",
        "rights": "Rechten",
        "about": "Over deze foto",
        "date": "Datum",
        "photographer": "Fotograaf",
        "people": "Personen",
        "place": "Plaats",
        "subject": "Onderwerp",
        "description": "Beschrijving",
        "source": "Bron",
        "collection": "Collectie",
        "provider": "Instelling",
        "links": "Zie ook",
        "show_in_viewer": "toon in de viewer",
        "transcript": "Transcriptie",
        "as_text": "als platte tekst",
        "as_html": "als webpagina",
        "share": "Deel deze weergave",
        "share_help": "Een link die de foto opent zoals je hem nu ziet.",
        "share_copied": "Link gekopieerd.",
        "embed": "Insluiten",
        "embed_help": "Plak deze code in een webpagina, of geef de link van deze pagina aan een "
                      "portal dat oEmbed kent.",
        "embed_code": "Code om in te sluiten",
        "viewer_label": "Beeldviewer",
        "viewer_missing": "De beeldviewer is niet geïnstalleerd op deze server, daarom staat hier "
                          "de foto zonder zoommogelijkheid. Beheerders: voer make viewers uit.",
        "noscript": "Zet JavaScript aan om in te zoomen.",
        "content_state_invalid": "De link naar een deel van de foto kon niet worden gelezen; "
                                 "de hele foto wordt getoond.",
        "open_item": "Open in Beeldpost",
        "language": "Taal",
        "made_with": "Gepubliceerd met Beeldpost: IIIF-afbeeldingen en -manifesten.",
        "items_none": "Er zijn nog geen stukken.",
        "photo_of": "Foto",
    },
    "en": {
        "site": "Beeldpost",
        "skip": "Skip to content",
        "all_items": "All items",
        "search_label": "Search the collection",
        "search_button": "Search",
        "search_nav": "Search",
        "levels_title": "Archive",
        "items_title": "Items",
        "pages_label": "Pages",
        "previous_page": "Previous",
        "next_page": "Next",
        "last_page": "Last",
        "page_of": "Page {number} of {pages}",
        "collection_title": "Beeldpost: all items",
        "collection_intro": "Photographs from the archive. Open an item to zoom in, see its credit "
                            "and rights, and read its transcript.",
        "iiif_collection": "IIIF Collection",
        "iiif_manifest": "IIIF Manifest",
        "iiif_drag": "Drag the IIIF logo into a IIIF viewer to open it there.",
        "iiif_logo_alt": "IIIF logo: drag into a IIIF viewer",
        "view_mirador": "View in Mirador",
        "view_uv": "View in Universal Viewer",
        "credit": "Credit",
        "rights": "Rights",
        "about": "About this photograph",
        "date": "Date",
        "photographer": "Photographer",
        "people": "People",
        "place": "Place",
        "subject": "Subject",
        "description": "Description",
        "source": "Source",
        "collection": "Collection",
        "provider": "Institution",
        "links": "See also",
        "show_in_viewer": "show in the viewer",
        "transcript": "Transcript",
        "as_text": "as plain text",
        "as_html": "as a web page",
        "share": "Share this view",
        "share_help": "A link that opens the photograph as you see it now.",
        "share_copied": "Link copied.",
        "embed": "Embed",
        "embed_help": "Paste this code into a web page, or give this page's address to a portal "
                      "that supports oEmbed.",
        "embed_code": "Code to embed",
        "viewer_label": "Image viewer",
        "viewer_missing": "The image viewer is not installed on this server, so the photograph "
                          "is shown here without zooming. Administrators: run make viewers.",
        "noscript": "Turn on JavaScript to zoom in.",
        "content_state_invalid": "The link to a part of the photograph could not be read; "
                                 "the whole photograph is shown.",
        "open_item": "Open in Beeldpost",
        "language": "Language",
        "made_with": "Published with Beeldpost: IIIF images and manifests.",
        "items_none": "There are no items yet.",
        "photo_of": "Photograph",
    },
}
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}
OG_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


# --------------------------------------------------------------------------- viewer assets


@dataclass(frozen=True)
class ViewerAssets:
    """The folder `make viewers` builds (frontend/ensure.sh): Mirador and UV, with a build id."""

    folder: Path

    REQUIRED = ("mirador/mirador.min.js", "uv/umd/UV.js", "uv/uv.css")

    def build_id(self) -> str | None:
        """The id of the complete build in the folder, or None when there is none."""
        try:
            build = (self.folder / "build-id").read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not build.isalnum() or not all((self.folder / name).is_file() for name in self.REQUIRED):
            return None
        return build

    def file(self, name: str) -> Path | None:
        """A file of the build by its relative name, never outside the folder."""
        root = self.folder.resolve()
        try:
            path = (root / name).resolve()
        except (OSError, RuntimeError):
            return None
        if root not in path.parents or not path.is_file():
            return None
        return path


# --------------------------------------------------------------------------- helpers


def _catalogue() -> Catalogue:
    return current_app.extensions["beeldpost.catalogue"]


def _viewers() -> ViewerAssets:
    return current_app.extensions["beeldpost.viewers"]


def page_language() -> str:
    asked = request.args.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


_asset_hashes: dict[str, tuple[float, str]] = {}


def asset_url(name: str) -> str:
    """URL of one of Beeldpost's own static files, versioned by its content."""
    path = Path(current_app.static_folder) / name
    stat = path.stat()
    cached = _asset_hashes.get(name)
    if cached is None or cached[0] != stat.st_mtime:
        cached = (stat.st_mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
        _asset_hashes[name] = cached
    return f"{base_url()}/static/{name}?v={cached[1]}"


def image_url(image: ImageFacts, urls: Urls, size: str, region: str = "full") -> dict:
    """A rendering from the image service: its URL and the size it will have."""
    parsed = parse_image_request(region, size, "0", "default.jpg", VERSION_3.number)
    ops = resolve(parsed, image.width, image.height, image.limits)
    return {"url": f"{urls.image_service(VERSION_3, image.identifier)}/{ops.canonical_path(3)}",
            "width": ops.width, "height": ops.height}


def preview(image: ImageFacts, urls: Urls, box: int = PREVIEW_BOX) -> dict:
    """The photo whole, as large as fits `box` and the image's limits (an image the
    public sees nothing of: the "not public" picture, as its thumbnail is)."""
    if not image.public:
        body = thumbnail(image, urls)
        return {"url": body.id, "width": body.width, "height": body.height}
    for size in (box, 1200, 800, 400, 200):
        try:
            return image_url(image, urls, f"!{size},{size}")
        except BeeldpostError:  # above the item's size limits: try smaller
            continue
    return image_url(image, urls, "max")


def _text(value, lang: str) -> str | None:
    """A record's Text in `lang` (None stays None)."""
    if value is None:
        return None
    entries = dict(value.entries)
    return entries.get(lang) or next(iter(entries.values()), None)


def html_response(body: str, *, frameable: bool = False) -> Response:
    response = content_response(body, "text/html; charset=utf-8", PAGE_MAX_AGE)
    response.headers["Vary"] = "Accept-Language"
    response.headers["Content-Security-Policy"] = content_security_policy(frameable)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if not frameable:
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def content_security_policy(frameable: bool) -> str:
    """Scripts and styles from this server only; images and data also from the public URL.

    `style-src 'unsafe-inline'` is needed by the viewers (Mirador's emotion and UV's
    jQuery inject styles); no inline script runs (configuration is a JSON data block).
    """
    own = "'self'"
    configured = current_app.config["BEELDPOST"].public_base_url
    if configured:
        parts = urlsplit(configured)
        own += f" {parts.scheme}://{parts.netloc}"
    return "; ".join([
        f"default-src {own}",
        f"script-src {own}",
        f"style-src {own} 'unsafe-inline'",
        f"img-src {own} data: blob:",
        f"font-src {own}",
        f"connect-src {own}",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors *" if frameable else "frame-ancestors 'self'",
    ])


def language_links(lang: str) -> list[dict]:
    """Links to this page in each language (keeping the other query parameters)."""
    links = []
    for code in LANGUAGES:
        query = {key: value for key, value in request.args.items() if key != "lang"}
        query["lang"] = code
        links.append({"code": code, "name": LANGUAGE_NAMES[code], "current": code == lang,
                      "url": f"{base_url()}{request.path}?{urlencode(query)}"})
    return links


# --------------------------------------------------------------------------- item views


@dataclass
class ItemView:
    """Everything a template shows of one item, in one language."""

    record: Record
    image: ImageFacts
    urls: Urls
    lang: str

    @property
    def item(self) -> str:
        return self.record.item

    @property
    def t(self) -> dict[str, str]:
        return TEXTS[self.lang]

    def text(self, name: str) -> str | None:
        return _text(getattr(self.record, name), self.lang)

    @property
    def title(self) -> str:
        return self.text("label")

    @property
    def credit(self) -> str:
        return self.text("credit")

    @property
    def rights_label(self) -> str:
        return self.text("rights_label") or self.record.rights

    @property
    def alt(self) -> str:
        """The image's text alternative: the caption says who is where."""
        return f"{self.t['photo_of']}: {self.title}. {self.text('summary')}"

    @property
    def page(self) -> str:
        return self.urls.item_page(self.item)

    @property
    def links(self) -> dict[str, str]:
        base = self.urls.base
        manifest = self.urls.manifest(self.item)
        return {
            "page": self.page,
            "uv": f"{self.page}/uv",
            "embed": f"{base}/embed/{self.item}",
            "manifest": manifest,
            "manifest_drag": f"{manifest}?{urlencode({'manifest': manifest})}",
            "collection": self.urls.collection,
            "home": f"{base}/",
            "oembed": f"{base}/oembed?{urlencode({'url': self.page, 'format': 'json'})}",
            "transcript_txt": self.urls.transcript(self.item, "txt"),
            "transcript_html": self.urls.transcript(self.item, "html"),
        }

    @cached_property
    def manifest(self) -> dict:
        """The item's manifest as served: the canvas and thumbnail are taken from it."""
        return build_manifest(self.record, self.image, self.urls)

    @property
    def canvas(self) -> str:
        return self.manifest["items"][0]["id"]

    @property
    def canvas_size(self) -> tuple[int, int]:
        """The canvas's coordinate space (content states and regions are in it)."""
        canvas = self.manifest["items"][0]
        return canvas["width"], canvas["height"]

    @cached_property
    def preview(self) -> dict:
        return preview(self.image, self.urls)

    @cached_property
    def thumbnail(self) -> dict:
        """The manifest's thumbnail (a whole pyramid level, at most 400 px)."""
        body = self.manifest["thumbnail"][0]
        return {"url": body["id"], "width": body["width"], "height": body["height"]}

    @property
    def provider(self) -> dict | None:
        provider = self.record.provider
        if provider is None:
            return None
        return {"name": _text(provider.label, self.lang), "url": provider.homepage}

    def people(self) -> list[dict]:
        result = []
        for person in self.record.people:
            state = content_state.region_state(self.links["manifest"], self.canvas, person.xywh)
            result.append({
                "name": person.name,
                "position": _text(person.position, self.lang),
                "link": f"{self.page}?{urlencode({'iiif-content': content_state.encode(state)})}",
            })
        return result

    def details(self) -> list[tuple[str, Any]]:
        """(label, value) rows for the page's description list, absent fields left out."""
        record, t = self.record, self.t
        rows: list[tuple[str, Any]] = []
        for name in ("date", "photographer", "place"):
            if getattr(record, name):
                rows.append((t[name], getattr(record, name)))
        for name in ("description", "subject", "collection"):
            if getattr(record, name):
                rows.append((t[name], self.text(name)))
        if record.source:
            rows.append((t["source"], record.source))
        return rows

    def transcript(self) -> dict | None:
        transcript = self.record.transcript
        if transcript is None or not shows_transcript(self.record):
            return None  # (none, or not public today: a staff-only or closed item's)
        return {"title": _text(transcript.title, self.lang), "language": self.record.language,
                "paragraphs": transcript.paragraphs,
                "citation": _text(transcript.citation, self.record.language)}

    def embed_html(self) -> str:
        width, height = oembed.embed_size(*self.canvas_size, None, None)
        return oembed.iframe(self.links["embed"], width, height, self.title)

    def json_ld(self) -> dict:
        """schema.org: the photograph with its credit and licence, for search engines."""
        record = self.record
        large = self.preview
        document: dict[str, Any] = {
            "@context": "https://schema.org",
            # Photograph is the kind of work; ImageObject makes contentUrl and the image
            # licence fields (creditText, copyrightNotice, license) apply to the image.
            "@type": ["Photograph", "ImageObject"],
            "@id": f"{self.page}#photograph",
            "url": self.page,
            "name": self.title,
            "description": self.text("summary"),
            "inLanguage": self.lang,
            "contentUrl": large["url"],
            "encodingFormat": "image/jpeg",
            "thumbnailUrl": self.thumbnail["url"],
            "creditText": self.credit,
            "copyrightNotice": self.rights_label,
            "license": record.rights,
            "subjectOf": {"@type": "CreativeWork", "url": self.links["manifest"],
                          "encodingFormat": f'application/ld+json;profile="{PRESENTATION_CONTEXT}"',
                          "name": self.t["iiif_manifest"]},
        }
        if record.date:
            document["dateCreated"] = record.date
        if record.photographer:
            document["creator"] = {"@type": "Person", "name": record.photographer}
        if record.place:
            document["contentLocation"] = {"@type": "Place", "name": record.place}
        if record.people:
            document["about"] = [{"@type": "Person", "name": person.name}
                                 for person in record.people]
        if record.subject:
            document["keywords"] = self.text("subject")
        if record.collection:
            document["isPartOf"] = {"@type": "Collection", "name": self.text("collection")}
        if record.provider:
            organisation = {"@type": "Organization", "name": self.provider["name"]}
            if record.provider.homepage:
                organisation["url"] = record.provider.homepage
                document["acquireLicensePage"] = record.provider.homepage
            document["provider"] = organisation
        return document

    def open_graph(self) -> list[tuple[str, str]]:
        large = self.preview
        tags = [
            ("og:type", "website"),
            ("og:site_name", self.t["site"]),
            ("og:title", self.title),
            ("og:description", f"{self.text('summary')} ({self.credit})"),
            ("og:url", self.page),
            ("og:locale", OG_LOCALES[self.lang]),
            *(("og:locale:alternate", OG_LOCALES[code]) for code in LANGUAGES if code != self.lang),
            ("og:image", large["url"]),
            ("og:image:type", "image/jpeg"),
            ("og:image:width", str(large["width"])),
            ("og:image:height", str(large["height"])),
            ("og:image:alt", self.alt),
        ]
        return tags


@dataclass
class ListedView:
    """An item as lists show it (home page, search results), from the catalogue's index
    alone: no record is parsed and no image opened for a list."""

    entry: Entry
    image: ImageFacts
    urls: Urls
    lang: str
    snippet: str | None = None  # search: the matching words, [[marked]]

    @property
    def item(self) -> str:
        return self.entry.item

    @property
    def t(self) -> dict[str, str]:
        return TEXTS[self.lang]

    @property
    def title(self) -> str:
        return self.entry.label(self.lang)

    @property
    def credit(self) -> str:
        return self.entry.credit(self.lang)

    @property
    def date(self) -> str | None:
        return self.entry.date

    @property
    def alt(self) -> str:
        return f"{self.t['photo_of']}: {self.title}"

    @property
    def page(self) -> str:
        return self.urls.item_page(self.item)

    @property
    def links(self) -> dict[str, str]:
        manifest = self.urls.manifest(self.item)
        return {"page": self.page, "manifest": manifest,
                "manifest_drag": f"{manifest}?{urlencode({'manifest': manifest})}"}

    @cached_property
    def thumbnail(self) -> dict:
        body = thumbnail(self.image, self.urls)
        return {"url": body.id, "width": body.width, "height": body.height}

    @property
    def snippet_parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, marked) runs, for the template to escape and mark."""
        parts, marked = [], False
        for piece in re.split(r"(\[\[|\]\])", self.snippet or ""):
            if piece in ("[[", "]]"):
                marked = piece == "[["
            elif piece:
                parts.append((piece, marked))
        return parts


def listed_views(entries: list[Entry], lang: str, snippets: list[str] | None = None
                 ) -> list[ListedView]:
    images = current_app.extensions["beeldpost.images"]
    urls = Urls(base_url())
    return [ListedView(entry, ImageFacts.of_entry(images, entry), urls, lang,
                       snippets[index] if snippets else None)
            for index, entry in enumerate(entries)]


def page_number(count: int, size: int) -> int:
    """The `page` parameter (1-based), within the pages there are (400 otherwise)."""
    value = request.args.get("page", "1")
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(f"page must be a whole number from 1, got {value!r}.")
    pages = max(1, -(-count // size))
    if int(value) > pages:
        raise NotFound(f"there are {pages} page(s); there is no page {value}.")
    return int(value)


def item_view(item: str, lang: str) -> ItemView:
    catalogue = _catalogue()
    record = catalogue.record(item)
    cdn.tag(cdn.item_tag(item), cdn.image_tag(record.image))
    image = ImageFacts.for_item(current_app.extensions["beeldpost.images"], record,
                                catalogue.entry(item))
    return ItemView(record, image, Urls(base_url()), lang)


def initial_view(view: ItemView) -> tuple[list[int] | None, bool]:
    """The region a `?iiif-content=` asks for on this item's canvas, and whether the
    parameter was given but could not be used."""
    value = request.args.get("iiif-content")
    if value is None:
        return None, False
    try:
        target = content_state.target_of(content_state.decode(value))
    except content_state.ContentStateError as error:
        log.info("unusable iiif-content on %s: %s", request.path, error)
        return None, True
    manifest = view.links["manifest"]
    if target.manifest not in (None, manifest) or target.canvas not in (None, view.canvas):
        return None, True
    if target.canvas is None and target.manifest is None:
        return None, True
    region = target.pixel_region(*view.canvas_size)
    if target.region is not None and region is None:
        return None, True
    return (list(region) if region else None), False


# --------------------------------------------------------------------------- blueprint


def _pagination(number: int, count: int, size: int, lang: str, **arguments: str) -> dict:
    """Links to the previous and next page of a paged list (page numbers from 1)."""
    pages = max(1, -(-count // size))

    def link(page: int) -> str:
        query = {**{k: v for k, v in arguments.items() if v}, "page": str(page)}
        if request.args.get("lang"):
            query["lang"] = lang
        return f"?{urlencode(query)}"

    return {"number": number, "pages": pages,
            "previous": link(number - 1) if number > 1 else None,
            "next": link(number + 1) if number < pages else None,
            "last": link(pages) if number < pages else None}


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("pages", __name__, template_folder="templates")

    @blueprint.route("/", methods=["GET"])
    def home():
        lang = page_language()
        urls = Urls(base_url())
        catalogue = _catalogue()
        count = catalogue.count()
        size = current_app.config["BEELDPOST"].home_page_size
        number = page_number(count, size)
        asked = tuple(sorted(request.args.items(multi=True)))  # the language links keep them

        def build() -> str:
            entries = listed_views(catalogue.items_page((number - 1) * size, size), lang)
            collection = urls.collection
            levels = [{"name": node.name, "count": node.total,
                       "url": urls.collection_part(node.path)} for node in catalogue.children("")]
            return render_template(
                "collection.html", lang=lang, t=TEXTS[lang], items=entries, levels=levels,
                pages=_pagination(number, count, size, lang), count=count,
                languages=language_links(lang), asset=asset_url,
                links={"home": f"{urls.base}/", "collection": collection,
                       "search": f"{urls.base}/search",
                       "collection_drag": f"{collection}?{urlencode({'collection': collection})}"},
            )

        # A page of the archive is the same for everyone until the catalogue changes.
        return html_response(catalogue.kept(("home", urls.base, lang, asked, size), build))

    @blueprint.route("/search", methods=["GET"])
    def search():
        """The search page: its parameters, checks and search are in search_page.py."""
        lang = page_language()
        urls = Urls(base_url())
        catalogue = _catalogue()
        size = current_app.config["BEELDPOST"].home_page_size
        asked = search_page.parse(request.args)
        # A page of results is the same for everyone until the catalogue changes.
        key = ("search page", urls.base, lang, tuple(sorted(request.args.items(multi=True))), size)
        return html_response(catalogue.kept(key, lambda: _search_page(catalogue, asked, lang,
                                                                      urls, size)))

    def _search_page(catalogue: Catalogue, asked, lang: str, urls: Urls, size: int) -> str:
        found = search_page.find(catalogue, asked, size)
        texts = {**TEXTS[lang], **search_page.TEXTS[lang]}
        results = listed_views([hit.entry for hit in found.hits], lang,
                               [hit.snippet for hit in found.hits])
        body = render_template(
            "search.html", lang=lang, t=texts, found=found, results=results,
            count_text=search_page.count_text(texts, found.total),
            first_number=(found.asked.page - 1) * size + 1,
            options=search_page.collection_options(catalogue, found.asked.collection),
            pages=search_page.page_links(found, request.args.get("lang") and lang),
            max_query=search_page.MAX_QUERY_CHARS, current="search",
            languages=language_links(lang), asset=asset_url,
            links={"home": f"{urls.base}/", "search": f"{urls.base}/search",
                   "collection": urls.collection},
        )
        return body

    @blueprint.route("/items/<item>", methods=["GET"])
    def item_page(item: str):
        return _item(item, "mirador")

    @blueprint.route("/items/<item>/uv", methods=["GET"])
    def item_page_uv(item: str):
        return _item(item, "uv")

    @blueprint.route("/embed/<item>", methods=["GET"])
    def embed(item: str):
        lang = page_language()
        view = item_view(item, lang)
        region, _unusable = initial_view(view)
        body = render_template(
            "embed.html", lang=lang, t=TEXTS[lang], view=view, asset=asset_url,
            assets=_assets_base(), viewer_config=_viewer_config(view, "mirador", "embed", region),
        )
        return html_response(body, frameable=True)

    @blueprint.route("/oembed", methods=["GET"])
    def oembed_endpoint():
        asked = oembed.parse_request(request.args)
        item = oembed.item_of(asked.url, base_url())
        view = item_view(item, page_language())
        width, height = oembed.embed_size(*view.canvas_size, asked.maxwidth, asked.maxheight)
        box_w = min(oembed.THUMBNAIL_BOX, asked.maxwidth or oembed.THUMBNAIL_BOX)
        box_h = min(oembed.THUMBNAIL_BOX, asked.maxheight or oembed.THUMBNAIL_BOX)
        thumb = image_url(view.image, view.urls, f"!{box_w},{box_h}")
        provider = view.provider
        document = {
            "version": "1.0",
            "type": "rich",
            "title": view.title,
            "provider_name": provider["name"] if provider else "Beeldpost",
            "provider_url": (provider or {}).get("url") or f"{view.urls.base}/",
            "html": oembed.iframe(oembed.embed_source(view.links["embed"], asked.url),
                                  width, height, view.title),
            "width": width,
            "height": height,
            "thumbnail_url": thumb["url"],
            "thumbnail_width": thumb["width"],
            "thumbnail_height": thumb["height"],
            "cache_age": 3600,
        }
        if view.record.photographer:
            document["author_name"] = view.record.photographer
        response = content_response(json_body(document), "application/json", PAGE_MAX_AGE)
        response.headers["Vary"] = "Accept-Language"
        return response

    @blueprint.route("/static/viewers/<build>/<path:name>", methods=["GET"])
    def viewer_asset(build: str, name: str):
        viewers = _viewers()
        path = viewers.file(name)
        if path is None:
            raise NotFound(f"no viewer file {name!r}; build the viewers with `make viewers`.")
        current = viewers.build_id()
        gzipped = path.with_name(path.name + ".gz")
        use_gzip = (request.accept_encodings["gzip"] > 0 and gzipped.is_file()
                    and gzipped.stat().st_mtime >= path.stat().st_mtime)
        mimetype = _mimetype(path.name)
        response = send_file(gzipped if use_gzip else path, mimetype=mimetype, conditional=True,
                             etag=True, max_age=None)
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        # The build id in the URL changes with every build, so the current build is immutable;
        # a page from before a rebuild still gets (today's) files, briefly cached.
        response.headers["Cache-Control"] = (f"public, max-age={ASSET_MAX_AGE}, immutable"
                                             if build == current else "public, max-age=300")
        return response

    return blueprint


def _mimetype(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower()
    known = {"js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
             "css": "text/css; charset=utf-8", "json": "application/json",
             "woff2": "font/woff2", "woff": "font/woff", "txt": "text/plain; charset=utf-8"}
    return known.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _assets_base() -> str | None:
    build = _viewers().build_id()
    return f"{base_url()}/static/viewers/{build}" if build else None


def _viewer_config(view: ItemView, viewer: str, mode: str, region: list[int] | None) -> dict:
    assets = _assets_base()
    return {
        "viewer": viewer,
        "mode": mode,
        "manifest": view.links["manifest"],
        "canvas": view.canvas,
        "canvasSize": list(view.canvas_size),
        "region": region,
        "page": view.page,
        "assets": assets,
        "uvDutch": asset_url("uv-nl.json"),
        "texts": {key: TEXTS[view.lang][key] for key in ("share_copied",)},
    }


def _item(item: str, viewer: str) -> Response:
    lang = page_language()
    view = item_view(item, lang)
    region, unusable = initial_view(view)
    body = render_template(
        "item.html", lang=lang, t=TEXTS[lang], view=view, viewer=viewer,
        languages=language_links(lang), asset=asset_url, assets=_assets_base(),
        content_state_unusable=unusable,
        viewer_config=_viewer_config(view, viewer, "page", region),
    )
    return html_response(body)


# --------------------------------------------------------------------------- framing


def frame_policy(response: Response) -> Response:
    """HTML may be framed by this site only, except the embed page, which anyone may frame.

    Other answers (JSON, images, text) carry no framing rules: they are data, and
    viewers on other sites fetch them (CORS) rather than frame them.
    """
    if response.mimetype != "text/html":
        return response
    if request.endpoint == "pages.embed" and response.status_code < 400:
        response.headers.pop("X-Frame-Options", None)
        return response
    if request.endpoint in sign_in.FRAMEABLE:  # IIIF token pages: framed by viewers anywhere
        return response
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    policy = response.headers.get("Content-Security-Policy")
    if not policy:
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'self'"
    return response


def static_cache(response: Response) -> Response:
    """Beeldpost's own static files: a year when asked by their versioned URL."""
    if request.endpoint == "static" and response.status_code in (200, 304):
        if request.args.get("v"):
            response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
    return response


def install(app: Flask) -> None:
    """Register the pages and their response rules on `app`."""
    settings = app.config["BEELDPOST"]
    app.extensions["beeldpost.viewers"] = ViewerAssets(Path(settings.viewers_dir))
    app.register_blueprint(make_blueprint())
    app.register_blueprint(sign_in.make_blueprint())
    app.after_request(frame_policy)
    app.after_request(static_cache)
