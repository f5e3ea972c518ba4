"""The Presentation 2.1 manifests: validated with iiif-prezi's ManifestReader (what the
official presentation-validator runs for 2.x) and with structural checks after its
rules, the same canvas and annotation ids as in 3.0, and content negotiation."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from iiif_prezi import loader
from iiif_prezi.loader import ManifestReader
from pyld import jsonld

from beeldpost import create_app

from support.presentation import MANIFESTS, PHOTO, REPO, make_jpeg, record_data, write_record

IMAGES = REPO / "images"
BASE = "http://localhost"
CONTEXT_2 = "http://iiif.io/api/presentation/2/context.json"
CONTEXT_3 = "http://iiif.io/api/presentation/3/context.json"
ITEMS = sorted(path.stem for path in MANIFESTS.glob("*.yaml"))
# iiif-prezi 0.3 knows `rendering` as a 2.1 property but forgets it on sc:Manifest.
KNOWN_LIBRARY_WARNINGS = {"WARNING: Setting non-standard field 'rendering' on resource of type "
                          "'sc:Manifest'\n"}


def _local_contexts(url, options=None):
    """iiif-prezi resolves the contexts from its own copies, never over the network
    (its loader predates pyld's current loader signature)."""
    document = loader.load_document_local(url)
    return {**document, "document": json.loads(document["document"])}


jsonld.set_document_loader(_local_contexts)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    app = create_app({"images_dir": IMAGES, "manifests_dir": MANIFESTS,
                      "cache_dir": tmp_path_factory.mktemp("presentation2-cache")})
    return app.test_client()


def get_json(client, path: str, **headers) -> dict:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()


def validate_with_iiif_prezi(document: dict) -> None:
    reader = ManifestReader(json.dumps(document), version="2.1")
    resource = reader.read()  # raises on any error; also expands the JSON-LD
    resource.toJSON(top=True)
    warnings = set(reader.get_warnings())
    assert warnings <= KNOWN_LIBRARY_WARNINGS, warnings


def is_language_value(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list) and value and all(
        isinstance(v, dict) and set(v) == {"@value", "@language"} and v["@value"].strip()
        for v in value)


def assert_structure(manifest: dict) -> None:
    """The presentation-validator's 2.x rules, spelled out."""
    assert manifest["@context"] == CONTEXT_2
    assert manifest["@type"] == "sc:Manifest"
    assert manifest["@id"].startswith("http")
    assert is_language_value(manifest["label"])
    for pair in manifest["metadata"]:
        assert is_language_value(pair["label"]) and is_language_value(pair["value"])
    [sequence] = manifest["sequences"]
    assert sequence["@type"] == "sc:Sequence"
    assert sequence["canvases"]
    ids = [manifest["@id"], sequence["@id"]]
    for canvas in sequence["canvases"]:
        assert canvas["@type"] == "sc:Canvas" and is_language_value(canvas["label"])
        assert isinstance(canvas["width"], int) and isinstance(canvas["height"], int)
        ids.append(canvas["@id"])
        for image in canvas["images"]:
            assert image["@type"] == "oa:Annotation" and image["motivation"] == "sc:painting"
            assert image["on"] == canvas["@id"]
            resource = image["resource"]
            assert resource["@type"] == "dctypes:Image" and resource["format"] == "image/jpeg"
            service = resource["service"]
            assert service["@context"] == "http://iiif.io/api/image/2/context.json"
            assert service["profile"] == "http://iiif.io/api/image/2/level2.json"
            assert resource["@id"].startswith(service["@id"] + "/")
            ids.append(image["@id"])
        for annotation_list in canvas.get("otherContent", []):
            assert annotation_list["@type"] == "sc:AnnotationList"
            ids.append(annotation_list["@id"])
    assert len(ids) == len(set(ids)), "ids are unique"


@pytest.mark.parametrize("item", ITEMS)
def test_each_2_1_manifest_validates(real, item):
    path = f"/iiif/manifests/{item}/v2"
    response = real.get(path, headers={"Accept": "application/ld+json"})
    assert response.headers["Content-Type"] == f'application/ld+json;profile="{CONTEXT_2}"'
    manifest = response.get_json()
    assert manifest["@id"] == f"{BASE}{path}"
    validate_with_iiif_prezi(manifest)
    assert_structure(manifest)
    assert "example.org" not in response.get_data(as_text=True)


@pytest.mark.parametrize("item", ITEMS)
def test_every_annotation_list_is_served_and_validates(real, item):
    manifest = get_json(real, f"/iiif/manifests/{item}/v2")
    v3 = get_json(real, f"/iiif/manifests/{item}")
    v3_annotations = {a["id"]: a for page in v3["items"][0]["annotations"] for a in page["items"]}
    [canvas] = manifest["sequences"][0]["canvases"]
    listed = []
    for reference in canvas["otherContent"]:
        annotation_list = get_json(real, urlsplit(reference["@id"]).path)
        validate_with_iiif_prezi(annotation_list)
        assert annotation_list["@id"] == reference["@id"]
        assert annotation_list["@type"] == "sc:AnnotationList"
        assert annotation_list["label"] == reference["label"]
        for annotation in annotation_list["resources"]:
            same = v3_annotations[annotation["@id"]]  # the very annotation of the 3.0 manifest
            assert annotation["resource"]["chars"] == same["body"]["value"]
            assert annotation["resource"]["@type"] == "cnt:ContentAsText"
            assert annotation["on"] == same["target"]
            assert annotation["on"].split("#")[0] == canvas["@id"]
            assert annotation["motivation"] == f"oa:{same['motivation']}"
            listed.append(annotation["@id"])
    assert listed == list(v3_annotations)


def test_the_photo_says_what_its_3_0_manifest_says(real):
    v2 = get_json(real, f"/iiif/manifests/{PHOTO}/v2")
    v3 = get_json(real, f"/iiif/manifests/{PHOTO}")
    assert v2["label"] == [{"@value": v3["label"]["nl"][0], "@language": "nl"},
                           {"@value": v3["label"]["en"][0], "@language": "en"}]
    assert v2["description"][0]["@value"] == v3["summary"]["nl"][0]
    assert v2["license"] == v3["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    assert v2["attribution"] == [{"@value": "foto Jan Blom, bron Nieuw Land", "@language": "nl"},
                                 {"@value": "photo Jan Blom, source Nieuw Land", "@language": "en"}]
    assert v2["navDate"] == v3["navDate"]
    pairs = {pair["label"][1]["@value"]: pair["value"] for pair in v2["metadata"]}
    assert pairs["Photographer"] == "Jan Blom" and pairs["Date"] == "1999"
    assert v2["related"][0] == {"@id": f"{BASE}/items/{PHOTO}", "format": "text/html",
                                "label": v2["label"]}
    assert [r["@id"] for r in v2["rendering"]] == [r["id"] for r in v3["rendering"]]
    assert [(s["@id"], s["format"], s["profile"]) for s in v2["seeAlso"]] == [
        (s["id"], s["format"], s["profile"]) for s in v3["seeAlso"]]
    [canvas] = v2["sequences"][0]["canvases"]
    [canvas_3] = v3["items"]
    assert canvas["@id"] == canvas_3["id"]
    assert (canvas["width"], canvas["height"]) == (canvas_3["width"], canvas_3["height"])
    [image] = canvas["images"]
    body = canvas_3["items"][0]["items"][0]["body"]
    assert image["@id"] == canvas_3["items"][0]["items"][0]["id"]
    assert (image["resource"]["width"], image["resource"]["height"]) == (body["width"], body["height"])
    service_2 = next(s for s in body["service"] if s.get("@type") == "ImageService2")
    assert image["resource"]["service"]["@id"] == service_2["@id"]


def test_the_images_and_thumbnail_are_served_as_declared(real):
    from io import BytesIO

    from PIL import Image

    v2 = get_json(real, f"/iiif/manifests/{PHOTO}/v2")
    [canvas] = v2["sequences"][0]["canvases"]
    resource = canvas["images"][0]["resource"]
    info = get_json(real, f"{urlsplit(resource['service']['@id']).path}/info.json")
    assert info["@id"] == resource["service"]["@id"]
    assert (info["width"], info["height"]) == (resource["width"], resource["height"])
    thumbnail = v2["thumbnail"]
    response = real.get(urlsplit(thumbnail["@id"]).path)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    with Image.open(BytesIO(response.data)) as picture:
        assert picture.size == (thumbnail["width"], thumbnail["height"])


def test_a_capped_image_keeps_the_canvas_size(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    make_jpeg(images / "klein.jpg", 2400, 1600)
    write_record(manifests, "klein", record_data("klein", max_size=600))
    client = create_app({"images_dir": images, "manifests_dir": manifests,
                         "cache_dir": tmp_path / "cache"}).test_client()
    manifest = get_json(client, "/iiif/manifests/klein/v2")
    validate_with_iiif_prezi(manifest)
    [canvas] = manifest["sequences"][0]["canvases"]
    assert (canvas["width"], canvas["height"]) == (2400, 1600)
    resource = canvas["images"][0]["resource"]
    assert (resource["width"], resource["height"]) == (600, 400)


# --------------------------------------------------------------------------- content negotiation


@pytest.mark.parametrize("accept,version", [
    (f'application/ld+json;profile="{CONTEXT_2}"', 2),
    (f'application/ld+json; profile="{CONTEXT_2}"', 2),
    (f'application/ld+json;profile="{CONTEXT_3}"', 3),
    (f'application/ld+json;profile="{CONTEXT_3}";q=0.5, application/ld+json;profile="{CONTEXT_2}"', 2),
    (f'application/ld+json;profile="{CONTEXT_2}";q=0.5, application/ld+json;profile="{CONTEXT_3}"', 3),
    (f'application/ld+json;profile="{CONTEXT_3}", application/ld+json;profile="{CONTEXT_2}"', 3),
    ("application/ld+json", 3),
    ("application/json", 3),
    ("*/*", 3),
    ("", 3),
])
def test_the_manifest_url_negotiates_the_version(real, accept, version):
    path = f"/iiif/manifests/{PHOTO}"
    response = real.get(path, headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert "Accept" in response.headers["Vary"]
    document = response.get_json()
    if version == 2:
        assert document == get_json(real, f"{path}/v2")
        assert response.headers["Content-Type"] == f'application/ld+json;profile="{CONTEXT_2}"'
    else:
        assert document["@context"] == CONTEXT_3 and document["id"] == f"{BASE}{path}"


def test_unknown_things_are_404(real):
    for path in ("/iiif/manifests/nothing/v2", f"/iiif/manifests/{PHOTO}/v2/annotations/nothing",
                 "/iiif/manifests/wijkpost-leekerhoek/v2/annotations/transcript"):
        response = real.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/plain"
