"""What a manifest links to beyond itself: its search services and its item records.

One place for these URLs and service descriptions, so the Presentation 3 and 2.1
manifests, the search and record endpoints and Change Discovery all give out the
same ones. Everything hangs off the manifest's own URL:

    {manifest}/search, {manifest}/autocomplete       Content Search 1.0 and its autocomplete
    {manifest}/search2, {manifest}/autocomplete2     Content Search 2.0 and its autocomplete
    {manifest}/edm.xml                               EDM record (RDF/XML), as Europeana ingests it
    {manifest}/record.jsonld                         Dublin Core + schema.org record (JSON-LD)
    {manifest}/v2                                    the Presentation 2.1 version of the manifest

This module imports nothing of the server's own, so manifests.py can use it.
"""

from __future__ import annotations

SEARCH1_CONTEXT = "http://iiif.io/api/search/1/context.json"
SEARCH1_PROFILE = "http://iiif.io/api/search/1/search"
AUTOCOMPLETE1_PROFILE = "http://iiif.io/api/search/1/autocomplete"
SEARCH2_CONTEXT = "http://iiif.io/api/search/2/context.json"
EDM_NAMESPACE = "http://www.europeana.eu/schemas/edm/"
SCHEMA_ORG = "https://schema.org/"

EDM_FORMAT = "application/rdf+xml"
JSONLD_FORMAT = "application/ld+json"


def search_url(manifest_id: str, version: int) -> str:
    return f"{manifest_id}/search" if version == 1 else f"{manifest_id}/search{version}"


def autocomplete_url(manifest_id: str, version: int) -> str:
    return f"{manifest_id}/autocomplete" if version == 1 else f"{manifest_id}/autocomplete{version}"


def edm_url(manifest_id: str) -> str:
    return f"{manifest_id}/edm.xml"


def jsonld_url(manifest_id: str) -> str:
    return f"{manifest_id}/record.jsonld"


def manifest_v2_url(manifest_id: str) -> str:
    return f"{manifest_id}/v2"


def search_service_v1(manifest_id: str) -> dict:
    """Content Search 1.0 with its autocomplete, as Search 1.0 describes it (plus @type,
    which Presentation 3 asks of older services). Stock Mirador 4 and UV 4.4 find it by
    its profile."""
    return {
        "@context": SEARCH1_CONTEXT,
        "@id": search_url(manifest_id, 1),
        "@type": "SearchService1",
        "profile": SEARCH1_PROFILE,
        "service": [{
            "@id": autocomplete_url(manifest_id, 1),
            "@type": "AutoCompleteService1",
            "profile": AUTOCOMPLETE1_PROFILE,
        }],
    }


def search_service_v2(manifest_id: str) -> dict:
    """Content Search 2.0 with its autocomplete (section 3 of the 2.0 spec)."""
    return {
        "id": search_url(manifest_id, 2),
        "type": "SearchService2",
        "service": [{"id": autocomplete_url(manifest_id, 2), "type": "AutoCompleteService2"}],
    }


def search_services(manifest_id: str) -> list[dict]:
    """The `service` entries of a Presentation 3 manifest."""
    return [search_service_v1(manifest_id), search_service_v2(manifest_id)]


RECORD_LABELS = {
    "edm": {"nl": ["Beschrijving in EDM (Europeana Data Model)"],
            "en": ["Description in EDM (Europeana Data Model)"]},
    "jsonld": {"nl": ["Beschrijving in Dublin Core en schema.org"],
               "en": ["Description in Dublin Core and schema.org"]},
}


def see_also(manifest_id: str) -> list[dict]:
    """The machine-readable records of the item (`seeAlso` of a Presentation 3 manifest,
    and of the objects in Change Discovery activities)."""
    return [
        {"id": edm_url(manifest_id), "type": "Dataset", "label": RECORD_LABELS["edm"],
         "format": EDM_FORMAT, "profile": EDM_NAMESPACE},
        {"id": jsonld_url(manifest_id), "type": "Dataset", "label": RECORD_LABELS["jsonld"],
         "format": JSONLD_FORMAT, "profile": SCHEMA_ORG},
    ]
