"""IIIF Content State API 1.0: encoding, decoding and reading targets."""

from __future__ import annotations

import base64
import json

import pytest

from beeldpost.presentation.content_state import (
    ContentStateError,
    Target,
    decode,
    encode,
    region_state,
    target_of,
)

# The example of the Content State API 1.0, section 6.3, and its encoded form.
SPEC_JSON = ('{"id":"https://example.org/object1/canvas7#xywh=1000,2000,1000,2000","type":"Canvas",'
             '"partOf":[{"id":"https://example.org/object1/manifest","type":"Manifest"}]}')
SPEC_ENCODED = (
    "JTdCJTIyaWQlMjIlM0ElMjJodHRwcyUzQSUyRiUyRmV4YW1wbGUub3JnJTJGb2JqZWN0MSUyRmNhbnZhczclMjN4eXdoJTNE"
    "MTAwMCUyQzIwMDAlMkMxMDAwJTJDMjAwMCUyMiUyQyUyMnR5cGUlMjIlM0ElMjJDYW52YXMlMjIlMkMlMjJwYXJ0T2YlMjIl"
    "M0ElNUIlN0IlMjJpZCUyMiUzQSUyMmh0dHBzJTNBJTJGJTJGZXhhbXBsZS5vcmclMkZvYmplY3QxJTJGbWFuaWZlc3QlMjIl"
    "MkMlMjJ0eXBlJTIyJTNBJTIyTWFuaWZlc3QlMjIlN0QlNUQlN0Q"
)
MANIFEST = "https://example.org/object1/manifest"
CANVAS = "https://example.org/object1/canvas7"


def test_encoding_matches_the_specs_example():
    assert encode(SPEC_JSON) == SPEC_ENCODED
    assert decode(SPEC_ENCODED) == json.loads(SPEC_JSON)


def test_the_encoding_is_url_safe_and_unpadded():
    state = region_state(MANIFEST, CANVAS, (1, 2, 3, 4))
    for extra in range(4):  # every padding length
        state["label"] = "é" * extra + "“x”"
        encoded = encode(state)
        assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert decode(encoded) == state


def test_lenient_forms_are_accepted():
    plain_base64url = base64.urlsafe_b64encode(SPEC_JSON.encode()).decode()
    assert decode(plain_base64url) == json.loads(SPEC_JSON)  # padded, not URI-encoded
    assert decode(plain_base64url.rstrip("=")) == json.loads(SPEC_JSON)
    assert decode(SPEC_JSON) == json.loads(SPEC_JSON)  # unencoded JSON
    assert decode(f" {MANIFEST} ") == MANIFEST  # a plain URI is never encoded


@pytest.mark.parametrize("value, words", [
    ("", "empty"),
    ("not base64!", "neither"),
    ("abcde", "wrong length"),
    (encode("[1, 2]"), "not a JSON object"),
    (encode("{nope"), "not valid JSON"),
    ("A" * 9000, "longer"),
])
def test_unreadable_values_say_why(value, words):
    with pytest.raises(ContentStateError, match=words):
        decode(value)


def test_targets():
    assert target_of(json.loads(SPEC_JSON)) == Target(MANIFEST, CANVAS, (1000, 2000, 1000, 2000))
    annotation = region_state(MANIFEST, CANVAS, (10, 20, 30, 40))
    assert annotation["motivation"] == ["contentState"]
    assert target_of(annotation) == Target(MANIFEST, CANVAS, (10, 20, 30, 40))
    assert target_of(region_state(MANIFEST, CANVAS, None)) == Target(MANIFEST, CANVAS)
    assert target_of({"id": MANIFEST, "type": "Manifest"}) == Target(MANIFEST)
    assert target_of(MANIFEST) == Target(MANIFEST)
    assert target_of(f"{CANVAS}#xywh=percent:10,10,50,50") == Target(
        None, CANVAS, (10, 10, 50, 50), percent=True)
    specific = {"type": "Annotation", "motivation": "contentState", "target": {
        "type": "SpecificResource",
        "source": {"id": CANVAS, "type": "Canvas", "partOf": [{"id": MANIFEST, "type": "Manifest"}]},
        "selector": {"type": "FragmentSelector", "value": "xywh=pixel:5,6,7,8"},
    }}
    assert target_of(specific) == Target(MANIFEST, CANVAS, (5, 6, 7, 8))
    specific["target"]["selector"] = {"type": "BoxSelector", "x": 1, "y": 2, "width": 3, "height": 4}
    assert target_of(specific) == Target(MANIFEST, CANVAS, (1, 2, 3, 4))


@pytest.mark.parametrize("state, words", [
    ({"type": "Annotation", "motivation": "commenting", "target": CANVAS}, "motivation"),
    ({"type": "Annotation", "motivation": ["contentState"], "target": []}, "no target"),
    ({"id": "x", "type": "Range"}, "Range"),
    ({"id": f"{CANVAS}#t=1,2", "type": "Canvas"}, "xywh"),
    ({"type": "Canvas"}, "no id"),
])
def test_unusable_targets(state, words):
    with pytest.raises(ContentStateError, match=words):
        target_of(state)


def test_pixel_regions_are_cut_at_the_canvas():
    assert Target(MANIFEST, CANVAS, (10, 20, 30, 40)).pixel_region(100, 100) == (10, 20, 30, 40)
    assert Target(MANIFEST, CANVAS, (90, 90, 30, 40)).pixel_region(100, 100) == (90, 90, 10, 10)
    assert Target(MANIFEST, CANVAS, (200, 0, 10, 10)).pixel_region(100, 100) is None
    assert Target(MANIFEST, CANVAS, (50, 50, 50, 50), percent=True).pixel_region(200, 100) == (100, 50, 100, 50)
    assert Target(MANIFEST, CANVAS).pixel_region(100, 100) is None
