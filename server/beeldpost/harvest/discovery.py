"""IIIF Change Discovery API 1.0 (level 2) over HTTP, from the activity journal.

    /iiif/discovery                 OrderedCollection: totalItems, first and last page
    /iiif/discovery/page/{n}        OrderedCollectionPage n (from 0), oldest activity first
    /iiif/discovery/activity/{n}    one Activity (its id)

Every Create, Update and Delete names its object (the top Collection, an item's
Presentation 3 manifest, or its Presentation 2.1 variant) with `canonical` (the
Presentation 3 URL, the same for both variants) and, for manifests, `seeAlso` links
to the item's EDM and JSON-LD records. Answers are always
`application/ld+json;profile="…/discovery/1/context.json"`. Before answering, the
records are compared with the journal (at most once per BEELDPOST_JOURNAL_INTERVAL
seconds), so a change shows up without anything else running.

An activity names a manifest and its records, never an image or a thumbnail, so the
activities of an item the public may see nothing of are as anyone's: what they lead
to leaves the image out (the manifest's image answers 401; the EDM and JSON-LD
records have no link to it, edm.py). The day a closure ends is journalled as an
Update (journal.fingerprint_of).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g

from ..catalogue.journal import COLLECTION, MANIFEST_2, Activity, Journal
from ..errors import NotFound
from ..http.responses import base_url, content_response, json_body
from ..presentation.links import manifest_v2_url, see_also
from ..presentation.manifests import Urls

CONTEXT = "http://iiif.io/api/discovery/1/context.json"
MEDIA_TYPE = f'application/ld+json;profile="{CONTEXT}"'
# Harvesters poll; each poll is a cheap 304 while nothing changed.
MAX_AGE = 0


def _journal() -> Journal:
    return current_app.extensions["beeldpost.journal"]


def _page_size() -> int:
    return max(1, current_app.config["BEELDPOST"].discovery_page_size)


def collection_url(base: str) -> str:
    return f"{base}/iiif/discovery"


def page_url(base: str, number: int) -> str:
    return f"{base}/iiif/discovery/page/{number}"


def activity_url(base: str, n: int) -> str:
    return f"{base}/iiif/discovery/activity/{n}"


def activity_object(activity: Activity, urls: Urls) -> dict:
    if activity.kind == COLLECTION:  # the top ('') or a level of the archive ('/path')
        collection = urls.collection_part(activity.item.lstrip("/"))
        return {"id": collection, "type": "Collection", "canonical": collection}
    manifest = urls.manifest(activity.item)
    return {
        "id": manifest_v2_url(manifest) if activity.kind == MANIFEST_2 else manifest,
        "type": "Manifest",
        "canonical": manifest,
        "seeAlso": see_also(manifest),
    }


def activity_document(activity: Activity, base: str) -> dict:
    return {
        "id": activity_url(base, activity.n),
        "type": activity.type,
        "object": activity_object(activity, Urls(base)),
        "endTime": activity.end_time,
    }


def _page_ref(base: str, number: int) -> dict:
    return {"id": page_url(base, number), "type": "OrderedCollectionPage"}


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _answer(document: dict):
    response = content_response(json_body(document), MEDIA_TYPE, MAX_AGE)
    response.vary.add("Accept")
    return response


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("discovery", __name__)

    @blueprint.before_request
    def _fresh():
        g.route = "discovery"
        current_app.extensions["beeldpost.catalogue"].current()

    @blueprint.route("/iiif/discovery", methods=["GET"])
    def collection():
        base = base_url()
        total = _journal().count()
        pages = _pages(total, _page_size())
        return _answer({
            "@context": CONTEXT,
            "id": collection_url(base),
            "type": "OrderedCollection",
            "totalItems": total,
            "first": _page_ref(base, 0),
            "last": _page_ref(base, pages - 1),
        })

    @blueprint.route("/iiif/discovery/page/<int:number>", methods=["GET"])
    def page(number: int):
        base = base_url()
        size = _page_size()
        journal = _journal()
        pages = _pages(journal.count(), size)
        if number >= pages:
            raise NotFound(f"the activity stream has {pages} page(s), numbered from 0; "
                           f"there is no page {number}.")
        document: dict = {
            "@context": CONTEXT,
            "id": page_url(base, number),
            "type": "OrderedCollectionPage",
            "startIndex": number * size,
            "partOf": {"id": collection_url(base), "type": "OrderedCollection"},
        }
        if number > 0:
            document["prev"] = _page_ref(base, number - 1)
        if number < pages - 1:
            document["next"] = _page_ref(base, number + 1)
        document["orderedItems"] = [activity_document(activity, base)
                                    for activity in journal.activities(number * size, size)]
        return _answer(document)

    @blueprint.route("/iiif/discovery/activity/<int:n>", methods=["GET"])
    def activity(n: int):
        found = _journal().activity(n)
        if found is None:
            raise NotFound(f"there is no activity {n}; the stream at /iiif/discovery lists them.")
        return _answer({"@context": CONTEXT, **activity_document(found, base_url())})

    return blueprint
