"""The web pages, embed page and oEmbed over HTTP (Flask's test client; the browser tests
are in test_browser.py): what they say, in which language, and their HTTP rules."""

from __future__ import annotations

import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from beeldpost import create_app
from beeldpost.presentation.content_state import decode, encode, region_state, target_of

from support.presentation import MANIFESTS, PHOTO, REPO, seed_interview

IMAGES = REPO / "images"
BASE = "http://localhost"
ITEM_PAGE = f"{BASE}/items/{PHOTO}"
MANIFEST = f"{BASE}/iiif/manifests/{PHOTO}"
CANVAS = f"{MANIFEST}/canvas"
CREDIT = {"nl": "foto Jan Blom, bron Nieuw Land", "en": "photo Jan Blom, source Nieuw Land"}
TITLE = {"nl": "Het managementteam van Wijkgericht Werken, 1999",
         "en": "The management team of Wijkgericht Werken, 1999"}
RIGHTS = "http://rightsstatements.org/vocab/InC/1.0/"
ITEMS = sorted(path.stem for path in MANIFESTS.glob("*.yaml"))
BUILD = "testbuild0001"


def fake_viewers(folder: Path) -> Path:
    """A stand-in for `make viewers` output: the files the pages link to."""
    for name in ("mirador/mirador.min.js", "uv/umd/UV.js", "uv/uv.css", "mirador/fonts/roboto.css"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {name} */\n" + "x" * 2000)
    (folder / "mirador" / "mirador.min.js.gz").write_bytes(
        gzip.compress((folder / "mirador" / "mirador.min.js").read_bytes()))
    (folder / "build-id").write_text(BUILD + "\n")
    return folder


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    viewers = fake_viewers(tmp_path_factory.mktemp("viewers"))
    app = create_app({"images_dir": IMAGES, "manifests_dir": MANIFESTS, "viewers_dir": viewers,
                      "cache_dir": tmp_path_factory.mktemp("pages-cache")})
    return app.test_client()


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """The same, with no viewer assets built."""
    app = create_app({"images_dir": IMAGES, "manifests_dir": MANIFESTS,
                      "viewers_dir": tmp_path_factory.mktemp("no-viewers"),
                      "cache_dir": tmp_path_factory.mktemp("pages-cache-bare")})
    return app.test_client()


class Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, html: str):
        super().__init__()
        self.html = html
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.text_parts: list[str] = []
        self._script: dict | None = None
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._script, self._buffer = attributes, []
        if tag in ("script", "style", "textarea"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._buffer)))
            self._script = None
        if tag in ("script", "style", "textarea"):
            self._skip -= 1

    def handle_data(self, data):
        if self._script is not None:
            self._buffer.append(data)
        elif not self._skip:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def meta(self, prop: str) -> str | None:
        found = self.find("meta", property=prop)
        return found[0]["content"] if found else None

    def json_block(self, kind: str, **attrs) -> dict:
        blocks = [body for a, body in self.scripts
                  if a.get("type") == kind and all(a.get(k) == v for k, v in attrs.items())]
        assert len(blocks) == 1, blocks
        return json.loads(blocks[0])

    @property
    def config(self) -> dict:
        return self.json_block("application/json", id="beeldpost-config")


def get_page(client, path: str, language: str = "nl", status: int = 200, **headers) -> Page:
    response = client.get(path, headers={"Accept-Language": language, **headers})
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


# --------------------------------------------------------------------------- the collection


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_collection_page_lists_every_item(client, language):
    page = get_page(client, "/", language)
    assert page.find("html", lang=language)
    links = {a.get("href") for a in page.find("a")}
    for item in ITEMS:
        assert f"{BASE}/items/{item}" in links
        assert f"{BASE}/iiif/manifests/{item}?manifest={quote(f'{BASE}/iiif/manifests/{item}', safe='')}" \
            in links  # the IIIF drag-and-drop convention
    assert TITLE[language] in page.text
    assert CREDIT[language] in page.text and "1999" in page.text
    thumbnails = [img for img in page.find("img") if "/iiif/3/" in img.get("src", "")]
    assert len(thumbnails) == len(ITEMS)
    assert all(img.get("alt") and img.get("width") and img.get("height") for img in thumbnails)
    assert f"{BASE}/iiif/collection" in links
    assert page.find("h1")


def test_thumbnails_on_the_collection_page_are_served(client):
    page = get_page(client, "/")
    for img in page.find("img"):
        if "/iiif/3/" in img["src"]:
            response = client.get(urlsplit(img["src"]).path)
            assert response.status_code == 200 and response.mimetype == "image/jpeg"


# --------------------------------------------------------------------------- the item page


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_item_page_shows_title_credit_rights_and_transcript(client, language):
    page = get_page(client, f"/items/{PHOTO}", language)
    assert page.find("html", lang=language)
    assert page.find("h1") and TITLE[language] in page.text
    assert CREDIT[language] in page.text
    rights = page.find("a", rel="license", href=RIGHTS)
    assert rights, "the rights statement is linked on the page"
    assert {"nl": "Alle rechten voorbehouden", "en": "All rights reserved"}[language] in page.text
    # The transcript as plain HTML below the viewer, in its own language.
    assert page.find("div", lang="nl")
    for paragraph in seed_interview()[:3]:
        assert " ".join(paragraph.split()[:12]) in page.text
    assert "Aziz Manar" in page.text and "Thea Laffra" in page.text
    # Every image has a text alternative.
    assert all(img.get("alt") for img in page.find("img"))


def test_page_language_follows_accept_language_and_lang(client):
    assert get_page(client, f"/items/{PHOTO}", "de, en;q=0.8, nl;q=0.9").find("html", lang="nl")
    assert get_page(client, f"/items/{PHOTO}", "fr").find("html", lang="en")
    assert get_page(client, f"/items/{PHOTO}?lang=en", "nl").find("html", lang="en")
    response = client.get(f"/items/{PHOTO}")
    assert "Accept-Language" in response.headers["Vary"]


def test_the_item_page_carries_schema_org_json_ld(client):
    page = get_page(client, f"/items/{PHOTO}", "nl")
    data = page.json_block("application/ld+json")
    assert data["@context"] == "https://schema.org"
    assert "Photograph" in data["@type"]
    assert data["name"] == TITLE["nl"]
    assert data["dateCreated"] == "1999"
    assert data["creator"] == {"@type": "Person", "name": "Jan Blom"}
    assert data["creditText"] == CREDIT["nl"]
    assert data["copyrightNotice"] == "Alle rechten voorbehouden"
    assert data["license"] == RIGHTS
    assert data["url"] == ITEM_PAGE
    for key in ("contentUrl", "thumbnailUrl"):
        assert data[key].startswith(f"{BASE}/iiif/3/{PHOTO}/") and data[key].endswith("/default.jpg")
        response = client.get(urlsplit(data[key]).path)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert {person["name"] for person in data["about"]} == {"Aziz Manar", "Thea Laffra"}
    assert data["subjectOf"]["url"] == MANIFEST


def test_the_item_page_carries_open_graph_and_discovery_links(client):
    page = get_page(client, f"/items/{PHOTO}", "en")
    assert page.meta("og:title") == TITLE["en"]
    assert page.meta("og:url") == ITEM_PAGE
    assert CREDIT["en"] in page.meta("og:description")
    image = page.meta("og:image")
    assert image.startswith(f"{BASE}/iiif/3/{PHOTO}/")
    assert int(page.meta("og:image:width")) > 0 and page.meta("og:image:alt")
    assert client.get(urlsplit(image).path).status_code == 200
    oembed = page.find("link", rel="alternate", type="application/json+oembed")
    assert len(oembed) == 1
    assert parse_qs(urlsplit(oembed[0]["href"]).query)["url"] == [ITEM_PAGE]
    assert client.get(oembed[0]["href"].replace(BASE, "")).status_code == 200
    manifest = [link for link in page.find("link", rel="alternate")
                if link.get("type", "").startswith("application/ld+json")]
    assert manifest[0]["href"] == MANIFEST
    assert page.find("link", rel="canonical", href=ITEM_PAGE)


def test_the_item_page_loads_mirador_from_this_server_only(client):
    page = get_page(client, f"/items/{PHOTO}")
    sources = [a["src"] for a, _body in page.scripts if "src" in a]
    assert f"{BASE}/static/viewers/{BUILD}/mirador/mirador.min.js" in sources
    assert all(src.startswith(f"{BASE}/static/") for src in sources)
    assert all(not body.strip() or a.get("type") in ("application/json", "application/ld+json")
               for a, body in page.scripts), "no inline script"
    assert not re.search(r"\son[a-z]+=", page.html), "no inline event handlers"
    config = page.config
    assert config["viewer"] == "mirador" and config["manifest"] == MANIFEST
    assert config["canvas"] == CANVAS and config["region"] is None
    assert config["assets"] == f"{BASE}/static/viewers/{BUILD}"


def test_the_uv_page(client):
    page = get_page(client, f"/items/{PHOTO}/uv", "en")
    sources = [a["src"] for a, _body in page.scripts if "src" in a]
    assert f"{BASE}/static/viewers/{BUILD}/uv/umd/UV.js" in sources
    assert page.config["viewer"] == "uv"
    assert TITLE["en"] in page.text and CREDIT["en"] in page.text
    assert page.find("a", href=ITEM_PAGE)  # back to the Mirador view


def test_without_viewer_assets_the_page_still_shows_the_photo_and_says_why(bare):
    page = get_page(bare, f"/items/{PHOTO}", "en")
    assert page.find("p", id="viewer-missing")
    assert "make viewers" in page.text
    assert not [a for a, _body in page.scripts if "src" in a]
    still = page.find("img", **{"class": "bp-still"})
    assert still and still[0]["src"].startswith(f"{BASE}/iiif/3/{PHOTO}/")
    assert CREDIT["en"] in page.text and "Wijkgericht Werken was in die tijd" in page.text
    embed = get_page(bare, f"/embed/{PHOTO}", "en")
    assert embed.find("img", **{"class": "bp-still"}) and CREDIT["en"] in embed.text


def test_unknown_items_are_a_plain_404(client):
    for path in ("/items/nope", "/items/nope/uv", "/embed/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/plain"


# --------------------------------------------------------------------------- content state


def item_config(client, content_state: str, language="nl") -> tuple[Page, dict]:
    page = get_page(client, f"/items/{PHOTO}?iiif-content={content_state}", language)
    return page, page.config


def test_a_content_state_opens_the_viewer_at_a_region(client):
    encoded = encode(region_state(MANIFEST, CANVAS, (5007, 817, 840, 1508)))
    page, config = item_config(client, encoded)
    assert config["region"] == [5007, 817, 840, 1508]
    assert not page.find("p", id="content-state-notice")
    # Also as the bare target, a plain canvas URI with a fragment, and on the embed page.
    _page, config = item_config(client, encode({"id": f"{CANVAS}#xywh=10,20,30,40", "type": "Canvas",
                                                "partOf": [{"id": MANIFEST, "type": "Manifest"}]}))
    assert config["region"] == [10, 20, 30, 40]
    _page, config = item_config(client, quote(f"{CANVAS}#xywh=1,2,3,4", safe=""))
    assert config["region"] == [1, 2, 3, 4]
    embed = get_page(client, f"/embed/{PHOTO}?iiif-content={encoded}")
    assert embed.config["region"] == [5007, 817, 840, 1508]


def test_the_person_links_are_content_states(client):
    page = get_page(client, f"/items/{PHOTO}", "nl")
    links = [a["href"] for a in page.find("a") if "iiif-content=" in a.get("href", "")]
    assert len(links) == 2
    regions = []
    for link in links:
        assert link.startswith(f"{ITEM_PAGE}?iiif-content=")
        state = decode(parse_qs(urlsplit(link).query)["iiif-content"][0])
        assert state["motivation"] == ["contentState"]
        target = target_of(state)
        assert (target.manifest, target.canvas) == (MANIFEST, CANVAS)
        regions.append(target.region)
    manifest = client.get(f"/iiif/manifests/{PHOTO}").get_json()
    people = next(page for page in manifest["items"][0]["annotations"] if page["id"].endswith("/people"))
    assert [tuple(float(n) for n in a["target"].split("#xywh=")[1].split(",")) for a in people["items"]] \
        == regions


@pytest.mark.parametrize("value", [
    "garbage!!",
    encode(region_state(f"{BASE}/iiif/manifests/other", f"{BASE}/iiif/manifests/other/canvas", (1, 2, 3, 4))),
    encode(region_state("https://elsewhere.example/manifest", "https://elsewhere.example/canvas", None)),
    encode(region_state(MANIFEST, CANVAS, (99999, 99999, 10, 10))),
])
def test_an_unusable_content_state_opens_the_whole_photo_with_a_notice(client, value):
    page, config = item_config(client, value)
    assert config["region"] is None
    assert page.find("p", id="content-state-notice")


# --------------------------------------------------------------------------- the embed page and framing


def test_the_embed_page_may_be_framed_by_anyone_and_shows_the_credit(client):
    response = client.get(f"/embed/{PHOTO}", headers={"Accept-Language": "nl"})
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    page = Page(response.get_data(as_text=True))
    assert CREDIT["nl"] in page.text
    assert page.find("a", href=ITEM_PAGE, target="_blank")
    assert page.find("meta", name="viewport")
    assert page.config["mode"] == "embed"


@pytest.mark.parametrize("path", ["/", f"/items/{PHOTO}", f"/items/{PHOTO}/uv",
                                  f"/items/{PHOTO}/transcript.html"])
def test_every_other_page_may_only_be_framed_by_this_site(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [f"/iiif/manifests/{PHOTO}", f"/iiif/3/{PHOTO}/info.json",
                                  "/oembed?url=" + quote(ITEM_PAGE)])
def test_data_is_not_subject_to_framing_rules(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_pages_allow_scripts_from_this_server_only(client):
    policy = client.get(f"/items/{PHOTO}").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]


# --------------------------------------------------------------------------- assets


def test_viewer_assets_are_served_long_cached_and_compressed(client):
    path = f"/static/viewers/{BUILD}/mirador/mirador.min.js"
    plain = client.get(path)
    assert plain.status_code == 200 and plain.mimetype == "text/javascript"
    assert "immutable" in plain.headers["Cache-Control"] and "max-age=31536000" in plain.headers["Cache-Control"]
    assert plain.headers["Access-Control-Allow-Origin"] == "*"
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert "Accept-Encoding" in zipped.headers["Vary"]
    old = client.get("/static/viewers/oldbuild/mirador/mirador.min.js")
    assert old.status_code == 200 and "immutable" not in old.headers["Cache-Control"]
    assert client.get(path, headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("name", ["nope.js", "../build-id", "..%2F..%2Fpyproject.toml", "mirador"])
def test_only_files_of_the_build_are_served(client, name):
    assert client.get(f"/static/viewers/{BUILD}/{name}").status_code == 404


def test_own_static_files_are_versioned(client):
    page = get_page(client, f"/items/{PHOTO}")
    css = page.find("link", rel="stylesheet")[-1]["href"]
    assert re.search(r"/static/beeldpost\.css\?v=[0-9a-f]{12}$", css)
    response = client.get(css.replace(BASE, ""))
    assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"]
    for name in ("viewer.js", "uv-nl.json", "iiif-logo.svg"):
        assert client.get(f"/static/{name}").status_code == 200


# --------------------------------------------------------------------------- oEmbed


def oembed(client, status=200, **params):
    response = client.get("/oembed", query_string=params, headers={"Accept-Language": "nl"})
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def test_oembed_answers_a_rich_iframe_of_the_embed_page(client):
    response = oembed(client, url=ITEM_PAGE)
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    data = json.loads(response.get_data(as_text=True))
    assert data["version"] == "1.0" and data["type"] == "rich"
    assert data["title"] == TITLE["nl"]
    assert data["author_name"] == "Jan Blom"
    assert data["provider_name"] and data["provider_url"].startswith("http")
    page = Page(data["html"])
    frames = page.find("iframe")
    assert len(frames) == 1 and frames[0]["src"] == f"{BASE}/embed/{PHOTO}"
    assert int(frames[0]["width"]) == data["width"] and int(frames[0]["height"]) == data["height"]
    assert frames[0]["title"] == TITLE["nl"]
    # The photo's aspect ratio (3:2) plus the credit bar.
    assert data["width"] == 800 and abs(data["height"] - 52 - 800 * 4267 / 6400) <= 1
    thumbnail = client.get(urlsplit(data["thumbnail_url"]).path)
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert max(data["thumbnail_width"], data["thumbnail_height"]) <= 400


@pytest.mark.parametrize("maxwidth, maxheight", [(300, None), (None, 250), (640, 300), (1000, 2000)])
def test_oembed_respects_maxwidth_and_maxheight(client, maxwidth, maxheight):
    params = {"url": ITEM_PAGE, "format": "json"}
    if maxwidth:
        params["maxwidth"] = maxwidth
    if maxheight:
        params["maxheight"] = maxheight
    data = oembed(client, **params).get_json()
    if maxwidth:
        assert data["width"] <= maxwidth and data["thumbnail_width"] <= maxwidth
    if maxheight:
        assert data["height"] <= maxheight and data["thumbnail_height"] <= maxheight
    image_height = data["height"] - 52
    assert abs(image_height / data["width"] - 4267 / 6400) < 0.02  # no letterboxing
    width, height = data["thumbnail_width"], data["thumbnail_height"]
    assert abs(height / width - 4267 / 6400) < 0.02


@pytest.mark.parametrize("url", [f"{BASE}/items/{PHOTO}/uv", f"{BASE}/embed/{PHOTO}", MANIFEST,
                                 f"{ITEM_PAGE}?lang=en#top", f"https://localhost/items/{PHOTO}"])
def test_oembed_knows_every_url_of_an_item(client, url):
    assert oembed(client, url=url).get_json()["html"].count(f"/embed/{PHOTO}") == 1


def test_oembed_of_a_shared_view_embeds_that_view(client):
    state = encode(region_state(MANIFEST, CANVAS, (5007, 817, 840, 1508)))
    data = oembed(client, url=f"{ITEM_PAGE}?iiif-content={state}").get_json()
    src = Page(data["html"]).find("iframe")[0]["src"]
    assert src == f"{BASE}/embed/{PHOTO}?iiif-content={state}"
    assert get_page(client, src.replace(BASE, "")).config["region"] == [5007, 817, 840, 1508]


@pytest.mark.parametrize("params, status", [
    ({"url": ITEM_PAGE, "format": "xml"}, 501),
    ({"url": f"{BASE}/items/nope"}, 404),
    ({"url": f"https://elsewhere.example/items/{PHOTO}"}, 404),
    ({"url": f"{BASE}/iiif/collection"}, 404),
    ({"url": "not a url"}, 404),
    ({}, 400),
    ({"url": ITEM_PAGE, "maxwidth": "wide"}, 400),
    ({"url": ITEM_PAGE, "maxheight": "0"}, 400),
])
def test_oembed_errors_as_the_spec_says(client, params, status):
    response = oembed(client, status=status, **params)
    assert response.mimetype == "text/plain"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
