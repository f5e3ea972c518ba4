"""The search page, /search, over a generated archive of a few hundred records in a
hierarchy beside the repository's own items: words without diacritics, prefixes and
phrases, narrowing by level and years, paging, highlighting that escapes, both
languages, the link in every page's header, and plain 400/404 answers. On SQLite and
on PostgreSQL (`client`)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from beeldpost import create_app

from support.archive import build
from support.postgres import BACKENDS, settings_for
from support.presentation import PHOTO, make_jpeg, record_data, write_record

BASE = "http://localhost"
PAGE_SIZE = 7


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return build(tmp_path_factory.mktemp("search-page"))


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, archive, tmp_path_factory):
    cache = tmp_path_factory.mktemp("search-page-cache")
    app = create_app({"images_dir": archive.images, "manifests_dir": archive.manifests,
                      "cache_dir": cache, **settings_for(request, request.param, cache),
                      "viewers_dir": tmp_path_factory.mktemp("no-viewers"),
                      "home_page_size": PAGE_SIZE,
                      # Nothing is written after the app is made: no check on every request.
                      "journal_interval": 3600})
    return app.test_client()


class Results(HTMLParser):
    """What a search page shows: result links, highlighted words, forms, the count."""

    def __init__(self, html: str):
        super().__init__()
        self.html = html
        self.tags: list[tuple[str, dict]] = []
        self.items: list[str] = []  # /items/… of each result, in order
        self.marks: list[str] = []
        self.snippets: list[str] = []
        self.text_parts: list[str] = []
        self._in: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        classes = attributes.get("class", "").split()
        if tag == "a" and self._in and self._in[-1] == "title":
            self.items.append(attributes["href"])
        if tag == "h3" and "bp-result-title" in classes:
            self._in.append("title")
        elif tag == "p" and "bp-snippet" in classes:
            self._in.append("snippet")
            self.snippets.append("")
        elif tag == "mark":
            self._in.append("mark")
            self.marks.append("")

    def handle_endtag(self, tag):
        if self._in and (tag, self._in[-1]) in (("h3", "title"), ("p", "snippet"),
                                                 ("mark", "mark")):
            self._in.pop()

    def handle_data(self, data):
        self.text_parts.append(data)
        if "mark" in self._in:
            self.marks[-1] += data
        if "snippet" in self._in:
            self.snippets[-1] += data

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag
                and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]

    @property
    def item_ids(self) -> list[str]:
        return [urlsplit(href).path.removeprefix("/items/") for href in self.items]


def search(client, language: str = "nl", status: int = 200, **params) -> Results:
    response = client.get("/search", query_string=params,
                          headers={"Accept-Language": language})
    assert response.status_code == status, response.get_data(as_text=True)
    return Results(response.get_data(as_text=True))


def every_page(client, **params) -> list[Results]:
    """Every page of a search, following its "next" links."""
    pages = [search(client, **params)]
    while following := pages[-1].find("a", rel="next"):
        query = {k: v[0] for k, v in parse_qs(urlsplit(following[0]["href"]).query).items()}
        pages.append(search(client, **query))
    return pages


def everything(client, **params) -> list[str]:
    """The items of every page of a search, in order."""
    return [item for page in every_page(client, **params) for item in page.item_ids]


def count_in(page: Results) -> int:
    found = re.search(r"(\d+) (?:stukken|stuk|items|item) (?:gevonden|found)", page.text)
    assert found, page.text
    return int(found.group(1))


# --------------------------------------------------------------------------- words


def test_a_word_without_diacritics_finds_the_transcript_with_them(client, archive):
    items = everything(client, q="wijkcoordinator")
    assert PHOTO in items
    assert set(items) == archive.with_word("wijkcoördinator") | {PHOTO}
    links = [href for page in every_page(client, q="wijkcoordinator") for href in page.items
             if href.endswith(f"/items/{PHOTO}")]
    assert links == [f"{BASE}/items/{PHOTO}"]


def test_case_and_diacritics_do_not_matter(client):
    plain = everything(client, q="wijkcoordinator")
    assert everything(client, q="WIJKCOÖRDINATOR") == plain
    assert everything(client, q="Wijkcoördinator") == plain


def test_a_star_matches_words_starting_with_it(client):
    whole = set(everything(client, q="wijkcoordinator"))
    assert set(everything(client, q="wijkcoord*")) == whole
    assert everything(client, q="wijkcoord") == []  # without the star, words are whole
    wider = set(everything(client, q="wijk*"))
    assert whole < wider
    assert set(everything(client, q="wijkpost")) < wider


def test_words_in_quotes_are_a_phrase(client):
    words = set(everything(client, q="wijkcoordinator wijkmanager"))
    assert set(everything(client, q='"wijkmanager een wijkcoordinator"')) == words
    assert everything(client, q='"wijkcoordinator een wijkmanager"') == []


def test_every_word_must_match(client, archive):
    both = set(everything(client, q="wijkcoordinator dronten"))
    assert both and both < set(everything(client, q="wijkcoordinator"))
    assert all(archive.items[item]["place"] == "Dronten" for item in both)


def test_labels_people_and_places_are_searched(client, archive):
    assert set(everything(client, q="Dijkbouw")) == archive.under("batavialand/zuiderzeewerken")
    assert PHOTO in everything(client, q="Aziz Manar")
    assert "wijkpost-leekerhoek" in everything(client, q="rijtjeshuis")


def test_each_result_shows_thumbnail_title_date_credit_and_marked_snippet(client, archive):
    page = search(client, q="wijkcoordinator", collection="stadsarchief-lelystad")
    assert page.item_ids
    first = page.item_ids[0]
    facts = archive.items[first]
    assert f"{facts['levels'][2]}:" in page.text and str(facts["year"]) in page.text
    assert "foto Jan Proef, bron Proefarchief" in page.text
    assert page.find("time")[0] is not None
    thumbnails = [img for img in page.find("img") if "/iiif/3/" in img.get("src", "")]
    assert len(thumbnails) == len(page.item_ids)
    assert all(img["width"] and img["height"] and img["alt"] == "" for img in thumbnails)
    assert set(page.marks) == {"wijkcoördinator"}
    assert all("wijkcoördinator" in snippet for snippet in page.snippets)


def test_thumbnails_are_served(client):
    page = search(client, q="dijkbouw")
    source = next(img["src"] for img in page.find("img") if "/iiif/3/" in img.get("src", ""))
    response = client.get(urlsplit(source).path)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"


# --------------------------------------------------------------------------- filters


def test_a_collection_narrows_to_that_level_and_below(client, archive):
    everywhere = set(everything(client, q="wijkcoordinator"))
    for path in ("batavialand", "batavialand/nieuw-land", "stadsarchief-lelystad/gemeentebestuur",
                 "batavialand/nieuw-land/wijkgericht-werken"):
        found = set(everything(client, q="wijkcoordinator", collection=path))
        assert found == everywhere & archive.under(path), path
    assert everything(client, q="wijkcoordinator", collection="batavialand/zuiderzeewerken") == []


def test_the_form_offers_the_top_levels_and_their_children_and_keeps_the_choice(client):
    page = search(client, q="wijkpost", collection="batavialand/nieuw-land")
    options = page.find("option")
    values = [option["value"] for option in options]
    assert values == ["", "batavialand", "batavialand/nieuw-land", "batavialand/zuiderzeewerken",
                      "stadsarchief-lelystad", "stadsarchief-lelystad/gemeentebestuur"]
    selected = [option["value"] for option in options if "selected" in option]
    assert selected == ["batavialand/nieuw-land"]
    assert "Batavialand › Nieuw Land" in page.html
    # A deeper level reached by a link is offered too, and kept.
    deep = search(client, q="wijkpost", collection="batavialand/nieuw-land/interviews")
    assert [o["value"] for o in deep.find("option") if "selected" in o] == [
        "batavialand/nieuw-land/interviews"]
    assert "selected" in search(client, q="wijkpost").find("option", value="")[0]


def test_years_narrow_to_items_dated_within_them(client, archive):
    everywhere = set(everything(client, q="wijkcoordinator"))
    found = set(everything(client, q="wijkcoordinator", **{"from": "1970", "to": "1979"}))
    assert found == everywhere & archive.in_years(1970, 1979) and found
    since = set(everything(client, q="wijkcoordinator", **{"from": "1995"}))
    assert since == everywhere & (archive.in_years(1995, 2100) | {PHOTO})
    until = set(everything(client, q="wijkcoordinator", to="1965"))
    assert until == everywhere & archive.in_years(0, 1965)
    # Both filters at once, and the form keeps them.
    page = search(client, q="wijkcoordinator", collection="batavialand", **{"from": "1980"},
                  to="1999")
    assert page.find("input", name="from")[0]["value"] == "1980"
    assert page.find("input", name="to")[0]["value"] == "1999"
    expected = everywhere & archive.under("batavialand") & archive.in_years(1980, 1999)
    assert count_in(page) == len(expected)


def test_empty_fields_from_the_form_are_no_filter(client):
    plain = everything(client, q="wijkcoordinator")
    assert everything(client, q="wijkcoordinator", collection="", to="",
                      **{"from": ""}) == plain


# --------------------------------------------------------------------------- paging


def test_results_are_paged_without_overlap_and_stably(client):
    page = search(client, q="wijk*")
    total = count_in(page)
    assert total > 3 * PAGE_SIZE
    assert len(page.item_ids) == PAGE_SIZE
    items = everything(client, q="wijk*")
    assert len(items) == total == len(set(items))
    again = everything(client, q="wijk*")
    assert again == items
    second = search(client, q="wijk*", page="2")
    assert second.item_ids == items[PAGE_SIZE:2 * PAGE_SIZE]
    assert second.find("ol", class_="bp-results")[0]["start"] == str(PAGE_SIZE + 1)


def test_page_links_keep_the_search_and_mark_the_current_page(client):
    page = search(client, q="wijk*", collection="batavialand", page="2", lang="en")
    current = page.find("a", **{"aria-current": "page"})
    current = [a for a in current if "bp-search-link" not in a.get("class", "")]
    assert [a.get("href") for a in current] and "page=2" in current[0]["href"]
    for rel in ("prev", "next"):
        link = page.find("a", rel=rel)[0]["href"]
        query = parse_qs(urlsplit(link).query)
        assert query["q"] == ["wijk*"] and query["collection"] == ["batavialand"]
        assert query["lang"] == ["en"]
    assert "page" not in parse_qs(urlsplit(page.find("a", rel="prev")[0]["href"]).query)


def test_the_count_is_shown_in_dutch_and_english(client, archive):
    expected = len(archive.with_word("wijkcoördinator") & archive.under("batavialand/nieuw-land"))
    assert expected > 1
    dutch = search(client, q="wijkcoordinator", collection="batavialand/nieuw-land")
    assert f"{expected} stukken gevonden" in dutch.text
    assert dutch.find("html", lang="nl")
    english = search(client, "en", q="wijkcoordinator", collection="batavialand/nieuw-land")
    assert f"{expected} items found" in english.text
    assert english.find("html", lang="en")
    assert "Search the collection" in english.text and "Zoeken in de collectie" in dutch.text
    assert "Geen stukken gevonden." in search(client, q="zzzonbekend").text
    assert "No items found." in search(client, "en", q="zzzonbekend").text
    assert "1 item found" in search(client, "en", q="rijtjeshuis").text
    assert "1 stuk gevonden" in search(client, q="rijtjeshuis", lang="nl").text


def test_an_empty_query_shows_the_form_without_results(client):
    for params in ({}, {"q": ""}, {"q": "   "}):
        page = search(client, **params)
        assert page.find("form", role="search")
        assert page.find("input", name="q")
        assert not page.item_ids and not page.find("ol")
        assert "gevonden" not in page.text


# --------------------------------------------------------------------------- markup


def test_the_form_is_labelled_and_a_search_landmark(client):
    page = search(client, q="wijkpost")
    form = [f for f in page.find("form", role="search") if "bp-search-filters" in f["class"]]
    assert len(form) == 1
    for name in ("q", "collection", "from", "to"):
        field = (page.find("input", name=name) or page.find("select", name=name))[0]
        assert page.find("label", for_=field["id"]), name
    assert page.find("input", name="q")[0]["value"] == "wijkpost"


def test_the_header_of_every_page_links_to_search(client):
    for path in ("/", f"/items/{PHOTO}", "/items/archief-0001", "/search", "/search?q=wijk"):
        for language, word in (("nl", "Zoeken"), ("en", "Search")):
            response = client.get(path, headers={"Accept-Language": language})
            assert response.status_code == 200, path
            page = Results(response.get_data(as_text=True))
            header = page.html[page.html.index("<header"):page.html.index("</header>")]
            assert f'href="{BASE}/search"' in header, path
            assert f">{word}</a>" in header, (path, language)
    # The search page marks its own link; item pages carry a small search box in the
    # header, the home page one large box of its own (not two).
    search_page = Results(client.get("/search").get_data(as_text=True))
    assert search_page.find("a", class_="bp-search-link", **{"aria-current": "page"})
    item = Results(client.get(f"/items/{PHOTO}").get_data(as_text=True))
    box = item.find("form", class_="bp-site-search")
    assert box and box[0]["role"] == "search" and box[0]["action"] == f"{BASE}/search"
    assert item.find("label", for_="bp-site-q")
    assert not item.find("a", class_="bp-search-link", **{"aria-current": "page"})
    home = Results(client.get("/").get_data(as_text=True))
    assert not home.find("form", class_="bp-site-search")
    [own] = home.find("form", class_="bp-search-form")
    assert own["role"] == "search" and own["action"] == f"{BASE}/search"
    assert home.find("label", for_="bp-q")


def test_highlighting_escapes_what_the_records_hold(tmp_path, catalogue_settings):
    """Written after the app was made (found on the next request), a record whose
    texts hold markup: it is shown as text, the match alone marked."""
    manifests, images = tmp_path / "manifests", tmp_path / "images"
    manifests.mkdir()
    images.mkdir()
    make_jpeg(images / "gemarkeerd.jpg", 1200, 800)
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 0, **catalogue_settings})
    client = app.test_client()
    assert search(client, q="zeppelinhaven").item_ids == []
    hostile = record_data(
        "gemarkeerd",
        label={"nl": "<script>alert('titel')</script> & co", "en": "<b>bold</b> & co"},
        transcript={"file": "gemarkeerd.transcript.txt",
                    "title": {"nl": "Gesprek", "en": "Conversation"},
                    "citation": {"nl": "Bron: proef.", "en": "Source: test."}})
    write_record(manifests, "gemarkeerd", hostile,
                 transcript='De <b>zeppelinhaven</b> & <img src=x onerror="alert(1)"> kade.\n')
    response = client.get("/search", query_string={"q": "zeppelinhaven", "lang": "nl"})
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    page = Results(html)
    assert page.item_ids == ["gemarkeerd"]
    assert page.marks == ["zeppelinhaven"]
    assert "<script>alert" not in html and "<b>zeppelinhaven" not in html
    assert "<img src=x" not in html and 'onerror="alert' not in html
    assert "&lt;b&gt;<mark>zeppelinhaven</mark>&lt;/b&gt; &amp; &lt;img" in html
    assert "&lt;script&gt;alert(&#39;titel&#39;)&lt;/script&gt; &amp; co" in html


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("params, status, words", [
    ({"q": "wijk", "page": "abc"}, 400, "page"),
    ({"q": "wijk", "page": "0"}, 400, "page"),
    ({"q": "wijk", "page": "-1"}, 400, "page"),
    ({"q": "wijk", "page": "1.5"}, 400, "page"),
    ({"q": "wijk", "page": "9999"}, 404, "no page 9999"),
    ({"q": "", "page": "2"}, 404, "no page 2"),
    ({"q": "wijk", "from": "negentig"}, 400, "from"),
    ({"q": "wijk", "from": "19999"}, 400, "from"),
    ({"q": "wijk", "to": "1999-05"}, 400, "to"),
    ({"q": "wijk", "from": "2000", "to": "1990"}, 400, "after"),
    ({"q": "wijk", "collection": "bestaat-niet"}, 404, "bestaat-niet"),
    ({"q": "wijk", "collection": "batavialand/~1999"}, 404, "collection"),
    ({"q": "wijk", "collection": "../../etc"}, 404, "collection"),
    ({"q": "x" * 501}, 400, "q is at most"),
])
def test_bad_parameters_are_a_short_plain_answer(client, params, status, words):
    response = client.get("/search", query_string=params)
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert words in body and len(body) < 300


@pytest.mark.parametrize("q", ['"', "*", "***", "AND OR NOT", "NEAR(a b)", "a:b", "'; DROP",
                               "\u0000", "(", "^wijk", "wijk**", '"wijk*"'])
def test_no_query_breaks_the_search(client, q):
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200
