"""Thin HTTP layers for Image API 3.0 (/iiif/3) and 2.1 (/iiif/2).

One blueprint per version, made by the same factory: the versions differ only in
their grammar (parsed with the version number), their info.json and their
profile URIs. Everything else is the ImageService's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, request

from .conditional import current_tag
from .errors import BadRequest, NotFound
from .images import ImageService, ResolvedImage
from .info import CONTEXT_2, CONTEXT_3, PROFILE_2, PROFILE_3, info_v2, info_v3
from .parameters import FORMATS, parse_image_request
from .responses import (
    base_url,
    cached_response,
    http_date,
    json_ld_response,
    raw_path_segments,
)


@dataclass(frozen=True)
class ApiVersion:
    number: int
    prefix: str
    context: str
    profile: str
    build_info: Callable[..., dict]


VERSION_3 = ApiVersion(3, "/iiif/3", CONTEXT_3, PROFILE_3, info_v3)
VERSION_2 = ApiVersion(2, "/iiif/2", CONTEXT_2, PROFILE_2, info_v2)


def service_id(version: ApiVersion, identifier: str) -> str:
    """The image service's base URI as clients must use it (identifier escaped)."""
    return service_url(base_url(), version, identifier)


def service_url(base: str, version: ApiVersion, identifier: str) -> str:
    return f"{base}{version.prefix}/{quote(identifier, safe='')}"


def info_document(version: ApiVersion, images: ImageService, resolved: ResolvedImage,
                  service: str, rights: str | None) -> dict:
    """The image's info.json for `version` (shared with fast_path.py)."""
    arguments = dict(
        service_id=service,
        width=resolved.width,
        height=resolved.height,
        tile_size=images.settings.tile_size,
        limits=resolved.limits,
    )
    if version.number == 3:
        arguments["rights"] = rights
    return version.build_info(**arguments)


def _images() -> ImageService:
    return current_app.extensions["beeldpost.images"]


def make_blueprint(version: ApiVersion) -> Blueprint:
    blueprint = Blueprint(f"iiif{version.number}", __name__, url_prefix=version.prefix)

    @blueprint.route("/<path:rest>", methods=["GET"])
    def dispatch(rest: str):
        segments = raw_path_segments(version.prefix)
        if segments is None:
            raise NotFound("the identifier is not valid UTF-8 once decoded.")
        if len(segments) == 1 or (len(segments) == 2 and segments[1] == ""):
            g.route = f"iiif{version.number}.redirect"
            return base_uri(segments[0])
        if len(segments) == 2 and segments[1] == "info.json":
            g.route = f"iiif{version.number}.info"
            return info(segments[0])
        if len(segments) == 5:
            g.route = f"iiif{version.number}.image"
            return image(*segments)
        if len(segments) in (3, 4):
            raise BadRequest(
                "an image request needs {identifier}/{region}/{size}/{rotation}/{quality}.{format}."
            )
        # More segments: an identifier with unescaped slashes, which names nothing here.
        raise NotFound("no such image (identifiers containing '/' must be escaped as %2F).")

    def base_uri(identifier: str):
        _images().resolve(identifier)  # 404 for unknown identifiers
        target = f"{service_id(version, identifier)}/info.json"
        response = Response(f"303 See Other: {target}\n", status=303, mimetype="text/plain")
        response.headers["Location"] = target
        return response

    def info(identifier: str):
        images = _images()
        resolved = images.resolve(identifier)
        rights = images.rights(identifier) if version.number == 3 else None
        document = info_document(version, images, resolved, service_id(version, identifier), rights)
        return json_ld_response(
            document,
            version.context,
            images.settings.info_max_age,
            last_modified=http_date(resolved.source.mtime_ns),
            headers={"Link": f'<{version.profile}>;rel="profile"'},
        )

    def image(identifier: str, region: str, size: str, rotation: str, quality_format: str):
        # Grammar first: garbage is refused without touching the disk.
        parsed = parse_image_request(region, size, rotation, quality_format, version.number)
        images = _images()
        resolved = images.resolve(identifier)
        ops = images.operations(resolved, parsed)
        canonical_path = ops.canonical_path(version.number)
        canonical = f"{service_id(version, identifier)}/{canonical_path}"
        etag = images.etag(resolved, canonical_path)
        last_modified = http_date(resolved.source.mtime_ns)
        headers = {
            "Link": f'<{canonical}>;rel="canonical", <{version.profile}>;rel="profile"',
        }
        # A 304 costs no render. HEAD renders like GET so Content-Length is true.
        body = None
        if current_tag(request.environ, (etag,), last_modified) is None:
            body, headers["X-Beeldpost-Cache"] = images.image_bytes(resolved, ops, etag)
        return cached_response(
            body, FORMATS[ops.format], etag, last_modified,
            images.settings.cache_max_age, headers,
        )

    return blueprint
