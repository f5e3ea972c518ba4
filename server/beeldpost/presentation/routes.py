"""Presentation API 3.0 over HTTP: the collection, each item's manifest and parts, transcripts.

Same HTTP rules as the image API (CORS, HEAD, ETag/304, JSON-LD when asked,
plain-text errors). Documents are built from the records on every request, so an
edited record is served at once; the ETag is the hash of what is served, so it
changes exactly when the document does. The URL layout is in manifests.py.

The transcript of an item whose tier in force today is staff (closed, or staff only:
manifests.shows_transcript) is not public: its manifest leaves it out, and its own
URLs (transcript.txt and .html, the transcript annotation page and its annotations,
in Presentation 3 and 2.1) answer 401 with a short text saying so, as a withheld
image does. Its other parts, and its manifest, are served as ever.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request

from ..catalogue import hierarchy
from ..catalogue.records import Record
from ..catalogue.store import Catalogue
from ..catalogue.transcripts import transcript_html, transcript_text
from ..errors import NotFound, NotPublic
from ..http import cdn
from ..http.cdn import image_tag, item_tag
from ..http.negotiation import presentation_version
from ..http.responses import base_url, content_response, json_body, json_ld_response
from ..image.service import ImageService
from .manifests import (
    CONTEXT,
    ImageFacts,
    Urls,
    build_level,
    build_manifest,
    node_label,
    find_part,
    shows_transcript,
)
from .manifests_v2 import CONTEXT as CONTEXT_2
from .manifests_v2 import build_annotation_list
from .manifests_v2 import build_manifest as manifest_v2

log = logging.getLogger(__name__)

# Clients revalidate every time (a cheap 304 thanks to the ETag): records are edited
# while the server runs, and an archivist's fix must show up at once.
PRESENTATION_MAX_AGE = 0


def _catalogue() -> Catalogue:
    return current_app.extensions["beeldpost.catalogue"]


def _images() -> ImageService:
    return current_app.extensions["beeldpost.images"]


def manifest_document(item: str) -> tuple[Record, dict]:
    catalogue = _catalogue()
    record = catalogue.record(item)
    cdn.tag(item_tag(item), image_tag(record.image))  # a CDN purges them by these
    urls = Urls(base_url())
    part_of = None
    entry = catalogue.entry(item)
    if entry is not None and entry.node:
        node = catalogue.node(entry.node)
        if node is not None:
            part_of = (urls.collection_part(node.path), node_label(node))
    return record, build_manifest(record, ImageFacts.for_item(_images(), record, entry), urls,
                                  part_of)


def collection_document(segments: list[str]) -> dict:
    """The Collection at /iiif/collection/{segments}: a level of the archive or a slice."""
    parsed = hierarchy.parse_segments(segments)
    catalogue = _catalogue()
    if parsed is None:
        raise NotFound(f"no collection {'/'.join(segments)!r}; /iiif/collection lists them.")
    path, part = "/".join(parsed[0]), parsed[1]
    base = base_url()

    def build() -> dict:
        level = catalogue.level(path, part)
        if level is None:
            raise NotFound(f"no collection {'/'.join(segments)!r}; /iiif/collection lists them.")
        images = _images()

        def thumbnail_of(item: str | None):
            entry = catalogue.entry(item) if item else None
            return ImageFacts.of_entry(images, entry) if entry is not None else None

        return build_level(level, Urls(base), lambda entry: ImageFacts.of_entry(images, entry),
                           thumbnail_of)

    return build()


def collection_json(segments: list[str]) -> bytes:
    """The same, as served: kept written while the catalogue stays the same (a level of
    1,000 members is built and written once: 700 KB of JSON)."""
    return _catalogue().kept(("collection", base_url(), tuple(segments)),
                             lambda: json_body(collection_document(segments)))


def _json(document: dict | bytes):
    return json_ld_response(document, CONTEXT, PRESENTATION_MAX_AGE)


def _json_2(document: dict):
    return json_ld_response(document, CONTEXT_2, PRESENTATION_MAX_AGE)


def _text(body: str, mimetype: str):
    return content_response(body, mimetype, PRESENTATION_MAX_AGE)


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("presentation", __name__)

    @blueprint.route("/iiif/collection", methods=["GET"])
    def collection():
        return _json(collection_json([]))

    @blueprint.route("/iiif/collection/<path:segments>", methods=["GET"])
    def collection_level(segments: str):
        return _json(collection_json(segments.split("/")))

    @blueprint.route("/iiif/manifests/<item>", methods=["GET"])
    def manifest(item: str):
        _record, document = manifest_document(item)
        if presentation_version(request.headers.get("Accept", "")) == 2:
            return _json_2(manifest_v2(document))
        return _json(document)

    @blueprint.route("/iiif/manifests/<item>/v2", methods=["GET"])
    def manifest_2(item: str):
        _record, document = manifest_document(item)
        return _json_2(manifest_v2(document))

    @blueprint.route("/iiif/manifests/<item>/v2/annotations/<page>", methods=["GET"])
    def annotation_list_2(item: str, page: str):
        record, document = manifest_document(item)
        found = build_annotation_list(document, page)
        if found is None:
            _withheld_transcript(record, page == TRANSCRIPT_PAGE)
            raise NotFound(f"the item {item!r} has no annotation list {page!r}.")
        return _json_2(found)

    @blueprint.route("/iiif/manifests/<item>/<path:part>", methods=["GET"])
    def manifest_part(item: str, part: str):
        record, document = manifest_document(item)
        found = find_part(document, f"{document['id']}/{part}")
        if found is None:
            _withheld_transcript(record, part == TRANSCRIPT_PART
                                 or part.startswith(f"{TRANSCRIPT_PART}/"))
            raise NotFound(f"the manifest of {item!r} has no part {part!r}.")
        return _json(found)

    @blueprint.route("/items/<item>/transcript.txt", methods=["GET"])
    def transcript_as_text(item: str):
        return _text(transcript_text(_with_transcript(item)), "text/plain; charset=utf-8")

    @blueprint.route("/items/<item>/transcript.html", methods=["GET"])
    def transcript_as_html(item: str):
        return _text(transcript_html(_with_transcript(item)), "text/html; charset=utf-8")

    return blueprint


def _with_transcript(item: str) -> Record:
    record = _catalogue().record(item)
    cdn.tag(item_tag(item), image_tag(record.image))
    if record.transcript is None:
        raise NotFound(f"the item {item!r} has no transcript.")
    _withheld_transcript(record)
    return record


# The transcript's annotation page, under the manifest and under its 2.1 form.
TRANSCRIPT_PAGE = "transcript"
TRANSCRIPT_PART = f"annotations/{TRANSCRIPT_PAGE}"


def _withheld_transcript(record: Record, asked: bool = True) -> None:
    """401 when `asked` is for the record's transcript and that is not public today."""
    if asked and record.transcript is not None and not shows_transcript(record):
        raise NotPublic(f"the transcript of {record.item!r} is not public: its record "
                        "allows it only to staff (or it is closed until a date); the "
                        "item's description is public in its manifest.")
