"""What harvesters get of an item whose image shows the public nothing (staff only,
closed until a date, or the reading room's or behind terms with no cap): its EDM and
JSON-LD records describe it as ever but link to no image (no edm:isShownBy,
edm:object, WebResource or service; no schema.org image, contentUrl or thumbnailUrl),
and neither the sitemap nor Change Discovery names an image of it. An image with a
cap keeps its links, which lead to its public (capped) face; an open item, and one
whose closure ended, are as ever. On SQLite and PostgreSQL (`catalogue_settings`)."""

from __future__ import annotations

import datetime
import io
import json
import re
from urllib.parse import urlsplit

import pytest
from PIL import Image
from rdflib import Graph, URIRef
from rdflib.namespace import DC, RDF

from support.withheld import CAP, CAPPED, ITEMS, NO_IMAGE, WIDTH, make_archive, move_day

BASE = "http://localhost"
EDM_NS = "http://www.europeana.eu/schemas/edm/"
SVCS_NS = "http://rdfs.org/sioc/services#"
SDO = "https://schema.org/"
SHOWING_IMAGES = tuple(item for item in ITEMS if item not in NO_IMAGE)


@pytest.fixture
def archive(tmp_path, catalogue_settings):
    return make_archive(tmp_path, catalogue_settings)


def image_urls(text: str, item: str) -> list[str]:
    """Every URL of the item's image (Image API 2 or 3, its full version too)."""
    return re.findall(rf"{re.escape(BASE)}/iiif/[23]/{re.escape(item)}[^\s\"<]*", text)


def records(client, item: str) -> tuple[str, Graph, str, dict, Graph]:
    edm = client.get(f"/iiif/manifests/{item}/edm.xml")
    jsonld = client.get(f"/iiif/manifests/{item}/record.jsonld")
    assert edm.status_code == 200 and jsonld.status_code == 200, item
    edm_text, jsonld_text = edm.get_data(as_text=True), jsonld.get_data(as_text=True)
    edm_graph = Graph().parse(data=edm_text, format="xml", publicID=f"{BASE}/")
    jsonld_graph = Graph().parse(data=jsonld_text, format="json-ld", publicID=f"{BASE}/")
    return edm_text, edm_graph, jsonld_text, json.loads(jsonld_text), jsonld_graph


def assert_no_image_link(client, item: str) -> None:
    edm_text, edm, jsonld_text, jsonld, jsonld_graph = records(client, item)
    page = f"{BASE}/items/{item}"
    aggregation = URIRef(f"{page}#aggregation")
    for text in (edm_text, jsonld_text):
        assert image_urls(text, item) == [], item
    assert list(edm.objects(aggregation, URIRef(f"{EDM_NS}isShownBy"))) == []
    assert list(edm.objects(aggregation, URIRef(f"{EDM_NS}object"))) == []
    assert list(edm.subjects(RDF.type, URIRef(f"{EDM_NS}WebResource"))) == []
    assert list(edm.subjects(RDF.type, URIRef(f"{SVCS_NS}Service"))) == []
    described = json.dumps({key: value for key, value in jsonld.items() if key != "@context"})
    for key in ("edm:isShownBy", "contentUrl", "thumbnailUrl", "ImageObject"):
        assert key not in described, key
    assert "image" not in jsonld
    # What it is, and where it is shown, stay public.
    assert (aggregation, URIRef(f"{EDM_NS}isShownAt"), URIRef(page)) in edm
    assert (URIRef(f"{page}#object"), DC.title, None) in edm
    assert jsonld["url"] == page and jsonld["edm:isShownAt"] == page
    assert jsonld["dc:title"][0]["@value"] == f"Proefstuk {item}"
    assert jsonld["license"] == "http://rightsstatements.org/vocab/InC/1.0/"
    assert (URIRef(f"{page}#object"), URIRef(f"{SDO}name"), None) in jsonld_graph


def assert_image_links(client, item: str, long_edge: int) -> None:
    """Linked as ever; each link is public, and as large as the public may see."""
    edm_text, edm, jsonld_text, jsonld, _graph = records(client, item)
    aggregation = URIRef(f"{BASE}/items/{item}#aggregation")
    [shown_by] = edm.objects(aggregation, URIRef(f"{EDM_NS}isShownBy"))
    [thumbnail] = edm.objects(aggregation, URIRef(f"{EDM_NS}object"))
    assert (shown_by, RDF.type, URIRef(f"{EDM_NS}WebResource")) in edm
    assert jsonld["edm:isShownBy"] == str(shown_by) == jsonld["image"]["contentUrl"]
    assert jsonld["image"]["thumbnailUrl"] == str(thumbnail)
    assert jsonld["image"]["width"] == long_edge
    for url in (shown_by, thumbnail):
        answer = client.get(urlsplit(str(url)).path)
        assert answer.status_code == 200 and answer.mimetype == "image/jpeg", url
    full = client.get(urlsplit(str(shown_by)).path)
    assert Image.open(io.BytesIO(full.data)).size[0] == long_edge


def test_records_of_an_item_whose_image_shows_nothing_link_to_no_image(archive):
    client = archive.client
    for item in NO_IMAGE:
        assert_no_image_link(client, item)
        # (Its image is indeed withheld: a link would have been a 401.)
        assert client.get(f"/iiif/2/{item}/full/max/0/default.jpg").status_code == 401


def test_records_of_open_capped_and_reopened_items_link_to_the_public_image(archive):
    client = archive.client
    for item in SHOWING_IMAGES:
        assert_image_links(client, item, CAP if item in CAPPED else WIDTH)


def test_an_open_item_showing_an_image_a_staff_item_withholds_links_to_none(archive):
    """The image service withholds an image whenever a record showing it does: an
    open record of the same image must not send aggregators to a 401."""
    archive.publish("tweede-opname", {}, "kolibrie", image="medewerkers-stuk")
    assert_no_image_link(archive.client, "tweede-opname")


def test_the_day_a_closure_ends_the_records_link_to_the_image(archive, monkeypatch):
    day = [datetime.date(2048, 12, 31)]
    move_day(monkeypatch, day)
    client = archive.client
    assert_no_image_link(client, "gesloten-stuk")
    assert_no_image_link(client, "gesloten-kap")
    day[0] = datetime.date(2049, 1, 1)
    archive.forget_policies()
    assert_image_links(client, "gesloten-stuk", WIDTH)
    assert_image_links(client, "gesloten-kap", CAP)
    assert_no_image_link(client, "medewerkers-stuk")


def test_the_sitemap_lists_every_item_and_names_no_image(archive):
    client = archive.client
    index = client.get("/sitemap.xml")
    assert index.status_code == 200
    body = client.get("/sitemap/0.xml").get_data(as_text=True)
    for item in ITEMS:
        # Its page and manifests: the metadata is public.
        assert f"<loc>{BASE}/items/{item}</loc>" in body
        assert f"<loc>{BASE}/iiif/manifests/{item}</loc>" in body
        assert image_urls(body, item) == []
    assert "image:image" not in body and "/iiif/2/" not in body and "/iiif/3/" not in body


def test_change_discovery_names_no_image(archive):
    client = archive.client
    stream = client.get("/iiif/discovery/page/0")
    assert stream.status_code == 200
    text = stream.get_data(as_text=True)
    named = {activity["object"]["canonical"].rsplit("/", 1)[1]
             for activity in stream.get_json()["orderedItems"]
             if activity["object"]["type"] == "Manifest"}
    assert named == set(ITEMS)  # every item is announced: its metadata is public
    assert "/iiif/2/" not in text and "/iiif/3/" not in text
    for activity in stream.get_json()["orderedItems"]:
        for record in activity["object"].get("seeAlso", []):
            if any(f"/manifests/{item}/" in record["id"] for item in NO_IMAGE):
                answer = client.get(urlsplit(record["id"]).path)
                assert answer.status_code == 200
                item = record["id"].split("/manifests/")[1].split("/")[0]
                assert image_urls(answer.get_data(as_text=True), item) == []
