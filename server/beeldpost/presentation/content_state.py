"""IIIF Content State API 1.0: deep links into an item ("open this photo at this region").

A content state names a manifest, or a canvas of it, optionally with a region
(`canvas#xywh=x,y,w,h`). In a URL it travels as the `iiif-content` query parameter,
*content-state-encoded* (spec section 6): encodeURIComponent of the JSON, then
base64url, then the `=` padding removed. A plain URI (a manifest or canvas id)
travels as it is.

Decoding is lenient in what it accepts, as the spec asks of clients: the encoded
form, base64url of the bare UTF-8 JSON (an encoding some publishers use), unencoded
JSON, and a plain URI. It never fetches anything: a content state that refers to
another server is reported as not ours and the page opens as usual.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

MAX_LENGTH = 8192  # longer parameters are refused unread
_XYWH = re.compile(r"^xywh=(?:(pixel|percent):)?(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


class ContentStateError(ValueError):
    """The parameter is not a content state this server can read; the message says why."""


@dataclass(frozen=True)
class Target:
    """What a content state points at: a manifest, maybe one canvas, maybe a region of it."""

    manifest: str | None
    canvas: str | None = None
    # (x, y, w, h) as given; in pixels, or in percent of the canvas when percent is True
    region: tuple[float, float, float, float] | None = None
    percent: bool = False

    def pixel_region(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The region in whole canvas pixels, cut at the canvas's edges; None when it
        lies outside the canvas or there is none."""
        if self.region is None:
            return None
        x, y, w, h = self.region
        if self.percent:
            x, w = x * width / 100, w * width / 100
            y, h = y * height / 100, h * height / 100
        left, top = max(0, round(x)), max(0, round(y))
        right, bottom = min(width, round(x + w)), min(height, round(y + h))
        if right <= left or bottom <= top:
            return None
        return left, top, right - left, bottom - top


# --------------------------------------------------------------------------- encoding


def encode(content_state: dict | str) -> str:
    """content-state-encode a JSON content state (a dict, or its JSON text)."""
    text = content_state if isinstance(content_state, str) else json.dumps(
        content_state, ensure_ascii=False, separators=(",", ":"))
    # encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) unescaped.
    uri_encoded = quote(text, safe="-_.!~*'()")
    return base64.urlsafe_b64encode(uri_encoded.encode("utf-8")).decode("ascii").rstrip("=")


def decode(value: str) -> dict | str:
    """The content state in an `iiif-content` value: a dict (JSON) or a URI string."""
    value = value.strip()
    if not value:
        raise ContentStateError("the content state is empty")
    if len(value) > MAX_LENGTH:
        raise ContentStateError(f"the content state is longer than {MAX_LENGTH} characters")
    if value.startswith(("http://", "https://")):
        return value
    if value.startswith("{"):
        return _json(value)
    if not _BASE64URL.match(value):
        raise ContentStateError("the content state is neither a URI, JSON nor base64url")
    padded = value.rstrip("=")
    if len(padded) % 4 == 1:
        raise ContentStateError("the content state has the wrong length for base64url")
    padded += "=" * (-len(padded) % 4)
    try:
        text = base64.urlsafe_b64decode(padded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ContentStateError("the content state is not base64url of UTF-8 text") from None
    if not text.lstrip().startswith("{"):  # the spec's encoding: URI-encoded JSON inside
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise ContentStateError("the content state's percent-encoding is not UTF-8") from None
    text = text.strip()
    if text.startswith(("http://", "https://")):
        return text
    return _json(text)


def _json(text: str) -> dict:
    try:
        document = json.loads(text)
    except ValueError:
        raise ContentStateError("the content state is not valid JSON") from None
    if not isinstance(document, dict):
        raise ContentStateError("the content state is not a JSON object")
    return document


# --------------------------------------------------------------------------- reading


def target_of(content_state: dict | str) -> Target:
    """The first target of a decoded content state."""
    if isinstance(content_state, str):
        return _from_uri(content_state, manifest=None)
    node: Any = content_state
    if content_state.get("type") == "Annotation":
        motivation = content_state.get("motivation")
        motivations = motivation if isinstance(motivation, list) else [motivation]
        if "contentState" not in motivations:
            raise ContentStateError("the annotation's motivation is not contentState")
        node = content_state.get("target")
        if isinstance(node, list):
            if not node:
                raise ContentStateError("the annotation has no target")
            node = node[0]
        if isinstance(node, str):
            return _from_uri(node, manifest=None)
    if not isinstance(node, dict):
        raise ContentStateError("the content state's target is not an object")
    return _from_resource(node)


def _from_resource(node: dict) -> Target:
    kind = node.get("type")
    if kind == "Manifest":
        return Target(manifest=_id(node))
    if kind == "SpecificResource":
        source = node.get("source")
        if isinstance(source, str):
            source = {"id": source, "type": "Canvas"}
        if not isinstance(source, dict) or source.get("type") != "Canvas":
            raise ContentStateError("the content state's SpecificResource is not on a canvas")
        target = _from_resource(source)
        selectors = node.get("selector")
        for selector in selectors if isinstance(selectors, list) else [selectors]:
            region = _selector_region(selector)
            if region is not None:
                return Target(target.manifest, target.canvas, region[0], region[1])
        return target
    if kind == "Canvas":
        return _from_uri(_id(node), manifest=_part_of(node))
    raise ContentStateError(f"a content state for a {kind!r} is not supported here")


def _selector_region(selector: Any) -> tuple[tuple[float, ...], bool] | None:
    if not isinstance(selector, dict):
        return None
    if selector.get("type") == "FragmentSelector" and isinstance(selector.get("value"), str):
        return _xywh(selector["value"])
    if selector.get("type") in ("BoxSelector", "ImageApiSelector"):  # UV's and Image API's forms
        try:
            if "region" in selector:
                return _xywh("xywh=" + selector["region"])
            return (tuple(float(selector[k]) for k in ("x", "y", "width", "height")), False)
        except (KeyError, TypeError, ValueError):
            return None
    return None


def _from_uri(uri: str, manifest: str | None) -> Target:
    base, _, fragment = uri.partition("#")
    if not fragment:
        # A bare URI: a manifest, or a canvas when the caller knows its manifest.
        return Target(manifest=manifest or base, canvas=base if manifest else None)
    region = _xywh(fragment)
    if region is None:
        raise ContentStateError(f"the fragment #{fragment} is not an xywh= region")
    return Target(manifest=manifest, canvas=base, region=region[0], percent=region[1])


def _xywh(fragment: str) -> tuple[tuple[float, float, float, float], bool] | None:
    match = _XYWH.match(fragment.strip())
    if not match:
        return None
    unit, *numbers = match.groups()
    x, y, w, h = (float(n) for n in numbers)
    if w <= 0 or h <= 0:
        return None
    return (x, y, w, h), unit == "percent"


def _id(node: dict) -> str:
    identifier = node.get("id") or node.get("@id")
    if not isinstance(identifier, str) or not identifier:
        raise ContentStateError("a resource in the content state has no id")
    return identifier


def _part_of(node: dict) -> str | None:
    parts = node.get("partOf")
    for part in parts if isinstance(parts, list) else [parts]:
        if isinstance(part, dict) and part.get("type") == "Manifest":
            return _id(part)
        if isinstance(part, str):
            return part
    return None


# --------------------------------------------------------------------------- making


def region_state(manifest: str, canvas: str, region: tuple[int, int, int, int] | None) -> dict:
    """The content state Annotation for a canvas (optionally a region of it) of a manifest."""
    target_id = canvas if region is None else f"{canvas}#xywh={','.join(str(n) for n in region)}"
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "type": "Annotation",
        "motivation": ["contentState"],
        "target": {"id": target_id, "type": "Canvas",
                   "partOf": [{"id": manifest, "type": "Manifest"}]},
    }
