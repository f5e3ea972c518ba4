"""Content Search 2.0 over a Collection: the top, each level of a generated archive of
a few hundred records (beside the repository's own items) and the slices of a level.
The answers are the manifests' own annotations, exactly as each manifest's search
gives them, with `partOf` their manifest, only from the items below the Collection;
paging by runs of items from the index; autocomplete from the index's vocabulary.
What asks the index runs on SQLite and on PostgreSQL (`client_on`)."""

from __future__ import annotations

from collections import deque
from urllib.parse import urlsplit

import pytest
import yaml

from beeldpost import create_app
from beeldpost.presentation import routes
from beeldpost.search.content_search import COLLECTION_ITEMS_PER_PAGE

from support.archive import build
from support.postgres import BACKENDS, settings_for
from support.presentation import PHOTO

BASE = "http://localhost"
SEARCH2 = "http://iiif.io/api/search/2/context.json"
PAGE_SIZE = 4  # annotations per page
COLLECTION_SIZE = 20  # a series of 60 items is shown in runs of 20 (~1-20, …)
NIEUW_LAND = "batavialand/nieuw-land"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return build(tmp_path_factory.mktemp("collection-search"))


def make_client(archive, cache, **settings):
    app = create_app({"images_dir": archive.images, "manifests_dir": archive.manifests,
                      "cache_dir": cache, "search_page_size": PAGE_SIZE,
                      "collection_size": COLLECTION_SIZE,
                      # Nothing is written after the app is made: no check on every request.
                      "journal_interval": 3600, **settings})
    return app.test_client()


@pytest.fixture(scope="module")
def client(archive, tmp_path_factory):
    return make_client(archive, tmp_path_factory.mktemp("collection-search-cache"))


@pytest.fixture(scope="module", params=BACKENDS)
def client_on(request, archive, client, tmp_path_factory):
    """`client`, and the same on PostgreSQL: for what the index's search answers."""
    if request.param == "sqlite":
        return client
    cache = tmp_path_factory.mktemp("collection-search-cache-pg")
    return make_client(archive, cache, **settings_for(request, request.param, cache))


def get(client, url: str, status: int = 200):
    response = client.get(url.removeprefix(BASE))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response


def search(client, collection: str, query: str) -> dict:
    prefix = f"/iiif/collection/{collection}" if collection else "/iiif/collection"
    document = get(client, f"{prefix}/search2?{query}").get_json()
    assert document["@context"] == SEARCH2 and document["type"] == "AnnotationPage"
    return document


def every_page(client, first: dict) -> list[dict]:
    pages = [first]
    while "next" in pages[-1]:
        pages.append(get(client, pages[-1]["next"]["id"]).get_json())
    return pages


def annotations(client, collection: str, query: str) -> list[dict]:
    return [annotation for page in every_page(client, search(client, collection, query))
            for annotation in page["items"]]


def item_of(annotation: dict) -> str:
    return urlsplit(annotation["id"]).path.split("/")[3]


def items_of(found: list[dict]) -> set[str]:
    return {item_of(annotation) for annotation in found}


def manifest_annotations(manifest: dict) -> dict[str, dict]:
    return {annotation["id"]: annotation for canvas in manifest["items"]
            for page in canvas.get("annotations", []) for annotation in page["items"]}


# --------------------------------------------------------------------------- the services


def collections(client):
    """Every Collection document from the top down: levels and their slices."""
    queue, seen = deque([f"{BASE}/iiif/collection"]), []
    while queue:
        document = get(client, queue.popleft()).get_json()
        seen.append(document)
        queue.extend(member["id"] for member in document["items"]
                     if member["type"] == "Collection")
    return seen


def test_every_collection_declares_a_search_that_answers(client):
    found = collections(client)
    assert any("/~" in document["id"] for document in found), "no slices to search"
    assert len(found) > 10
    for document in found:
        service = document["service"][0]
        assert service["id"] == f"{document['id']}/search2"
        answer = get(client, f"{service['id']}?q=wijkpost").get_json()
        assert answer["type"] == "AnnotationPage" and answer["@context"] == SEARCH2
        assert answer["id"].startswith(service["id"])
        terms = get(client, f"{service['service'][0]['id']}?q=wijk").get_json()
        assert terms["type"] == "TermPage"


def test_a_collection_and_its_search_answer_side_by_side(client):
    for path in (NIEUW_LAND, f"{NIEUW_LAND}/wijkgericht-werken",
                 f"{NIEUW_LAND}/wijkgericht-werken/~1-20"):
        collection = get(client, f"/iiif/collection/{path}").get_json()
        assert collection["type"] == "Collection" and collection["id"] == f"{BASE}/iiif/collection/{path}"
        answer = get(client, f"/iiif/collection/{path}/search2?q=wijkpost").get_json()
        assert answer["type"] == "AnnotationPage"
    head = client.head(f"/iiif/collection/{NIEUW_LAND}/search2?q=wijkpost")
    assert head.status_code == 200 and head.data == b""


# --------------------------------------------------------------------------- what it answers


def test_answers_are_the_manifests_own_annotations_with_their_manifest(client, archive):
    found = annotations(client, NIEUW_LAND, "q=wijkcoordinator")
    assert found
    manifests = {}
    for annotation in found:
        item = item_of(annotation)
        if item not in manifests:
            manifests[item] = get(client, f"/iiif/manifests/{item}").get_json()
        manifest = manifests[item]
        own = manifest_annotations(manifest)[annotation["id"]]
        part_of = {"id": manifest["id"], "type": "Manifest", "label": manifest["label"]}
        assert annotation == {**own, "partOf": [part_of]}
        assert annotation["target"].split("#")[0] == manifest["items"][0]["id"]
        assert "wijkcoördinator" in annotation["body"]["value"]


def test_only_items_below_the_collection_are_searched(client_on, archive):
    coordinators = archive.with_word("wijkcoördinator")
    assert items_of(annotations(client_on, NIEUW_LAND, "q=wijkcoordinator")) == \
        coordinators & archive.under(NIEUW_LAND)
    assert items_of(annotations(client_on, "stadsarchief-lelystad", "q=wijkcoordinator")) == \
        coordinators & archive.under("stadsarchief-lelystad")
    assert items_of(annotations(client_on, "", "q=wijkcoordinator")) == coordinators | {PHOTO}
    nothing = search(client_on, "batavialand/zuiderzeewerken", "q=wijkcoordinator")
    assert nothing["items"] == [] and "partOf" not in nothing and "next" not in nothing


def test_each_item_answers_as_its_manifests_own_search(client):
    found = annotations(client, "", "q=wijkcoordinator")
    for item in sorted(items_of(found)):
        own = get(client, f"/iiif/manifests/{item}/search2?q=wijkcoordinator").get_json()
        in_collection = [annotation for annotation in found if item_of(annotation) == item]
        assert [a["id"] for a in in_collection] == [a["id"] for a in own["items"]]
        assert [{k: v for k, v in a.items() if k != "partOf"} for a in in_collection] == \
            own["items"]


def test_matches_are_highlighted_in_the_annotations_on_the_page(client):
    for page in every_page(client, search(client, NIEUW_LAND, "q=wijkcoordinator")):
        on_page = {annotation["id"] for annotation in page["items"]}
        highlights = page["annotations"][0]["items"]
        assert {h["target"]["source"] for h in highlights} == on_page
        for number, highlight in enumerate(highlights, start=1):
            assert highlight["id"] == f"{page['id']}#hit-{number}"
            assert highlight["motivation"] == "highlighting"
            selector = highlight["target"]["selector"][0]
            assert selector["type"] == "TextQuoteSelector"
            assert selector["exact"] == "wijkcoördinator"
            assert selector["prefix"].endswith("wijkmanager, een ")


def test_diacritics_case_prefixes_and_phrases(client_on):
    plain = [a["id"] for a in annotations(client_on, "", "q=wijkcoordinator")]
    assert plain
    for query in ("q=wijkco%C3%B6rdinator", "q=WIJKCOORDINATOR", "q=wijkcoord*"):
        assert [a["id"] for a in annotations(client_on, "", query)] == plain, query
    phrase = annotations(client_on, "", "q=wijkmanager+een+wijkcoordinator")
    assert [a["id"] for a in phrase] == plain
    assert annotations(client_on, "", "q=wijkcoordinator+een+wijkmanager") == []
    assert annotations(client_on, "", "q=%21%21") == []  # punctuation alone finds nothing


def test_motivation_narrows_the_annotations(client, archive):
    tagging = annotations(client, NIEUW_LAND, "q=anna&motivation=tagging")
    assert tagging and all(a["motivation"] == "tagging" for a in tagging)
    assert {a["body"]["value"] for a in tagging} == {"Anna de Vries"}
    assert items_of(tagging) == archive.under(NIEUW_LAND)
    commenting = annotations(client, NIEUW_LAND, "q=anna&motivation=commenting")
    assert commenting and all(a["motivation"] == "commenting" for a in commenting)
    assert "motivation=commenting" in search(client, NIEUW_LAND, "q=anna&motivation=commenting")[
        "next"]["id"]


# --------------------------------------------------------------------------- paging


def test_pages_hold_at_most_the_page_size_and_never_repeat(client_on, archive):
    pages = every_page(client_on, search(client_on, "", "q=wijkpost"))
    assert len(pages) > 2 * (len(archive.items) // COLLECTION_ITEMS_PER_PAGE) // 3
    ids = [annotation["id"] for page in pages for annotation in page["items"]]
    assert len(ids) == len(set(ids))
    assert all(len(page["items"]) <= PAGE_SIZE for page in pages)
    assert items_of([a for page in pages for a in page["items"]]) == \
        archive.with_transcript() | {PHOTO}
    # Every page names the same collection, first and last; the last has no next.
    part_of = pages[0]["partOf"]
    assert part_of["type"] == "AnnotationCollection"
    assert all(page["partOf"] == part_of for page in pages)
    assert get(client_on, part_of["first"]["id"]).get_json() == pages[0]
    assert get(client_on, part_of["last"]["id"]).get_json() == pages[-1]
    assert "next" not in pages[-1] and "prev" not in pages[0]


def test_prev_walks_back_over_the_same_pages(client):
    pages = every_page(client, search(client, NIEUW_LAND, "q=wijkpost"))
    assert len(pages) > 3
    back = [pages[-1]]
    while "prev" in back[-1]:
        back.append(get(client, back[-1]["prev"]["id"]).get_json())
    assert [page["id"] for page in reversed(back)] == [page["id"] for page in pages]
    assert get(client, pages[3]["id"]).get_json() == pages[3]  # stable


def test_a_request_builds_at_most_one_run_of_manifests(client, monkeypatch):
    built = []
    original = routes.manifest_document

    def counting(item):
        built.append(item)
        return original(item)

    monkeypatch.setattr(routes, "manifest_document", counting)
    first = search(client, "", "q=wijkpost")
    assert 0 < len(built) <= COLLECTION_ITEMS_PER_PAGE
    built.clear()
    get(client, first["partOf"]["last"]["id"])
    assert 0 < len(built) <= COLLECTION_ITEMS_PER_PAGE


# --------------------------------------------------------------------------- slices


def slice_members(client, url: str) -> set[str]:
    """The items a slice lists, through its runs when it holds runs."""
    members, queue = set(), [url]
    while queue:
        document = get(client, queue.pop()).get_json()
        for member in document["items"]:
            if member["type"] == "Manifest":
                members.add(member["id"].rsplit("/", 1)[1])
            else:
                queue.append(member["id"])
    return members


def with_own_hits(client, items: set[str], query: str) -> set[str]:
    return {item for item in items
            if get(client, f"/iiif/manifests/{item}/search2?{query}").get_json()["items"]}


def test_a_run_searches_only_its_items(client_on):
    series = get(client_on, f"/iiif/collection/{NIEUW_LAND}/wijkgericht-werken").get_json()
    runs = [member["id"] for member in series["items"] if "/~" in member["id"]]
    assert len(runs) == 3
    everywhere = set()
    for run in runs:
        members = slice_members(client_on, run)
        assert len(members) == COLLECTION_SIZE
        path = urlsplit(run).path.removeprefix("/iiif/collection/")
        found = items_of(annotations(client_on, path, "q=wijkpost"))
        assert found == with_own_hits(client_on, members, "q=wijkpost")
        everywhere |= found
    assert everywhere == items_of(annotations(client_on, f"{NIEUW_LAND}/wijkgericht-werken",
                                              "q=wijkpost"))


def test_a_year_searches_only_that_years_items(archive, tmp_path):
    client = make_client(archive, tmp_path / "cache", collection_size=30)
    series = get(client, "/iiif/collection/stadsarchief-lelystad/gemeentebestuur/wijkposten")
    years = [member["id"] for member in series.get_json()["items"] if "/~" in member["id"]]
    assert len(years) > 10
    for year in years[:6]:
        path = urlsplit(year).path.removeprefix("/iiif/collection/")
        members = slice_members(client, year)
        assert {archive.items[item]["year"] for item in members} == {int(path.rsplit("~", 1)[1])}
        found = items_of(annotations(client, path, "q=wijkpost"))
        assert found == with_own_hits(client, members, "q=wijkpost")


# --------------------------------------------------------------------------- autocomplete


def terms(client, collection: str, query: str) -> dict:
    prefix = f"/iiif/collection/{collection}" if collection else "/iiif/collection"
    document = get(client, f"{prefix}/autocomplete2?{query}").get_json()
    assert document["@context"] == SEARCH2 and document["type"] == "TermPage"
    return document


def test_autocomplete_completes_from_the_words_below_the_collection(client_on, archive):
    coordinators = archive.with_word("wijkcoördinator")
    top = {term["value"]: term["total"] for term in terms(client_on, "", "q=wijkc")["items"]}
    assert top == {"wijkcoordinator": len(coordinators) + 1}  # and the photo's transcript
    below = {t["value"]: t["total"] for t in terms(client_on, NIEUW_LAND, "q=wijkc")["items"]}
    assert below == {"wijkcoordinator": len(coordinators & archive.under(NIEUW_LAND))}
    assert terms(client_on, "batavialand/zuiderzeewerken", "q=wijkc")["items"] == []
    words = [term["value"] for term in terms(client_on, "", "q=WIJK")["items"]]
    assert words == sorted(words) and "wijkpost" in words and "wijkgericht" in words
    assert all(word.startswith("wijk") for word in words)


def test_autocomplete_narrows_by_the_words_before_and_by_min(client_on):
    found = terms(client_on, "", "q=wijkmanager+een+wijkc")["items"]
    assert [term["value"] for term in found] == ["wijkmanager een wijkcoordinator"]
    assert terms(client_on, "", "q=wijkc&min=100000")["items"] == []
    assert terms(client_on, "", "q=w")["items"] == []  # one letter completes nothing
    ignored = terms(client_on, NIEUW_LAND, "q=wijk&motivation=tagging&date=x")
    assert set(ignored["ignored"]) == {"motivation", "date"}


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("url, status, words", [
    ("/iiif/collection/search2", 400, "needs q"),
    ("/iiif/collection/search2?q=+", 400, "needs q"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijk&page=0", 400, "page"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijk&page=twee", 400, "page"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijk&page=999", 404, "no page 999"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijkpost&part=0", 400, "part"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijkpost&part=laatste", 400, "part"),
    (f"/iiif/collection/{NIEUW_LAND}/search2?q=wijkpost&part=99", 404, "no part 99"),
    ("/iiif/collection/search2?q=" + "x" * 501, 400, "q is at most"),
    ("/iiif/collection/bestaat-niet/search2?q=wijk", 404, "bestaat-niet"),
    (f"/iiif/collection/{NIEUW_LAND}/bestaat-niet/search2?q=wijk", 404, "no collection"),
    (f"/iiif/collection/{NIEUW_LAND}/wijkgericht-werken/~1-7/search2?q=wijk", 404, "no collection"),
    (f"/iiif/collection/{NIEUW_LAND}/~1999/search2?q=wijk", 404, "no collection"),
    ("/iiif/collection/~abc/search2?q=wijk", 404, "no collection"),
    ("/iiif/collection/autocomplete2", 400, "q"),
    ("/iiif/collection/autocomplete2?q=wijk&min=veel", 400, "min"),
    ("/iiif/collection/bestaat-niet/autocomplete2?q=wijk", 404, "bestaat-niet"),
])
def test_bad_requests_are_short_plain_answers(client, url, status, words):
    response = get(client, url, status)
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert words in body and len(body) < 300


@pytest.mark.parametrize("q", ['"', "*", "AND OR", "NEAR(wijk post)", "a:b", "(", "wijk**",
                               '"wijk*"', "\u0000"])
def test_no_query_breaks_the_search(client_on, q):
    response = client_on.get("/iiif/collection/search2", query_string={"q": q})
    assert response.status_code in (200, 400)
    response = client_on.get("/iiif/collection/autocomplete2", query_string={"q": q})
    assert response.status_code in (200, 400)


# --------------------------------------------------------------------------- a broken record


def test_a_record_broken_since_it_was_indexed_is_left_out(tmp_path):
    archive = build(tmp_path / "archive", count=24)
    client = make_client(archive, tmp_path / "cache", journal_interval=0)
    before = items_of(annotations(client, "", "q=wijkcoordinator"))
    broken = min(before - {PHOTO})
    path = archive.manifests / "archief" / f"{broken}.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["rights"] = "alle rechten"  # not a rights URI: the record no longer loads
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    assert get(client, f"/iiif/manifests/{broken}", 422)
    after = items_of(annotations(client, "", "q=wijkcoordinator"))
    assert after == before - {broken}
