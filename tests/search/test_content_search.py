"""Content Search 1.0 and 2.0 with autocomplete over the item's annotations: the real
transcript ("wijkpost"), word matching without case or diacritics, context for
highlighting, motivation, ignored parameters, paging, and what stock viewers need."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qs, urlsplit

import pytest

from beeldpost import create_app
from beeldpost.search.content_search import normalise, parse_query

from support.presentation import MANIFESTS, PHOTO, REPO, make_jpeg, write_record

IMAGES = REPO / "images"
BASE = "http://localhost"
MANIFEST = f"/iiif/manifests/{PHOTO}"
SEARCH1 = "http://iiif.io/api/search/1/context.json"
SEARCH2 = "http://iiif.io/api/search/2/context.json"
PRESENTATION2 = "http://iiif.io/api/presentation/2/context.json"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    app = create_app({"images_dir": IMAGES, "manifests_dir": MANIFESTS,
                      "cache_dir": tmp_path_factory.mktemp("search-cache")})
    return app.test_client()


@pytest.fixture(scope="module")
def manifest(real) -> dict:
    return get(real, MANIFEST).get_json()


def get(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response


def annotations_of(manifest: dict) -> dict[str, dict]:
    return {annotation["id"]: annotation for page in manifest["items"][0]["annotations"]
            for annotation in page["items"]}


def search1(client, query: str) -> dict:
    return get(client, f"{MANIFEST}/search?{query}").get_json()


def search2(client, query: str) -> dict:
    return get(client, f"{MANIFEST}/search2?{query}").get_json()


# --------------------------------------------------------------------------- the services


def test_the_manifest_declares_search_1_and_2_with_autocomplete(manifest):
    search_1, search_2 = manifest["service"]
    assert search_1 == {
        "@context": SEARCH1, "@id": f"{BASE}{MANIFEST}/search", "@type": "SearchService1",
        "profile": "http://iiif.io/api/search/1/search",
        "service": [{"@id": f"{BASE}{MANIFEST}/autocomplete", "@type": "AutoCompleteService1",
                     "profile": "http://iiif.io/api/search/1/autocomplete"}],
    }
    assert search_2 == {
        "id": f"{BASE}{MANIFEST}/search2", "type": "SearchService2",
        "service": [{"id": f"{BASE}{MANIFEST}/autocomplete2", "type": "AutoCompleteService2"}],
    }


def test_the_2_1_manifest_declares_search_1(real):
    document = get(real, f"{MANIFEST}/v2").get_json()
    assert document["service"] == {
        "@context": SEARCH1, "@id": f"{BASE}{MANIFEST}/search",
        "profile": "http://iiif.io/api/search/1/search",
        "service": {"@context": SEARCH1, "@id": f"{BASE}{MANIFEST}/autocomplete",
                    "profile": "http://iiif.io/api/search/1/autocomplete"},
    }


# --------------------------------------------------------------------------- Search 1.0


def test_search_1_finds_wijkpost_in_the_transcript_with_context(real, manifest):
    response = get(real, f"{MANIFEST}/search?q=wijkpost", Accept="application/ld+json")
    assert response.headers["Content-Type"] == f'application/ld+json;profile="{SEARCH1}"'
    result = response.get_json()
    assert result["@context"] == [PRESENTATION2, SEARCH1]
    assert result["@id"] == f"{BASE}{MANIFEST}/search?q=wijkpost"
    assert result["@type"] == "sc:AnnotationList"
    assert result["within"] == {"@type": "sc:Layer", "total": 1}
    [resource] = result["resources"]
    [hit] = result["hits"]
    # The annotation is the manifest's own transcript annotation: same id, same text.
    known = annotations_of(manifest)[resource["@id"]]
    assert resource["@id"] == f"{BASE}{MANIFEST}/annotations/transcript/2"
    assert resource["@type"] == "oa:Annotation"
    assert resource["motivation"] == "oa:commenting"
    assert resource["resource"]["@type"] == "cnt:ContentAsText"
    assert resource["resource"]["chars"] == known["body"]["value"]
    # The paragraph is on the whole canvas: the plain canvas in the manifest, the same
    # region spelled out as #xywh= in the answer (stock UV needs the fragment).
    canvas = manifest["items"][0]
    assert known["target"] == canvas["id"] == f"{BASE}{MANIFEST}/canvas"
    assert resource["on"] == f"{canvas['id']}#xywh=0,0,{canvas['width']},{canvas['height']}"
    assert hit["@type"] == "search:Hit"
    assert hit["annotations"] == [resource["@id"]]
    assert hit["match"] == "wijkpost"
    assert hit["before"].endswith("inrichten. In een ")
    assert hit["after"].startswith(" zat een wijkmanager")
    text = resource["resource"]["chars"]
    assert hit["before"] + hit["match"] + hit["after"] in text
    assert 20 <= len(hit["before"]) <= 70 and 20 <= len(hit["after"]) <= 70
    [selector] = hit["selectors"]
    assert selector == {"@type": "oa:TextQuoteSelector", "exact": "wijkpost",
                        "prefix": hit["before"], "suffix": hit["after"]}


def test_what_stock_mirador_does_with_the_result_works(real, manifest):
    """Mirador 4 picks the service by its search/1 profile, asks `{@id}?q=…`, reads
    within.total and hits, finds each hit's annotation among the resources and its
    canvas by the `on` target without the fragment."""
    [service] = [s for s in manifest["service"]
                 if s.get("profile") == "http://iiif.io/api/search/1/search"]
    [autocomplete] = [s for s in service["service"]
                      if s.get("profile") == "http://iiif.io/api/search/1/autocomplete"]
    result = get(real, f"{urlsplit(service['@id']).path}?q=wijkpost").get_json()
    assert result["within"]["total"] == len(result["hits"]) == 1
    canvases = {canvas["id"] for canvas in manifest["items"]}
    for hit in result["hits"]:
        resource = next(r for r in result["resources"] if r["@id"] == hit["annotations"][0])
        assert resource["on"].split("#")[0] in canvases
    terms = get(real, f"{urlsplit(autocomplete['@id']).path}?q=wijkp").get_json()["terms"]
    assert [term["match"] for term in terms] == ["wijkpost", "wijkposten"]


XYWH = re.compile(r"(?P<canvas>[^#]+)#xywh=(?P<x>\d+),(?P<y>\d+),(?P<w>\d+),(?P<h>\d+)")


@pytest.mark.parametrize("query", ["", "q=Woningbouwvereniging", "q=laffra", "q=wijk*"])
def test_every_search_1_target_is_a_region_of_the_canvas(real, manifest, query):
    """Each resource's `on` is canvas#xywh= with whole numbers inside the canvas: the
    manifest's own box for a person, 0,0,W,H for what is on the whole canvas."""
    canvases = {canvas["id"]: canvas for canvas in manifest["items"]}
    known = annotations_of(manifest)
    resources = search1(real, query)["resources"]
    assert resources
    for resource in resources:
        region = XYWH.fullmatch(resource["on"])
        assert region, resource["on"]
        canvas = canvases[region["canvas"]]
        x, y, w, h = (int(region[name]) for name in "xywh")
        assert w > 0 and h > 0
        assert x + w <= canvas["width"] and y + h <= canvas["height"]
        target = known[resource["@id"]]["target"]
        if target in canvases:
            assert (x, y, w, h) == (0, 0, canvas["width"], canvas["height"])
        else:
            assert resource["on"] == target


def test_what_stock_universal_viewer_does_with_the_result_works(real, manifest):
    """UV 4.4 (groupOpenAnnotationsByTarget, then manifold's AnnotationRect) takes each
    resource's canvas as everything before `#` of `on` and its box from `xywh=`, and
    throws on a target without them; on either manifest version it finds the canvas."""
    v2 = get(real, f"{MANIFEST}/v2").get_json()
    canvases_3 = {canvas["id"] for canvas in manifest["items"]}
    canvases_2 = {canvas["@id"] for canvas in v2["sequences"][0]["canvases"]}
    result = search1(real, "q=Woningbouwvereniging")
    assert len(result["resources"]) == 2  # UV counts resources, not hits
    for resource in result["resources"]:
        before_hash = re.match(r"(.*)#", resource["on"])
        box = re.match(r".*xywh=(\d*),(\d*),(\d*),(\d*)", resource["on"])
        assert before_hash and before_hash[1] in canvases_3 and before_hash[1] in canvases_2
        assert box and all(box[n] for n in range(1, 5))
        assert "Woningbouwvereniging" in resource["resource"]["chars"]


def test_search_2_and_the_manifest_keep_the_plain_canvas_target(real, manifest):
    canvas = manifest["items"][0]["id"]
    [item, *_] = search2(real, "q=Woningbouwvereniging")["items"]
    assert item["target"] == canvas
    assert annotations_of(manifest)[item["id"]]["target"] == canvas


@pytest.mark.parametrize("query", [
    "WIJKCOORDINATOR", "wijkcoordinator", "wijkcoördinator", "Wijkcoördinator",
    unicodedata.normalize("NFD", "wijkcoördinator"),
])
def test_matching_ignores_case_and_diacritics(real, query):
    result = search1(real, f"q={query}")
    [hit] = result["hits"]
    assert hit["match"] == "wijkcoördinator"  # the text as written
    assert search2(real, f"q={query}")["items"][0]["id"] == hit["annotations"][0]


def test_matching_is_by_whole_words_with_star_for_prefixes(real):
    assert search1(real, "q=wijkpos")["hits"] == []
    assert {hit["match"] for hit in search1(real, "q=wijkpost")["hits"]} == {"wijkpost"}
    assert {hit["match"] for hit in search1(real, "q=wijkpos*")["hits"]} == {
        "wijkpost", "wijkposten"}


def test_several_words_are_a_phrase(real):
    [hit] = search1(real, "q=een+wijkpost")["hits"]
    assert hit["match"] == "een wijkpost"
    assert search1(real, "q=wijkpost+een")["hits"] == []


def test_people_and_caption_are_searched_with_their_motivations(real, manifest):
    result = search1(real, "q=laffra")
    found = [hit["annotations"][0].removeprefix(f"{BASE}{MANIFEST}/annotations/")
             for hit in result["hits"]]
    assert found == ["people/2", "caption/1"]
    people = next(r for r in result["resources"] if r["@id"].endswith("people/2"))
    assert people["motivation"] == "oa:tagging"
    assert people["on"] == annotations_of(manifest)[people["@id"]]["target"]
    assert "#xywh=" in people["on"]
    tagging = search1(real, "q=laffra&motivation=tagging")
    assert [h["annotations"][0].rsplit("/", 2)[-2] for h in tagging["hits"]] == ["people"]
    commenting = search2(real, "q=laffra&motivation=oa:commenting")
    assert [item["id"].rsplit("/", 2)[-2] for item in commenting["items"]] == ["caption"]
    assert search1(real, "q=laffra&motivation=painting")["hits"] == []
    assert len(search1(real, "q=laffra&motivation=non-painting")["hits"]) == 2


def test_unimplemented_parameters_are_listed_as_ignored(real):
    query = "q=wijkpost&user=https%3A%2F%2Fexample.org%2Fme&date=2020-01-01T00:00:00Z/2021-01-01T00:00:00Z"
    result = search1(real, query)
    assert result["within"]["ignored"] == ["date", "user"]
    assert result["@id"] == f"{BASE}{MANIFEST}/search?q=wijkpost"  # ignored ones dropped
    assert len(result["hits"]) == 1
    assert search2(real, query)["ignored"] == ["date", "user"]
    terms = get(real, f"{MANIFEST}/autocomplete?q=wijk&user=x").get_json()
    assert terms["ignored"] == ["user"]
    assert get(real, f"{MANIFEST}/autocomplete2?q=wijk&date=x").get_json()["ignored"] == ["date"]
    assert "ignored" not in search1(real, "q=wijkpost")["within"]


def test_no_query_lists_every_annotation(real, manifest):
    result = search1(real, "")
    assert [r["@id"] for r in result["resources"]] == list(annotations_of(manifest))
    assert all("match" not in hit for hit in result["hits"])
    assert search1(real, "q=%21%21")["hits"] == []  # punctuation only matches nothing


# --------------------------------------------------------------------------- Search 2.0


def test_search_2_finds_wijkpost_with_the_manifests_annotation_and_a_highlight(real, manifest):
    response = get(real, f"{MANIFEST}/search2?q=wijkpost", Accept="application/ld+json")
    assert response.headers["Content-Type"] == f'application/ld+json;profile="{SEARCH2}"'
    result = response.get_json()
    assert result["@context"] == SEARCH2
    assert result["id"] == f"{BASE}{MANIFEST}/search2?q=wijkpost"
    assert result["type"] == "AnnotationPage"
    [item] = result["items"]
    assert item == annotations_of(manifest)[item["id"]]  # exactly as in the manifest
    [page] = result["annotations"]
    assert page["type"] == "AnnotationPage"
    [highlight] = page["items"]
    assert highlight["type"] == "Annotation" and highlight["motivation"] == "highlighting"
    target = highlight["target"]
    assert target["type"] == "SpecificResource" and target["source"] == item["id"]
    [selector] = target["selector"]
    assert selector["type"] == "TextQuoteSelector" and selector["exact"] == "wijkpost"
    assert selector["prefix"] + selector["exact"] + selector["suffix"] in item["body"]["value"]
    assert "partOf" not in result and "ignored" not in result


# --------------------------------------------------------------------------- paging


@pytest.fixture
def paged(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    make_jpeg(images / "stuk.jpg", 1200, 800)
    paragraphs = [f"Alinea {n}: de wijkpost en nog een wijkpost, wijkpost." for n in range(1, 6)]
    write_record(manifests, "stuk", transcript="\n\n".join(paragraphs) + "\n")
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "search_page_size": 4})
    return app.test_client()


def test_search_1_pages_hits(paged):
    base = "/iiif/manifests/stuk/search"
    first = get(paged, f"{base}?q=wijkpost").get_json()
    within = first["within"]
    assert within["total"] == 15  # three in each of five paragraphs
    assert within["first"] == f"{BASE}{base}?q=wijkpost"
    assert within["last"] == f"{BASE}{base}?q=wijkpost&page=4"
    hits, page, url = [], first, None
    while True:
        assert page["startIndex"] == len(hits)
        assert len(page["hits"]) <= 4
        ids = {resource["@id"] for resource in page["resources"]}
        assert all(hit["annotations"][0] in ids for hit in page["hits"])
        hits += page["hits"]
        url = page.get("next")
        if not url:
            break
        page = get(paged, urlsplit(url).path + "?" + urlsplit(url).query).get_json()
        assert page["prev"]
    assert len(hits) == 15
    assert parse_qs(urlsplit(page["@id"]).query) == {"q": ["wijkpost"], "page": ["4"]}
    assert paged.get(f"{base}?q=wijkpost&page=5").status_code == 404
    assert paged.get(f"{base}?q=wijkpost&page=0").status_code == 400


def test_search_2_pages_annotations(paged):
    base = "/iiif/manifests/stuk/search2"
    first = get(paged, f"{base}?q=wijkpost").get_json()
    collection = first["partOf"]
    assert collection["type"] == "AnnotationCollection" and collection["total"] == 5
    assert collection["first"] == {"id": f"{BASE}{base}?q=wijkpost", "type": "AnnotationPage"}
    assert collection["last"] == {"id": f"{BASE}{base}?q=wijkpost&page=2", "type": "AnnotationPage"}
    assert len(first["items"]) == 4 and first["startIndex"] == 0
    assert len(first["annotations"][0]["items"]) == 12  # three highlights per paragraph
    second = get(paged, urlsplit(first["next"]["id"]).path + "?"
                 + urlsplit(first["next"]["id"]).query).get_json()
    assert len(second["items"]) == 1 and second["startIndex"] == 4
    assert second["prev"]["type"] == "AnnotationPage" and "next" not in second


# --------------------------------------------------------------------------- autocomplete


def test_autocomplete_1_and_2(real):
    v1 = get(real, f"{MANIFEST}/autocomplete?q=wijkc").get_json()
    assert v1["@context"] == SEARCH1 and v1["@type"] == "search:TermList"
    [term] = v1["terms"]
    assert term["match"] == "wijkcoördinator" and term["count"] == 1
    found = get(real, urlsplit(term["url"]).path + "?" + urlsplit(term["url"]).query).get_json()
    assert found["hits"][0]["match"] == "wijkcoördinator"
    v2 = get(real, f"{MANIFEST}/autocomplete2?q=WIJKCO").get_json()
    assert v2["@context"] == SEARCH2 and v2["type"] == "TermPage"
    assert v2["items"] == [{"value": "wijkcoördinator", "total": 1}]


def test_autocomplete_sorts_counts_and_honours_min(real):
    terms = get(real, f"{MANIFEST}/autocomplete?q=wijk").get_json()["terms"]
    matches = [term["match"] for term in terms]
    assert matches == sorted(matches, key=normalise)
    assert "wijkpost" in matches and "wijkposten" in matches and "wijk" in matches
    common = get(real, f"{MANIFEST}/autocomplete?q=wijk&min=2").get_json()["terms"]
    assert common and all(term["count"] >= 2 for term in common)
    assert {t["match"] for t in common} < set(matches)


def test_autocomplete_needs_q(real):
    for path in (f"{MANIFEST}/autocomplete", f"{MANIFEST}/autocomplete2?q=",
                 f"{MANIFEST}/autocomplete?q=wijk&min=veel"):
        response = real.get(path)
        assert response.status_code == 400
        assert response.mimetype == "text/plain"


def test_unknown_items_are_404(real):
    for path in ("/iiif/manifests/nothing/search?q=x", "/iiif/manifests/nothing/autocomplete2?q=x"):
        assert real.get(path).status_code == 404


def test_query_parsing():
    assert [(t.norm, t.prefix) for t in parse_query("Wijk* coördinator, ok")] == [
        ("wijk", True), ("coordinator", False), ("ok", False)]
    assert normalise("Ærø ǅ ﬁ") == "ærø dz fi"  # compatibility forms and marks too
