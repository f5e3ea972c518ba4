"""Machine-readable records of each item, for aggregators: EDM and Dublin Core / schema.org.

    /iiif/manifests/{item}/edm.xml        EDM in RDF/XML, the profile Europeana ingests
    /iiif/manifests/{item}/record.jsonld  the same facts as Dublin Core + schema.org JSON-LD

Both are linked from the manifest's `seeAlso` and from the item's Change Discovery
activities. The EDM record follows Europeana's IIIF pattern: the aggregation's
`edm:isShownBy` is a full image from the Image API 2.1 service, that WebResource
has `svcs:has_service` (a `svcs:Service` that `dcterms:conformsTo`
<http://iiif.io/api/image> and `doap:implements` level 2) and
`dcterms:isReferencedBy` the manifest; `edm:rights` is the record's rights URI.

URIs: the object itself is `{item page}#object`, its aggregation
`{item page}#aggregation` (the item page is /items/{item}, `edm:isShownAt`).

An item whose image shows the public nothing (its tier in force today is staff, as
for a closed item, or reading-room or clickthrough with no `max_size`:
tiers.public_face; or another record showing the same image withholds it) is
described as ever, but with no link to its image: no `edm:isShownBy`, `edm:object`,
WebResource or service in EDM, no `image` (contentUrl, thumbnailUrl) or
`edm:isShownBy` in JSON-LD; `edm:isShownAt`, its page, is what an aggregator links
to. An image with a cap keeps its links: they are its public (capped) face.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from flask import Blueprint, current_app, g

from ..catalogue.records import REQUIRED_LANGUAGES, Record, Text
from ..catalogue.tiers import effective, public_face, today
from ..http.responses import base_url, content_response, json_body
from ..presentation.links import EDM_FORMAT, JSONLD_FORMAT
from ..presentation.manifests import Urls

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "edm": "http://www.europeana.eu/schemas/edm/",
    "ore": "http://www.openarchives.org/ore/terms/",
    "svcs": "http://rdfs.org/sioc/services#",
    "doap": "http://usefulinc.com/ns/doap#",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
IIIF_IMAGE_API = "http://iiif.io/api/image"
IIIF_IMAGE_LEVEL = "http://iiif.io/api/image/2/level2.json"
MAX_AGE = 0

for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

KIND = {  # dc:type and schema.org class: a photograph when it has a photographer
    True: ({"nl": "foto", "en": "photograph"}, "Photograph"),
    False: ({"nl": "afbeelding", "en": "image"}, "VisualArtwork"),
}


@dataclass(frozen=True)
class ItemFacts:
    """What both records say, gathered from the record and the served manifest."""

    record: Record
    object_uri: str
    aggregation_uri: str
    item_page: str
    manifest: str
    # The image as the public sees it, from the Image API 2.1 service (the scan, or up
    # to its cap); all None when the public sees nothing of it (`public` False).
    image: str | None
    image_format: str | None
    image_width: int | None
    image_height: int | None
    image_service: str | None  # Image API 2.1 base URI
    thumbnail: str | None

    @classmethod
    def of(cls, record: Record, manifest: dict, urls: Urls,
           public: bool = True) -> "ItemFacts":
        page = urls.item_page(record.item)
        facts = cls(
            record=record,
            object_uri=f"{page}#object",
            aggregation_uri=f"{page}#aggregation",
            item_page=page,
            manifest=manifest["id"],
            image=None, image_format=None, image_width=None, image_height=None,
            image_service=None, thumbnail=None,
        )
        if not public:
            return facts
        [canvas] = manifest["items"]
        [painting] = canvas["items"][0]["items"]
        body = painting["body"]
        service = next(s["@id"] for s in body["service"] if s.get("@type") == "ImageService2")
        thumbnails = manifest.get("thumbnail") or []
        return dataclasses.replace(
            facts,
            image=f"{service}/full/max/0/default.jpg",
            image_format=body.get("format", "image/jpeg"),
            image_width=body["width"],
            image_height=body["height"],
            image_service=service,
            thumbnail=thumbnails[0]["id"] if thumbnails else None,
        )


def shows_image(record: Record, policy_public: bool = True) -> bool:
    """Whether the public sees anything of the item's image today: its own tier in force
    (a closure makes it staff) and cap (tiers.public_face), and the image service's
    policy over every record showing that image (`policy_public`)."""
    tier = effective(record.access, record.restricted_until, today())
    return policy_public and public_face(tier, record.max_size)


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _element(parent: ET.Element, name: str, text: str | None = None, *,
             resource: str | None = None, lang: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _q(name))
    if resource is not None:
        element.set(_q("rdf:resource"), resource)
    if lang is not None:
        element.set(XML_LANG, lang)
    if text is not None:
        element.text = text
    return element


def _texts(parent: ET.Element, name: str, text: Text | None) -> None:
    if text is not None:
        for language, value in text.entries:
            _element(parent, name, value, lang=language)


def _provider_name(record: Record) -> str | None:
    if record.provider is None:
        return None
    return record.provider.label[record.language] if record.language in dict(
        record.provider.label.entries) else record.provider.label.entries[0][1]


def build_edm(facts: ItemFacts) -> str:
    record = facts.record
    root = ET.Element(_q("rdf:RDF"))

    cho = ET.SubElement(root, _q("edm:ProvidedCHO"), {_q("rdf:about"): facts.object_uri})
    _element(cho, "dc:identifier", record.item)
    _texts(cho, "dc:title", record.label)
    _texts(cho, "dc:description", record.summary)  # the caption
    _texts(cho, "dc:description", record.description)
    if record.photographer:
        _element(cho, "dc:creator", record.photographer)
    if record.date:
        _element(cho, "dc:date", record.date)
    if record.source:
        _element(cho, "dc:source", record.source)
    _texts(cho, "dc:subject", record.subject)
    for person in record.people:
        _element(cho, "dc:subject", person.name)
    type_words, _schema_class = KIND[bool(record.photographer)]
    for language in REQUIRED_LANGUAGES:
        _element(cho, "dc:type", type_words[language], lang=language)
    _element(cho, "dc:language", record.language)
    if record.place:
        _element(cho, "dcterms:spatial", record.place)
    _texts(cho, "dcterms:isPartOf", record.collection)
    _element(cho, "edm:type", "IMAGE")

    if facts.image is not None:  # (none for an image the public sees nothing of)
        web = ET.SubElement(root, _q("edm:WebResource"), {_q("rdf:about"): facts.image})
        _element(web, "dc:format", facts.image_format)
        _element(web, "edm:rights", resource=record.rights)
        _element(web, "svcs:has_service", resource=facts.image_service)
        _element(web, "dcterms:isReferencedBy", resource=facts.manifest)

        service = ET.SubElement(root, _q("svcs:Service"),
                                {_q("rdf:about"): facts.image_service})
        _element(service, "dcterms:conformsTo", resource=IIIF_IMAGE_API)
        _element(service, "doap:implements", resource=IIIF_IMAGE_LEVEL)

    aggregation = ET.SubElement(root, _q("ore:Aggregation"),
                                {_q("rdf:about"): facts.aggregation_uri})
    _element(aggregation, "edm:aggregatedCHO", resource=facts.object_uri)
    provider = _provider_name(record)
    if provider:
        _element(aggregation, "edm:dataProvider", provider)
        _element(aggregation, "edm:provider", provider)
    if facts.image is not None:
        _element(aggregation, "edm:isShownBy", resource=facts.image)
    _element(aggregation, "edm:isShownAt", resource=facts.item_page)
    if facts.thumbnail:
        _element(aggregation, "edm:object", resource=facts.thumbnail)
    _element(aggregation, "edm:rights", resource=record.rights)
    _texts(aggregation, "dc:rights", record.credit)

    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- JSON-LD


JSONLD_CONTEXT = {
    "@vocab": "https://schema.org/",
    "dc": NS["dc"],
    "dcterms": NS["dcterms"],
    "edm": NS["edm"],
    "url": {"@type": "@id"},
    "license": {"@type": "@id"},
    "contentUrl": {"@type": "@id"},
    "thumbnailUrl": {"@type": "@id"},
    "sameAs": {"@type": "@id"},
    "edm:rights": {"@type": "@id"},
    "edm:isShownBy": {"@type": "@id"},
    "edm:isShownAt": {"@type": "@id"},
    "dcterms:isReferencedBy": {"@type": "@id"},
}


def _lang(text: Text | None) -> list[dict]:
    return [{"@value": value, "@language": language} for language, value in text.entries] \
        if text is not None else []


def build_jsonld(facts: ItemFacts) -> dict:
    record = facts.record
    type_words, schema_class = KIND[bool(record.photographer)]
    document: dict = {
        "@context": JSONLD_CONTEXT,
        "@id": facts.object_uri,
        "@type": schema_class,
        "identifier": record.item,
        "name": _lang(record.label),
        "dc:title": _lang(record.label),
        "description": _lang(record.summary) + _lang(record.description),
        "dc:description": _lang(record.summary) + _lang(record.description),
        "inLanguage": record.language,
        "dc:language": record.language,
        "dc:type": [{"@value": type_words[language], "@language": language}
                    for language in REQUIRED_LANGUAGES],
        "edm:type": "IMAGE",
    }
    if record.photographer:
        document["creator"] = {"@type": "Person", "name": record.photographer}
        document["dc:creator"] = record.photographer
    if record.date:
        document["dateCreated"] = record.date
        document["dc:date"] = record.date
    if record.place:
        document["contentLocation"] = {"@type": "Place", "name": record.place}
        document["dcterms:spatial"] = record.place
    subjects = _lang(record.subject)
    if subjects:
        document["keywords"] = subjects
    if record.people:
        document["about"] = [{"@type": "Person", "name": person.name} for person in record.people]
    if subjects or record.people:
        document["dc:subject"] = subjects + [person.name for person in record.people]
    if record.source:
        document["dc:source"] = record.source
    if record.collection:
        document["isPartOf"] = {"@type": "Collection", "name": _lang(record.collection)}
        document["dcterms:isPartOf"] = _lang(record.collection)
    document["license"] = record.rights
    document["edm:rights"] = record.rights
    document["creditText"] = _lang(record.credit)
    document["dc:rights"] = _lang(record.credit)
    if record.rights_label:
        document["copyrightNotice"] = _lang(record.rights_label)
    if record.provider:
        organisation = {"@id": record.provider.id, "@type": "Organization",
                        "name": _lang(record.provider.label)}
        if record.provider.homepage:
            organisation["url"] = record.provider.homepage
        document["provider"] = organisation
        document["edm:dataProvider"] = _provider_name(record)
    if facts.image is not None:  # (none for an image the public sees nothing of)
        image = {"@type": "ImageObject", "contentUrl": facts.image,
                 "encodingFormat": facts.image_format,
                 "width": facts.image_width, "height": facts.image_height}
        if facts.thumbnail:
            image["thumbnailUrl"] = facts.thumbnail
        document["image"] = image
    document["url"] = facts.item_page
    document["edm:isShownAt"] = facts.item_page
    if facts.image is not None:
        document["edm:isShownBy"] = facts.image
    document["subjectOf"] = {"@id": facts.manifest, "@type": "CreativeWork",
                             "encodingFormat": JSONLD_FORMAT,
                             "additionalType": "http://iiif.io/api/presentation/3#Manifest"}
    document["dcterms:isReferencedBy"] = facts.manifest
    return document


# --------------------------------------------------------------------------- HTTP


def _facts(item: str) -> ItemFacts:
    from ..presentation.routes import manifest_document

    record, manifest = manifest_document(item)
    # (The image service's policy was just asked for the manifest: kept, no query.)
    policy = current_app.extensions["beeldpost.images"].policy(record.image)
    return ItemFacts.of(record, manifest, Urls(base_url()), shows_image(record, policy.public))


def _answer(body: str | bytes, mimetype: str):
    return content_response(body, mimetype, MAX_AGE)


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("records", __name__)

    @blueprint.before_request
    def _label():
        g.route = "records"

    @blueprint.route("/iiif/manifests/<item>/edm.xml", methods=["GET"])
    def edm(item: str):
        return _answer(build_edm(_facts(item)), f"{EDM_FORMAT}; charset=utf-8")

    @blueprint.route("/iiif/manifests/<item>/record.jsonld", methods=["GET"])
    def jsonld(item: str):
        return _answer(json_body(build_jsonld(_facts(item))), f"{JSONLD_FORMAT}; charset=utf-8")

    return blueprint
