"""The item records for aggregators: EDM (RDF/XML, Europeana's IIIF pattern) and the
Dublin Core / schema.org JSON-LD, both parsed with rdflib and read as triples."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DC, DCTERMS, RDF

from beeldpost import create_app

from support.presentation import MANIFESTS, PHOTO, REPO, make_jpeg, record_data, write_record

IMAGES = REPO / "images"
BASE = "http://localhost"
EDM = Namespace("http://www.europeana.eu/schemas/edm/")
ORE = Namespace("http://www.openarchives.org/ore/terms/")
SVCS = Namespace("http://rdfs.org/sioc/services#")
DOAP = Namespace("http://usefulinc.com/ns/doap#")
SDO = Namespace("https://schema.org/")
ITEM_PAGE = f"{BASE}/items/{PHOTO}"
MANIFEST = f"{BASE}/iiif/manifests/{PHOTO}"
SERVICE = f"{BASE}/iiif/2/{PHOTO}"
IMAGE = f"{SERVICE}/full/max/0/default.jpg"
RIGHTS = URIRef("http://rightsstatements.org/vocab/InC/1.0/")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    app = create_app({"images_dir": IMAGES, "manifests_dir": MANIFESTS,
                      "cache_dir": tmp_path_factory.mktemp("edm-cache")})
    return app.test_client()


def parsed(client, path: str, rdf_format: str, mimetype: str) -> Graph:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == mimetype
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["ETag"]
    graph = Graph()
    graph.parse(data=response.get_data(as_text=True), format=rdf_format, publicID=f"{BASE}/")
    assert len(graph) > 20
    return graph


@pytest.fixture(scope="module")
def edm(real) -> Graph:
    return parsed(real, f"/iiif/manifests/{PHOTO}/edm.xml", "xml", "application/rdf+xml")


@pytest.fixture(scope="module")
def jsonld(real) -> Graph:
    return parsed(real, f"/iiif/manifests/{PHOTO}/record.jsonld", "json-ld", "application/ld+json")


def by_language(graph: Graph, subject, predicate) -> dict[str | None, set[str]]:
    found: dict[str | None, set[str]] = {}
    for value in graph.objects(subject, predicate):
        assert isinstance(value, Literal)
        found.setdefault(value.language, set()).add(str(value))
    return found


def test_the_manifest_links_both_records(real):
    manifest = real.get(f"/iiif/manifests/{PHOTO}").get_json()
    assert [(r["id"], r["type"], r["format"], r["profile"]) for r in manifest["seeAlso"]] == [
        (f"{MANIFEST}/edm.xml", "Dataset", "application/rdf+xml",
         "http://www.europeana.eu/schemas/edm/"),
        (f"{MANIFEST}/record.jsonld", "Dataset", "application/ld+json", "https://schema.org/"),
    ]
    for record in manifest["seeAlso"]:
        assert set(record["label"]) == {"nl", "en"}
        assert real.get(urlsplit(record["id"]).path).status_code == 200


def test_edm_has_the_europeana_classes(edm):
    cho = URIRef(f"{ITEM_PAGE}#object")
    aggregation = URIRef(f"{ITEM_PAGE}#aggregation")
    assert (cho, RDF.type, EDM.ProvidedCHO) in edm
    assert (aggregation, RDF.type, ORE.Aggregation) in edm
    assert (URIRef(IMAGE), RDF.type, EDM.WebResource) in edm
    assert (URIRef(SERVICE), RDF.type, SVCS.Service) in edm
    assert (aggregation, EDM.aggregatedCHO, cho) in edm
    assert (cho, EDM.type, Literal("IMAGE")) in edm


def test_edm_carries_rights_creator_date_caption_and_the_manifest(edm):
    cho = URIRef(f"{ITEM_PAGE}#object")
    aggregation = URIRef(f"{ITEM_PAGE}#aggregation")
    assert (aggregation, EDM.rights, RIGHTS) in edm
    assert (cho, DC.creator, Literal("Jan Blom")) in edm
    assert (cho, DC.date, Literal("1999")) in edm
    titles = by_language(edm, cho, DC.title)
    assert titles["nl"] == {"Het managementteam van Wijkgericht Werken, 1999"}
    assert titles["en"] == {"The management team of Wijkgericht Werken, 1999"}
    descriptions = by_language(edm, cho, DC.description)
    assert ("Bovenste rij, geheel rechts: Aziz Manar. Onderste rij, tweede van links: "
            "Thea Laffra") in descriptions["nl"]
    assert len(descriptions["en"]) == 2  # the caption and the longer description
    assert (cho, DCTERMS.spatial, Literal("Lelystad")) in edm
    assert by_language(edm, cho, DC.type) == {"nl": {"foto"}, "en": {"photograph"}}
    subjects = by_language(edm, cho, DC.subject)
    assert subjects["nl"] == {"Wijkgericht Werken"} and subjects[None] == {"Aziz Manar", "Thea Laffra"}
    assert (URIRef(IMAGE), DCTERMS.isReferencedBy, URIRef(MANIFEST)) in edm
    assert (aggregation, EDM.dataProvider, Literal("Nieuw Land / Batavialand")) in edm
    assert (aggregation, EDM.isShownAt, URIRef(ITEM_PAGE)) in edm


def test_edm_follows_europeanas_iiif_pattern(edm, real):
    aggregation = URIRef(f"{ITEM_PAGE}#aggregation")
    assert (aggregation, EDM.isShownBy, URIRef(IMAGE)) in edm
    assert (URIRef(IMAGE), SVCS.has_service, URIRef(SERVICE)) in edm
    assert (URIRef(SERVICE), DCTERMS.conformsTo, URIRef("http://iiif.io/api/image")) in edm
    assert (URIRef(SERVICE), DOAP.implements,
            URIRef("http://iiif.io/api/image/2/level2.json")) in edm
    # Each link resolves: the image, the service's info.json, the manifest, the thumbnail.
    assert real.get(urlsplit(IMAGE).path).mimetype == "image/jpeg"
    info = real.get(f"{urlsplit(SERVICE).path}/info.json").get_json()
    assert info["@id"] == SERVICE and "level2" in info["profile"][0]
    assert real.get(urlsplit(MANIFEST).path).status_code == 200
    [thumbnail] = edm.objects(aggregation, EDM.object)
    assert real.get(urlsplit(str(thumbnail)).path).mimetype == "image/jpeg"


def test_the_json_ld_says_the_same_in_dublin_core_and_schema_org(jsonld):
    cho = URIRef(f"{ITEM_PAGE}#object")
    assert (cho, RDF.type, SDO.Photograph) in jsonld
    assert (cho, SDO.license, RIGHTS) in jsonld
    assert (cho, EDM.rights, RIGHTS) in jsonld
    assert (cho, DC.creator, Literal("Jan Blom")) in jsonld
    assert (cho, DC.date, Literal("1999")) in jsonld
    assert (cho, SDO.dateCreated, Literal("1999")) in jsonld
    assert by_language(jsonld, cho, SDO.name)["nl"] == {
        "Het managementteam van Wijkgericht Werken, 1999"}
    assert (cho, DCTERMS.isReferencedBy, URIRef(MANIFEST)) in jsonld
    assert (cho, SDO.url, URIRef(ITEM_PAGE)) in jsonld
    [creator] = jsonld.objects(cho, SDO.creator)
    assert (creator, SDO.name, Literal("Jan Blom")) in jsonld
    [image] = jsonld.objects(cho, SDO.image)
    assert (image, SDO.contentUrl, URIRef(IMAGE)) in jsonld
    [place] = jsonld.objects(cho, SDO.contentLocation)
    assert (place, SDO.name, Literal("Lelystad")) in jsonld
    people = {str(name) for person in jsonld.objects(cho, SDO.about)
              for name in jsonld.objects(person, SDO.name)}
    assert people == {"Aziz Manar", "Thea Laffra"}


def test_a_minimal_record_still_makes_valid_rdf(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    make_jpeg(images / "kaal.jpg", 1200, 800)
    write_record(manifests, "kaal", record_data("kaal", date=None, photographer=None,
                                                source=None, place=None, provider=None,
                                                people=None, transcript=None))
    client = create_app({"images_dir": images, "manifests_dir": manifests,
                         "cache_dir": tmp_path / "cache"}).test_client()
    cho = URIRef(f"{BASE}/items/kaal#object")
    edm = parsed(client, "/iiif/manifests/kaal/edm.xml", "xml", "application/rdf+xml")
    assert (cho, EDM.type, Literal("IMAGE")) in edm
    assert not list(edm.objects(cho, DC.creator))
    assert by_language(edm, cho, DC.type) == {"nl": {"afbeelding"}, "en": {"image"}}
    graph = parsed(client, "/iiif/manifests/kaal/record.jsonld", "json-ld", "application/ld+json")
    assert (cho, RDF.type, SDO.VisualArtwork) in graph


def test_unknown_items_are_404(real):
    for path in ("/iiif/manifests/nothing/edm.xml", "/iiif/manifests/nothing/record.jsonld"):
        response = real.get(path)
        assert response.status_code == 404 and response.mimetype == "text/plain"
