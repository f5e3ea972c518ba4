"""Building Presentation 3 documents from records, without HTTP."""

from __future__ import annotations

import json

import pytest

from beeldpost.image.info import VERSION_2, VERSION_3, service_url
from beeldpost.presentation.manifests import (
    ImageFacts,
    Urls,
    build_collection,
    build_manifest,
    find_part,
)
from beeldpost.image.operations import Limits
from beeldpost.catalogue.records import parse_record

from support.presentation import (
    assert_ids_unique,
    assert_languages_explicit,
    assert_valid,
    record_data,
    walk,
    write_record,
    xywh,
)

BASE = "https://beeldpost.test/prefix"
URLS = Urls(BASE)
FACTS = ImageFacts("stuk", 1200, 800, tile_size=256)


def make_record(tmp_path, **overrides):
    path = write_record(tmp_path, "stuk", record_data("stuk", **overrides))
    return parse_record(path, path.read_text("utf-8"))


@pytest.fixture
def record(tmp_path):
    return make_record(tmp_path)


@pytest.fixture
def manifest(record):
    return build_manifest(record, FACTS, URLS)


def canvas_of(manifest: dict) -> dict:
    return manifest["items"][0]


def pages_of(manifest: dict) -> dict[str, dict]:
    return {page["id"].rsplit("/", 1)[1]: page for page in canvas_of(manifest)["annotations"]}


def test_the_manifest_is_valid_and_fits_the_models(manifest):
    assert_valid(manifest)
    assert_ids_unique(manifest)
    assert_languages_explicit(manifest)
    text = json.dumps(manifest)
    assert "example.org" not in text
    assert list(manifest)[0] == "@context"


def test_ids_follow_the_url_layout(manifest):
    assert manifest["id"] == f"{BASE}/iiif/manifests/stuk"
    canvas = canvas_of(manifest)
    assert canvas["id"] == f"{BASE}/iiif/manifests/stuk/canvas"
    assert canvas["items"][0]["id"] == f"{BASE}/iiif/manifests/stuk/canvas/painting"
    assert sorted(pages_of(manifest)) == ["caption", "people", "transcript"]
    for name, page in pages_of(manifest).items():
        assert page["id"] == f"{BASE}/iiif/manifests/stuk/annotations/{name}"
        assert [a["id"] for a in page["items"]] == [
            f"{page['id']}/{n}" for n in range(1, len(page["items"]) + 1)]
    assert manifest["homepage"][0]["id"] == f"{BASE}/items/stuk"
    assert manifest["partOf"] == [{"id": f"{BASE}/iiif/collection", "type": "Collection",
                                   "label": {"nl": ["Beeldpost: alle stukken"],
                                             "en": ["Beeldpost: all items"]}}]


def test_the_fields_come_from_the_record(record, manifest):
    assert manifest["label"] == {"nl": ["Proefstuk stuk"], "en": ["Test item stuk"]}
    assert manifest["summary"] == record.summary.language_map()
    assert manifest["requiredStatement"]["value"] == {
        "nl": ["foto Jan Proef, bron Proefarchief"], "en": ["photo Jan Proef, source Proefarchief"]}
    assert manifest["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    assert manifest["navDate"] == "1999-01-01T00:00:00Z"
    assert manifest["provider"] == [{
        "id": "https://archief.example.nl/#organisatie", "type": "Agent",
        "label": {"nl": ["Proefarchief"], "en": ["Test archive"]},
        "homepage": [{"id": "https://archief.example.nl/", "type": "Text",
                      "label": {"nl": ["Proefarchief"], "en": ["Test archive"]},
                      "format": "text/html"}],
    }]
    pairs = {pair["label"]["en"][0]: pair["value"] for pair in manifest["metadata"]}
    assert list(pairs) == ["Title", "Date", "Photographer", "People", "Place", "Source"]
    assert pairs["People"] == {"nl": ["Anna de Vries (links)", "Piet Jansen (rechts)"],
                               "en": ["Anna de Vries (left)", "Piet Jansen (right)"]}
    assert pairs["Photographer"] == {"nl": ["Jan Proef"], "en": ["Jan Proef"]}
    assert [(r["id"], r["format"]) for r in manifest["rendering"]] == [
        (f"{BASE}/items/stuk/transcript.txt", "text/plain"),
        (f"{BASE}/items/stuk/transcript.html", "text/html"),
    ]


def test_the_canvas_is_the_image_with_both_image_services(manifest):
    canvas = canvas_of(manifest)
    assert (canvas["width"], canvas["height"]) == (1200, 800)
    painting = canvas["items"][0]["items"][0]
    assert painting["motivation"] == "painting" and painting["target"] == canvas["id"]
    body = painting["body"]
    assert body["id"] == f"{BASE}/iiif/3/stuk/full/max/0/default.jpg"
    assert (body["type"], body["format"], body["width"], body["height"]) == (
        "Image", "image/jpeg", 1200, 800)
    assert body["service"] == [
        {"id": f"{BASE}/iiif/3/stuk", "type": "ImageService3", "profile": "level2"},
        {"@id": f"{BASE}/iiif/2/stuk", "@type": "ImageService2",
         "profile": "http://iiif.io/api/image/2/level2.json"},
    ]


def test_service_ids_are_those_of_the_image_api():
    for version in (VERSION_3, VERSION_2):
        for identifier in ("stuk", "met spatie", "a/b"):
            assert Urls("http://example.nl:8080/sub").image_service(version, identifier) \
                == service_url("http://example.nl:8080/sub", version, identifier)


def test_the_thumbnail_is_a_pyramid_level_that_fits_400px(record):
    facts = ImageFacts("stuk", 6400, 4267, tile_size=256)
    thumbnail = build_manifest(record, facts, URLS)["thumbnail"][0]
    # Levels of 6400×4267: …, 800×534, 400×267 (rounded up, as info.json lists them).
    assert thumbnail["id"] == f"{BASE}/iiif/3/stuk/full/400,267/0/default.jpg"
    assert (thumbnail["width"], thumbnail["height"]) == (400, 267)
    assert thumbnail["service"] == [
        {"id": f"{BASE}/iiif/3/stuk", "type": "ImageService3", "profile": "level2"}]
    small = build_manifest(record, FACTS, URLS)["thumbnail"][0]
    assert (small["width"], small["height"]) == (300, 200)


def test_size_limits_shrink_the_image_body_not_the_canvas(record):
    facts = ImageFacts("stuk", 1200, 800, tile_size=256, limits=Limits(max_width=600))
    manifest = build_manifest(record, facts, URLS)
    canvas = canvas_of(manifest)
    body = canvas["items"][0]["items"][0]["body"]
    assert (canvas["width"], canvas["height"]) == (1200, 800)
    assert body["id"] == f"{BASE}/iiif/3/stuk/full/600,400/0/default.jpg"
    assert (body["width"], body["height"]) == (600, 400)
    assert_valid(manifest)


def test_transcript_annotations_are_one_comment_per_paragraph(record, manifest):
    page = pages_of(manifest)["transcript"]
    assert page["label"] == {"nl": ["Bron: proefinterview."], "en": ["Source: test interview."]}
    assert [a["body"]["value"] for a in page["items"]] == list(record.transcript.paragraphs)
    assert [a["body"]["value"] for a in page["items"]] == [
        "Eerste alinea, met “aanhalingstekens”…", "Tweede – alinea.", "Derde alinea."]
    for annotation in page["items"]:
        assert annotation["motivation"] == "commenting"
        assert annotation["target"] == canvas_of(manifest)["id"]
        assert annotation["body"]["type"] == "TextualBody"
        assert annotation["body"]["language"] == "nl"
        assert annotation["body"]["format"] == "text/plain"


def test_people_are_tags_on_their_regions(manifest):
    page = pages_of(manifest)["people"]
    targets = []
    for annotation in page["items"]:
        assert annotation["motivation"] == "tagging"
        assert annotation["body"]["purpose"] == "tagging"
        targets.append((annotation["body"]["value"], xywh(annotation["target"])))
    canvas_id = canvas_of(manifest)["id"]
    assert targets == [("Anna de Vries", (canvas_id, (10, 20, 300, 500))),
                       ("Piet Jansen", (canvas_id, (800, 100, 350, 650)))]


def test_the_caption_is_a_comment_in_the_records_language(manifest):
    [annotation] = pages_of(manifest)["caption"]["items"]
    assert annotation["motivation"] == "commenting"
    assert annotation["body"]["value"] == "Links: Anna de Vries. Rechts: Piet Jansen"
    assert annotation["target"] == canvas_of(manifest)["id"]


def test_optional_parts_are_left_out_not_emptied(tmp_path):
    data = record_data("stuk", people=None, transcript=None, provider=None, date=None,
                       photographer=None, source=None, place=None)
    path = write_record(tmp_path, "stuk", data)
    manifest = build_manifest(parse_record(path, path.read_text("utf-8")), FACTS, URLS)
    assert_valid(manifest)
    for absent in ("provider", "rendering", "navDate"):
        assert absent not in manifest
    assert sorted(pages_of(manifest)) == ["caption"]
    assert [pair["label"]["en"] for pair in manifest["metadata"]] == [["Title"]]


def test_a_full_date_is_its_own_nav_date(tmp_path):
    record = make_record(tmp_path, date="1999-05-12")
    assert build_manifest(record, FACTS, URLS)["navDate"] == "1999-05-12T00:00:00Z"


def test_link_labels_are_escaped_html(tmp_path):
    record = make_record(tmp_path, links=[{"url": "https://example.nl/?a=1&b=2",
                                           "label": {"nl": "<Archief>", "en": "Archive & co"}}])
    pairs = {p["label"]["en"][0]: p["value"] for p in build_manifest(record, FACTS, URLS)["metadata"]}
    assert pairs["See also"] == {
        "nl": ['<a href="https://example.nl/?a=1&amp;b=2">&lt;Archief&gt;</a>'],
        "en": ['<a href="https://example.nl/?a=1&amp;b=2">Archive &amp; co</a>'],
    }


def test_find_part_gives_canvases_pages_and_annotations_only(manifest):
    canvas = canvas_of(manifest)
    for node_id in (canvas["id"], f"{manifest['id']}/annotations/people",
                    f"{manifest['id']}/annotations/transcript/2", f"{canvas['id']}/painting/image"):
        part = find_part(manifest, node_id)
        assert part["id"] == node_id and part["@context"] == manifest["@context"]
        assert_valid(part)
    assert find_part(manifest, manifest["id"]) is None  # the manifest is served as itself
    assert find_part(manifest, f"{BASE}/iiif/3/stuk") is None  # services are not ours to serve here
    assert find_part(manifest, f"{manifest['id']}/annotations/people/9") is None


def test_the_collection_lists_items_with_thumbnails(tmp_path):
    one = make_record(tmp_path)
    path = write_record(tmp_path, "twee", record_data("twee"))
    two = parse_record(path, path.read_text("utf-8"))
    facts_two = ImageFacts("twee", 600, 900, tile_size=256)
    collection = build_collection([(one, FACTS), (two, facts_two)], URLS)
    assert_valid(collection)
    assert_languages_explicit(collection)
    assert collection["id"] == f"{BASE}/iiif/collection"
    assert [(m["id"], m["type"], m["label"]["nl"]) for m in collection["items"]] == [
        (f"{BASE}/iiif/manifests/stuk", "Manifest", ["Proefstuk stuk"]),
        (f"{BASE}/iiif/manifests/twee", "Manifest", ["Proefstuk twee"]),
    ]
    assert collection["items"][1]["thumbnail"][0]["id"] == \
        f"{BASE}/iiif/3/twee/full/150,225/0/default.jpg"  # 300×450 is over 400


def test_an_empty_collection_is_still_valid():
    collection = build_collection([], URLS)
    assert_valid(collection)
    assert collection["items"] == []


def test_no_textual_body_lacks_a_language(manifest):
    bodies = [node for _key, node in walk(manifest) if node.get("type") == "TextualBody"]
    assert len(bodies) == 3 + 2 + 1
    assert all(body["language"] == "nl" for body in bodies)


def test_the_checks_used_here_do_reject_bad_documents(manifest):
    """The helpers above would catch what the issue forbids (so passing them means something)."""
    https_rights = {**manifest, "rights": "https://rightsstatements.org/vocab/InC/1.0/"}
    with pytest.raises(AssertionError, match="rights"):
        assert_valid(https_rights)
    no_language = {**manifest, "summary": {"none": ["zonder taal"]}}
    with pytest.raises(AssertionError):
        assert_languages_explicit(no_language)
    canvas = canvas_of(manifest)
    repeated = {**manifest, "items": [canvas, {**canvas, "label": {"nl": ["b"], "en": ["b"]}}]}
    with pytest.raises(AssertionError, match="share"):
        assert_ids_unique(repeated)
    text_as_image = json.loads(json.dumps(manifest))
    body = canvas_of(text_as_image)["annotations"][0]["items"][0]["body"]
    body["id"] = f"{BASE}/body"  # now it could pass for an AnnotationBody and lose its value
    del body["type"]
    with pytest.raises(Exception):
        assert_valid(text_as_image)
