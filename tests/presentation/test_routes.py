"""Presentation API over HTTP: the real records with the committed images, and
temporary records for edits and breakage."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from beeldpost import create_app
from beeldpost.catalogue.records import parse_record
from beeldpost.image.sources import SOURCE_EXTENSIONS

from support.presentation import (
    CONTEXT,
    MANIFESTS,
    PHOTO,
    REPO,
    assert_ids_unique,
    assert_languages_explicit,
    assert_valid,
    ids,
    make_jpeg,
    record_data,
    seed_interview,
    write_record,
    xywh,
)

IMAGES = REPO / "images"  # the committed stand-in photos (images/make_standins.py)
BASE = "http://localhost"
LD_JSON = f'application/ld+json;profile="{CONTEXT}"'
ITEMS = sorted(path.stem for path in MANIFESTS.glob("*.yaml"))
SEARCH_SERVICES = {
    "SearchService1": "http://iiif.io/api/search/1/context.json",
    "AutoCompleteService1": "http://iiif.io/api/search/1/context.json",
    "SearchService2": "http://iiif.io/api/search/2/context.json",
    "AutoCompleteService2": "http://iiif.io/api/search/2/context.json",
}


def real_record(item: str):
    path = MANIFESTS / f"{item}.yaml"
    return parse_record(path, path.read_text("utf-8"))


@pytest.fixture(scope="module")
def real_images(tmp_path_factory) -> Path:
    """images/, or, while its stand-in photos are not committed yet, plain pictures of
    the sizes make_standins.py draws. Tests read every size from the server."""
    needed = {real_record(item).image for item in ITEMS}
    if all(any((IMAGES / f"{image}{ext}").is_file() for ext in SOURCE_EXTENSIONS)
           for image in needed):
        return IMAGES
    folder = tmp_path_factory.mktemp("standins")
    for image in needed:
        width, height = (6400, 4267) if image == PHOTO else (4800, 3200)
        make_jpeg(folder / f"{image}.jpg", width, height)
    return folder


@pytest.fixture(scope="module")
def real(tmp_path_factory, real_images):
    """The app on the repository's own records and images (derivatives built once)."""
    app = create_app({"images_dir": real_images, "manifests_dir": MANIFESTS,
                      "cache_dir": tmp_path_factory.mktemp("presentation-cache")})
    return app.test_client()


def get_json(client, path: str, **headers) -> dict:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def manifest_of(client, item: str) -> dict:
    return get_json(client, f"/iiif/manifests/{item}")


def pages_of(manifest: dict) -> dict[str, dict]:
    return {page["id"].rsplit("/", 1)[1]: page for page in manifest["items"][0]["annotations"]}


# --------------------------------------------------------------------------- the collection


def test_the_collection_lists_every_item(real):
    response = real.get("/iiif/collection", headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == LD_JSON
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    collection = response.get_json()
    assert_valid(collection)
    assert_languages_explicit(collection)
    assert collection["id"] == f"{BASE}/iiif/collection"
    assert len(ITEMS) >= 2
    assert [entry["id"] for entry in collection["items"]] == [
        f"{BASE}/iiif/manifests/{item}" for item in ITEMS]
    for entry, item in zip(collection["items"], ITEMS):
        assert entry["label"] == real_record(item).label.language_map()
        [thumbnail] = entry["thumbnail"]
        assert_image_is_as_declared(real, thumbnail)


def assert_image_is_as_declared(client, image: dict) -> None:
    response = client.get(urlsplit(image["id"]).path)
    assert response.status_code == 200, image["id"]
    assert response.headers["Content-Type"] == image["format"] == "image/jpeg"
    with Image.open(io.BytesIO(response.data)) as picture:
        assert picture.size == (image["width"], image["height"])


# --------------------------------------------------------------------------- each manifest


@pytest.mark.parametrize("item", ITEMS)
def test_each_manifest_is_valid_where_it_is_served(real, item):
    path = f"/iiif/manifests/{item}"
    response = real.get(path, headers={"Accept": "application/ld+json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == LD_JSON
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    manifest = response.get_json()
    assert manifest["id"] == f"{BASE}{path}"  # the id is the URL it was fetched from
    assert_valid(manifest)
    assert_ids_unique(manifest)
    assert_languages_explicit(manifest)
    assert "example.org" not in response.get_data(as_text=True)


@pytest.mark.parametrize("item", ITEMS)
def test_the_canvas_is_the_image_as_served(real, item):
    manifest = manifest_of(real, item)
    record = real_record(item)
    info = get_json(real, f"/iiif/3/{record.image}/info.json")
    full = real.application.extensions["beeldpost.images"].resolve(record.image)
    [canvas] = manifest["items"]
    # The canvas keeps the full scan's coordinates (people regions are in them); the
    # image body is the image as its public service describes it (capped or not).
    assert (canvas["width"], canvas["height"]) == (full.full_width, full.full_height)
    [painting] = canvas["items"][0]["items"]
    body = painting["body"]
    assert (body["width"], body["height"]) == (info["width"], info["height"])
    if record.max_size:
        assert max(info["width"], info["height"]) == record.max_size
        assert info["maxWidth"] == info["width"] and info["maxHeight"] == info["height"]
    else:
        assert (info["width"], info["height"]) == (full.full_width, full.full_height)
    services = body["service"]
    if record.access.value != "open":  # its full version first, for viewers to offer sign-in
        full_version = services.pop(0)
        assert full_version["id"] == f"{info['id']}~full"
        answer = real.get(f"/iiif/3/{record.image}~full/info.json")
        assert answer.status_code == 401  # to the anonymous: the whole description, 401
        assert answer.get_json()["id"] == full_version["id"]
        assert answer.get_json()["width"] == full.full_width
        # …and last, its 2.x full version, which UV 4.4 (taking the last 2.x) follows
        full_version_2 = services.pop()
        assert full_version_2["@id"] == get_json(
            real, f"/iiif/2/{record.image}/info.json")["@id"] + "~full"
        assert [s["profile"] for s in full_version_2["service"]] == [
            "http://iiif.io/api/auth/1/login"]
    assert [service.get("type") or service.get("@type") for service in services] == [
        "ImageService3", "ImageService2"]
    assert services[0]["id"] == info["id"]
    assert services[1]["@id"] == get_json(real, f"/iiif/2/{record.image}/info.json")["@id"]
    assert manifest["thumbnail"][0]["service"] == [{"id": info["id"], "type": "ImageService3",
                                                    "profile": "level2"}]


@pytest.mark.parametrize("item", ITEMS)
def test_every_id_on_this_server_resolves(real, item):
    manifest = manifest_of(real, item)
    checked = set()
    for identifier, node in ids(manifest):
        parts = urlsplit(identifier)
        if f"{parts.scheme}://{parts.netloc}" != BASE or identifier in checked:
            continue  # another site's (provider, rights), or seen already
        checked.add(identifier)
        if parts.path == f"/items/{item}":
            continue  # the item's web page (homepage) is the item-page issue's to serve
        kind = node.get("type") or node.get("@type")
        if kind in ("ImageService3", "ImageService2"):
            answer = real.get(f"{parts.path}/info.json")
            if parts.path.startswith("/iiif/2/") and parts.path.endswith("~full"):
                # 2.1's full version sends the anonymous to the public face (tiered access)
                assert answer.status_code == 302
                assert answer.headers["Location"] == identifier.removesuffix("~full") + "/info.json"
                continue
            # A full version is a 401 to the anonymous, with its whole description.
            assert answer.status_code == (401 if parts.path.endswith("~full") else 200)
            info = answer.get_json()
            assert (info.get("id") or info.get("@id")) == identifier
        elif kind.startswith("Auth"):  # IIIF Authorization (tests/pages/test_sign_in.py)
            # Token services want ?messageId=&origin= (a 400 without), others are pages.
            asked = "?messageId=1&origin=https://example.org" if kind.endswith("TokenService2") else ""
            response = real.get(parts.path + asked)
            assert response.status_code in (200, 401), identifier
        elif kind == "Image":
            assert_image_is_as_declared(real, node)
        elif kind in ("Text", "Dataset"):  # renderings; records for aggregators (seeAlso)
            response = real.get(parts.path)
            assert response.status_code == 200, identifier
            assert response.mimetype == node["format"]
        elif kind in SEARCH_SERVICES:  # Content Search and autocomplete (test_search.py)
            response = real.get(f"{parts.path}?q=wijk")
            assert response.status_code == 200, identifier
            context = response.get_json()["@context"]
            assert SEARCH_SERVICES[kind] in (context if isinstance(context, list) else [context])
        else:
            document = get_json(real, parts.path)
            assert document["id"] == identifier
            assert document["type"] == kind
            assert_valid(document)
    assert len(checked) >= 6


@pytest.mark.parametrize("item", ITEMS)
def test_each_manifest_says_what_its_record_says(real, item):
    manifest = manifest_of(real, item)
    record = real_record(item)
    assert manifest["label"] == record.label.language_map()
    assert manifest["summary"] == record.summary.language_map()
    assert manifest["requiredStatement"]["value"] == record.credit.language_map()
    assert manifest["rights"] == record.rights
    assert manifest.get("navDate") == record.nav_date
    assert ("provider" in manifest) == (record.provider is not None)
    pages = pages_of(manifest)
    [caption] = pages["caption"]["items"]
    assert caption["body"]["value"] == record.summary[record.language]
    if record.transcript:
        transcript = pages["transcript"]
        assert len(transcript["items"]) == len(record.transcript.paragraphs)
        assert [a["body"]["value"] for a in transcript["items"]] == list(record.transcript.paragraphs)
        assert transcript["label"] == record.transcript.citation.language_map()
    else:
        assert "transcript" not in pages and "rendering" not in manifest
    people = pages.get("people", {"items": []})["items"]
    assert [(a["body"]["value"], xywh(a["target"])[1]) for a in people] == [
        (person.name, person.xywh) for person in record.people]


@pytest.mark.parametrize("page", ["transcript", "people", "caption"])
def test_annotation_pages_are_served_as_embedded(real, page):
    manifest = manifest_of(real, PHOTO)
    embedded = pages_of(manifest)[page]
    served = get_json(real, urlsplit(embedded["id"]).path, Accept="application/ld+json")
    assert served == {"@context": CONTEXT, **embedded}
    assert_valid(served)


# --------------------------------------------------------------------------- the photo, field by field


def test_the_photo_manifest_carries_every_field_of_its_record(real):
    manifest = manifest_of(real, PHOTO)
    record = real_record(PHOTO)
    assert manifest["label"] == {"nl": ["Het managementteam van Wijkgericht Werken, 1999"],
                                 "en": [record.label["en"]]}
    assert manifest["summary"]["nl"] == [
        "Bovenste rij, geheel rechts: Aziz Manar. Onderste rij, tweede van links: Thea Laffra"]
    assert manifest["summary"] == record.summary.language_map()
    assert manifest["requiredStatement"]["value"]["nl"] == ["foto Jan Blom, bron Nieuw Land"]
    assert manifest["requiredStatement"]["value"] == record.credit.language_map()
    assert manifest["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    assert manifest["navDate"] == "1999-01-01T00:00:00Z"
    [provider] = manifest["provider"]
    assert provider["type"] == "Agent"
    assert provider["label"] == record.provider.label.language_map()
    assert provider["homepage"][0]["id"] == "https://www.batavialand.nl/"
    assert manifest["homepage"][0]["id"] == f"{BASE}/items/{PHOTO}"
    assert manifest["homepage"][0]["format"] == "text/html"
    assert manifest["partOf"][0]["id"] == f"{BASE}/iiif/collection"
    assert [(r["id"], r["format"]) for r in manifest["rendering"]] == [
        (f"{BASE}/items/{PHOTO}/transcript.txt", "text/plain"),
        (f"{BASE}/items/{PHOTO}/transcript.html", "text/html"),
    ]
    pairs = {pair["label"]["en"][0]: pair["value"] for pair in manifest["metadata"]}
    assert pairs["Title"]["nl"] == ["Het managementteam van Wijkgericht Werken, 1999"]
    assert pairs["Date"] == {"nl": ["1999"], "en": ["1999"]}
    assert pairs["Photographer"] == {"nl": ["Jan Blom"], "en": ["Jan Blom"]}
    assert pairs["Source"] == {"nl": ["Nieuw Land"], "en": ["Nieuw Land"]}
    assert pairs["Place"] == {"nl": ["Lelystad"], "en": ["Lelystad"]}
    assert pairs["Subject"]["nl"] == ["Wijkgericht Werken"]
    assert pairs["People"]["nl"] == ["Aziz Manar (bovenste rij, geheel rechts)",
                                     "Thea Laffra (onderste rij, tweede van links)"]
    assert pairs["Collection"] == record.collection.language_map()
    assert pairs["Rights"]["nl"] == ["Alle rechten voorbehouden"]


def test_the_transcript_annotations_reproduce_the_interview(real):
    page = pages_of(manifest_of(real, PHOTO))["transcript"]
    paragraphs = seed_interview()
    assert len(page["items"]) == len(paragraphs) == 5
    assert [annotation["body"]["value"] for annotation in page["items"]] == paragraphs
    assert page["label"]["nl"] == [
        "Bron: Batavialand te Lelystad, Project Nederlanders – Wereldburgers, "
        "interview met Aziz Manar op 9 oktober 2012 te Lelystad."]
    canvas_id = f"{BASE}/iiif/manifests/{PHOTO}/canvas"
    for annotation in page["items"]:
        assert annotation["motivation"] == "commenting"
        assert annotation["target"] == canvas_id
        assert annotation["body"]["type"] == "TextualBody"
        assert (annotation["body"]["language"], annotation["body"]["format"]) == ("nl", "text/plain")


def test_the_people_annotations_point_inside_the_canvas(real):
    manifest = manifest_of(real, PHOTO)
    canvas = manifest["items"][0]
    record = real_record(PHOTO)
    page = pages_of(manifest)["people"]
    assert [a["body"]["value"] for a in page["items"]] == ["Aziz Manar", "Thea Laffra"]
    for annotation, person in zip(page["items"], record.people):
        assert annotation["motivation"] == "tagging"
        source, (x, y, w, h) = xywh(annotation["target"])
        assert source == canvas["id"]
        assert (x, y, w, h) == person.xywh
        assert x >= 0 and y >= 0 and x + w <= canvas["width"] and y + h <= canvas["height"]


def test_the_people_are_the_named_figures_of_the_photo():
    """Top row, far right: Aziz Manar; bottom row, second from left: Thea Laffra, as
    the stand-in photo's own figure boxes (written with it) place them."""
    path = IMAGES / f"{PHOTO}.figures.json"
    if not path.is_file():
        pytest.skip("images/wijkgericht-werken-1999.figures.json is not committed yet")
    figures = json.loads(path.read_text("utf-8"))
    boxes = {(f["row"], f["position"]): tuple(f["xywh"]) for f in figures["figures"]}
    far_right = max(position for row, position in boxes if row == "top")
    people = {person.name: person.xywh for person in real_record(PHOTO).people}
    assert people == {"Aziz Manar": boxes[("top", far_right)],
                      "Thea Laffra": boxes[("bottom", 2)]}


def test_the_caption_is_a_comment_on_the_whole_canvas(real):
    [annotation] = pages_of(manifest_of(real, PHOTO))["caption"]["items"]
    assert annotation["motivation"] == "commenting"
    assert annotation["body"]["value"] == (
        "Bovenste rij, geheel rechts: Aziz Manar. Onderste rij, tweede van links: Thea Laffra")
    assert annotation["target"] == f"{BASE}/iiif/manifests/{PHOTO}/canvas"


def test_the_transcript_renderings(real):
    citation = real_record(PHOTO).transcript.citation["nl"]
    text = real.get(f"/items/{PHOTO}/transcript.txt")
    assert text.status_code == 200
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["Access-Control-Allow-Origin"] == "*"
    body = text.get_data(as_text=True)
    assert body.split("\n\n") == ["Wijkgericht Werken in Lelystad", *seed_interview(),
                                  citation + "\n"]
    html = real.get(f"/items/{PHOTO}/transcript.html")
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    page = html.get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert page.count("<p>") == 5 + 1
    assert "“Waarom zou ik?" in page and citation in page
    again = real.get(f"/items/{PHOTO}/transcript.txt", headers={"If-None-Match": text.headers["ETag"]})
    assert again.status_code == 304


def test_an_item_without_a_transcript_has_no_transcript_page(real):
    item = next(item for item in ITEMS if real_record(item).transcript is None)
    response = real.get(f"/items/{item}/transcript.txt")
    assert response.status_code == 404
    assert "has no transcript" in response.get_data(as_text=True)


@pytest.mark.parametrize("item", ITEMS)
def test_info_json_carries_the_items_rights(real, item):
    record = real_record(item)
    assert get_json(real, f"/iiif/3/{record.image}/info.json")["rights"] == record.rights


# --------------------------------------------------------------------------- HTTP rules


def test_plain_json_unless_json_ld_is_asked_for(real):
    response = real.get(f"/iiif/manifests/{PHOTO}")
    assert response.headers["Content-Type"] == "application/json"
    assert "Accept" in response.headers["Vary"]


def test_head_and_conditional_requests(real):
    path = f"/iiif/manifests/{PHOTO}"
    full = real.get(path)
    head = real.head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == full.headers["ETag"]
    assert head.headers["Content-Length"] == full.headers["Content-Length"]
    again = real.get(path, headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight(real):
    response = real.options("/iiif/collection", headers={
        "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Accept"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("path,words", [
    ("/iiif/manifests/bestaat-niet", "no item 'bestaat-niet'"),
    ("/iiif/manifests/..%2Fsecrets", "no item"),
    (f"/iiif/manifests/{PHOTO}/annotations/elders", "has no part 'annotations/elders'"),
    (f"/iiif/manifests/{PHOTO}/annotations/people/9", "has no part"),
    ("/items/bestaat-niet/transcript.txt", "no item"),
])
def test_unknown_things_are_a_readable_404(real, path, words):
    response = real.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert words in response.get_data(as_text=True)


# --------------------------------------------------------------------------- editing and breaking records


@pytest.fixture
def temp(tmp_path):
    """An app on temporary records and images: 'een' and 'twee', both 1200×800."""
    images = tmp_path / "images"
    manifests = tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item in ("een", "twee"):
        make_jpeg(images / f"{item}.jpg", 1200, 800)
        write_record(manifests, item)
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache"})
    return app.test_client(), manifests


def bump(path: Path) -> None:
    """Make an edit visible even on file systems with coarse timestamps."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_edit_is_served_without_a_restart_and_changes_the_etag(temp):
    client, manifests = temp
    before = client.get("/iiif/manifests/een")
    assert before.get_json()["summary"]["nl"] == ["Links: Anna de Vries. Rechts: Piet Jansen"]
    write_record(manifests, "een", record_data(
        "een", summary={"nl": "Een nieuw bijschrift", "en": "A new caption"}))
    bump(manifests / "een.yaml")
    after = client.get("/iiif/manifests/een")
    assert after.get_json()["summary"] == {"nl": ["Een nieuw bijschrift"], "en": ["A new caption"]}
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = client.get("/iiif/manifests/een", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200
    caption = client.get("/iiif/manifests/een/annotations/caption/1").get_json()
    assert caption["body"]["value"] == "Een nieuw bijschrift"


def test_a_transcript_edit_is_served_without_a_restart(temp):
    client, manifests = temp
    (manifests / "een.transcript.txt").write_text("Eén.\n\nTwee.\n\nDrie.\n\nVier.\n", "utf-8")
    bump(manifests / "een.transcript.txt")
    page = client.get("/iiif/manifests/een/annotations/transcript").get_json()
    assert [a["body"]["value"] for a in page["items"]] == ["Eén.", "Twee.", "Drie.", "Vier."]
    assert "Vier." in client.get("/items/een/transcript.txt").get_data(as_text=True)


@pytest.mark.parametrize("breakage,message", [
    (lambda folder: (folder / "een.yaml").write_text("id: een\nlabel: [\n", "utf-8"),
     "een.yaml: line 3, column 1: not valid YAML"),
    (lambda folder: write_record(folder, "een", record_data("een", rights="https://x.nl/")),
     "een.yaml: rights: 'https://x.nl/' is not a RightsStatements.org or Creative Commons URI"),
    (lambda folder: write_record(folder, "een", record_data("een", image="kwijt")),
     "een.yaml: image: no image with identifier 'kwijt'"),
    (lambda folder: write_record(folder, "een", record_data("een", people=[
        {"name": "Ver Weg", "xywh": [1100, 700, 200, 200]}])),
     "een.yaml: people[1].xywh: [1100, 700, 200, 200] reaches outside the 1200×800 image 'een'"),
])
def test_a_broken_record_is_a_clear_error_and_the_rest_stays_served(temp, breakage, message):
    client, manifests = temp
    assert client.get("/iiif/manifests/een").status_code == 200
    breakage(manifests)
    bump(manifests / "een.yaml")
    for path in ("/iiif/manifests/een", "/iiif/manifests/een/canvas", "/items/een/transcript.txt"):
        response = client.get(path)
        assert response.status_code == 422, path
        assert response.mimetype == "text/plain"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert message in response.get_data(as_text=True)
    assert client.get("/iiif/manifests/twee").status_code == 200
    # The collection keeps its last good state, as Change Discovery does: a typo does not
    # take an item out of the lists (its manifest says what is wrong until it is fixed).
    collection = client.get("/iiif/collection").get_json()
    assert [entry["id"] for entry in collection["items"]] == \
        [f"{BASE}/iiif/manifests/een", f"{BASE}/iiif/manifests/twee"]
    assert collection["items"][0]["label"]["en"] == ["Test item een"]  # as last published
    # Fixing it brings it back.
    write_record(manifests, "een")
    bump(manifests / "een.yaml")
    assert client.get("/iiif/manifests/een").status_code == 200
    assert len(client.get("/iiif/collection").get_json()["items"]) == 2


def test_a_new_record_is_listed_without_a_restart(temp, tmp_path):
    client, manifests = temp
    make_jpeg(tmp_path / "images" / "drie.jpg", 640, 480)
    write_record(manifests, "drie", record_data("drie", people=None))
    collection = client.get("/iiif/collection").get_json()
    assert [entry["id"].rsplit("/", 1)[1] for entry in collection["items"]] == ["drie", "een", "twee"]
    assert client.get("/iiif/manifests/drie").get_json()["items"][0]["width"] == 640


def test_no_records_folder_is_an_empty_collection(tmp_path, images_dir):
    app = create_app({"images_dir": images_dir, "manifests_dir": tmp_path / "geen",
                      "cache_dir": tmp_path / "cache"})
    collection = app.test_client().get("/iiif/collection").get_json()
    assert collection["items"] == []
    assert_valid(collection)


def test_public_base_url_is_used_for_every_id(temp, tmp_path):
    _client, manifests = temp
    app = create_app({"images_dir": tmp_path / "images", "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "public_base_url": "https://beeld.example.nl/pp"})
    manifest = app.test_client().get("/iiif/manifests/een").get_json()
    ours = [identifier for identifier, _node in ids(manifest)
            if urlsplit(identifier).netloc != "archief.example.nl"]  # the provider's own
    assert len(ours) > 10
    assert all(identifier.startswith("https://beeld.example.nl/pp/") for identifier in ours)
    assert json.dumps(manifest).count("localhost") == 0


# --------------------------------------------------------------------------- building nothing


def test_a_manifest_and_an_item_page_build_no_pyramid_and_agree_with_the_image_service(tmp_path):
    """A harvester reading every manifest must not build every pyramid: the manifest and
    the item page take the image's size from the catalogue's index (the scan read it
    from the header, upright) and its caps from the records. What info.json says once
    the pyramid is built is the same."""
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown 3000 wide, 4000 high
    Image.new("RGB", (4000, 3000), (128, 110, 90)).save(images / "staand.jpg", quality=85,
                                                          exif=exif)
    make_jpeg(images / "breed.jpg", 4000, 3000)
    write_record(manifests, "staand")
    write_record(manifests, "breed", record_data("breed", max_size=1200, people=None))
    cache = tmp_path / "cache"
    app = create_app({"images_dir": images, "manifests_dir": manifests, "cache_dir": cache})
    client = app.test_client()

    def pyramids() -> list[Path]:
        return sorted(cache.rglob("*.tif"))

    served = {}
    for item in ("staand", "breed"):
        manifest = manifest_of(client, item)
        assert client.get(f"/items/{item}").status_code == 200
        assert client.get(f"/iiif/manifests/{item}/v2").status_code == 200
        assert pyramids() == [], item  # nothing opened, nothing built
        canvas = manifest["items"][0]
        body = canvas["items"][0]["items"][0]["body"]
        served[item] = (canvas["width"], canvas["height"], body["width"], body["height"])
        # (a capped image's full version comes first: its public face is the last 3.0 one)
        service = [s for s in body["service"] if s.get("type") == "ImageService3"][-1]
        served[item] += (service["id"],)
    assert served["staand"][:4] == (3000, 4000, 3000, 4000)
    assert served["breed"][:2] == (4000, 3000) and max(served["breed"][2:4]) == 1200

    for item in ("staand", "breed"):
        info = get_json(client, f"/iiif/3/{item}/info.json")
        assert info["id"] == served[item][4]
        assert (info["width"], info["height"]) == served[item][2:4], item
        assert_image_is_as_declared(client, manifest_of(client, item)[
            "items"][0]["items"][0]["items"][0]["body"])
    assert len(pyramids()) == 2
