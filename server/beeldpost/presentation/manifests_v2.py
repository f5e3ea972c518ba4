"""Presentation API 2.1 versions of the manifests, for older harvesters and viewers.

Each is derived from the item's Presentation 3 manifest as served, so both say the
same thing: the same canvas and annotation ids (annotations and search hits target
the one canvas whichever version a viewer loaded), the Image API 2.1 service, the
credit as `attribution`, the rights URI as `license`, the item page as `related`,
the records as `seeAlso`, and the Content Search 1.0 service.

    /iiif/manifests/{item}/v2                        sc:Manifest
    /iiif/manifests/{item}/v2/annotations/{page}     sc:AnnotationList (transcript, people,
                                                     caption), linked as otherContent
    /iiif/manifests/{item} with Accept: application/ld+json;profile=
        "http://iiif.io/api/presentation/2/context.json"    the same 2.1 manifest
"""

from __future__ import annotations

from typing import Any

from ..image.info import CONTEXT_2 as IMAGE_CONTEXT_2
from ..image.info import PROFILE_2 as IMAGE_PROFILE_2
from .links import manifest_v2_url, search_service_v1

CONTEXT = "http://iiif.io/api/presentation/2/context.json"
MOTIVATIONS = {"painting": "sc:painting", "commenting": "oa:commenting",
               "tagging": "oa:tagging", "describing": "oa:describing", "linking": "oa:linking"}


# --------------------------------------------------------------------------- values


def values(language_map: dict[str, list[str]] | None) -> Any:
    """A Presentation 3 language map as a 2.1 value: one plain string when every
    language says the same (names), else @value/@language pairs."""
    if not language_map:
        return ""
    flat = [value for entries in language_map.values() for value in entries]
    if len(set(flat)) == 1 and all(len(entries) == 1 for entries in language_map.values()):
        return flat[0]
    return [{"@value": value, "@language": language}
            for language, entries in language_map.items() for value in entries]


def _image_service(service_id: str) -> dict:
    return {"@context": IMAGE_CONTEXT_2, "@id": service_id, "profile": IMAGE_PROFILE_2}


def _service_2(body: dict) -> str:
    for service in body.get("service", []):
        if service.get("@type") == "ImageService2":
            return service["@id"]
    raise ValueError("the image has no Image API 2 service")


# --------------------------------------------------------------------------- documents


def annotation_list_id(manifest_v3: dict, page: str) -> str:
    return f"{manifest_v2_url(manifest_v3['id'])}/annotations/{page}"


def _pages(canvas: dict) -> list[dict]:
    return canvas.get("annotations", []) or []


def build_manifest(manifest_v3: dict) -> dict:
    manifest_id = manifest_v3["id"]
    [canvas] = manifest_v3["items"]
    [painting] = canvas["items"][0]["items"]
    body = painting["body"]
    service_2 = _service_2(body)

    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": manifest_v2_url(manifest_id),
        "@type": "sc:Manifest",
        "label": values(manifest_v3["label"]),
    }
    if "summary" in manifest_v3:
        document["description"] = values(manifest_v3["summary"])
    document["metadata"] = [{"label": values(pair["label"]), "value": values(pair["value"])}
                            for pair in manifest_v3.get("metadata", [])]
    if "requiredStatement" in manifest_v3:
        document["attribution"] = values(manifest_v3["requiredStatement"]["value"])
    if "rights" in manifest_v3:
        document["license"] = manifest_v3["rights"]
    if "navDate" in manifest_v3:
        document["navDate"] = manifest_v3["navDate"]
    if manifest_v3.get("thumbnail"):
        thumbnail = manifest_v3["thumbnail"][0]
        document["thumbnail"] = {
            "@id": f"{service_2}/full/{thumbnail['width']},{thumbnail['height']}/0/default.jpg",
            "@type": "dctypes:Image",
            "format": thumbnail.get("format", "image/jpeg"),
            "width": thumbnail["width"],
            "height": thumbnail["height"],
            "service": _image_service(service_2),
        }
    related = [{"@id": page["id"], "format": page.get("format", "text/html"),
                "label": values(page.get("label"))} for page in manifest_v3.get("homepage", [])]
    for provider in manifest_v3.get("provider", []):
        related.extend({"@id": page["id"], "format": page.get("format", "text/html"),
                        "label": values(page.get("label"))} for page in provider.get("homepage", []))
    if related:
        document["related"] = related
    if manifest_v3.get("rendering"):
        document["rendering"] = [{"@id": rendering["id"], "format": rendering["format"],
                                  "label": values(rendering.get("label"))}
                                 for rendering in manifest_v3["rendering"]]
    if manifest_v3.get("seeAlso"):
        document["seeAlso"] = [{"@id": record["id"], "format": record["format"],
                                "profile": record["profile"], "label": values(record.get("label"))}
                               for record in manifest_v3["seeAlso"]]
    document["service"] = search_service_v2_manifest(manifest_id)
    document["sequences"] = [{
        "@id": f"{manifest_v2_url(manifest_id)}/sequence/normal",
        "@type": "sc:Sequence",
        "label": "Current order",
        "viewingDirection": "left-to-right",
        "canvases": [_canvas(manifest_v3, canvas, painting, body, service_2)],
    }]
    return document


def search_service_v2_manifest(manifest_id: str) -> dict:
    """Search 1.0 as a 2.1 manifest declares it: @context, @id and profile (no @type)."""
    service = search_service_v1(manifest_id)
    service.pop("@type")
    autocomplete = {key: value for key, value in service["service"][0].items() if key != "@type"}
    service["service"] = {"@context": service["@context"], **autocomplete}
    return service


def _canvas(manifest_v3: dict, canvas: dict, painting: dict, body: dict, service_2: str) -> dict:
    document = {
        "@id": canvas["id"],
        "@type": "sc:Canvas",
        "label": values(canvas["label"]),
        "width": canvas["width"],
        "height": canvas["height"],
        "images": [{
            "@id": painting["id"],
            "@type": "oa:Annotation",
            "motivation": "sc:painting",
            "resource": {
                "@id": f"{service_2}/full/max/0/default.jpg",
                "@type": "dctypes:Image",
                "format": body.get("format", "image/jpeg"),
                "width": body["width"],
                "height": body["height"],
                "service": _image_service(service_2),
            },
            "on": canvas["id"],
        }],
    }
    lists = [{"@id": annotation_list_id(manifest_v3, page["id"].rsplit("/", 1)[1]),
              "@type": "sc:AnnotationList", "label": values(page.get("label"))}
             for page in _pages(canvas)]
    if lists:
        document["otherContent"] = lists
    return document


def annotation_v2(annotation: dict) -> dict:
    """A Presentation 3 annotation with a textual body in Open Annotation form."""
    body = annotation["body"]
    resource = {"@type": "cnt:ContentAsText", "chars": body["value"],
                "format": body.get("format", "text/plain")}
    if "language" in body:
        resource["language"] = body["language"]
    document = {
        "@id": annotation["id"],
        "@type": "oa:Annotation",
        "motivation": MOTIVATIONS.get(annotation["motivation"], annotation["motivation"]),
    }
    if annotation.get("label"):
        document["label"] = values(annotation["label"])
    document["resource"] = resource
    document["on"] = annotation["target"]
    return document


def build_annotation_list(manifest_v3: dict, page: str) -> dict | None:
    [canvas] = manifest_v3["items"]
    for found in _pages(canvas):
        if found["id"].rsplit("/", 1)[1] == page:
            return {
                "@context": CONTEXT,
                "@id": annotation_list_id(manifest_v3, page),
                "@type": "sc:AnnotationList",
                "label": values(found.get("label")),
                "resources": [annotation_v2(annotation) for annotation in found["items"]],
            }
    return None
