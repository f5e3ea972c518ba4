"""Resolving requests against an image: bounds, upscaling, limits, canonical forms."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from beeldpost.errors import BadRequest
from beeldpost.image.operations import Limits, resolve
from beeldpost.image.parameters import parse_image_request

NO_LIMITS = Limits()


def ops(path: str, width=1000, height=800, version=3, limits=NO_LIMITS):
    region, size, rotation, quality_format = path.split("/")
    request = parse_image_request(region, size, rotation, quality_format, version)
    return resolve(request, width, height, limits)


def box(o):
    return (o.x, o.y, o.region_width, o.region_height, o.width, o.height)


@pytest.mark.parametrize(
    "path,expected",
    [
        ("full/max/0/default.jpg", (0, 0, 1000, 800, 1000, 800)),
        ("square/max/0/default.jpg", (100, 0, 800, 800, 800, 800)),
        ("900,700,500,500/max/0/default.jpg", (900, 700, 100, 100, 100, 100)),  # cropped at the edge
        ("pct:10,10,50,50/max/0/default.jpg", (100, 80, 500, 400, 500, 400)),
        ("full/500,/0/default.jpg", (0, 0, 1000, 800, 500, 400)),
        ("full/,400/0/default.jpg", (0, 0, 1000, 800, 500, 400)),
        ("full/!500,500/0/default.jpg", (0, 0, 1000, 800, 500, 400)),
        ("full/pct:25/0/default.jpg", (0, 0, 1000, 800, 250, 200)),
        ("full/300,300/0/default.jpg", (0, 0, 1000, 800, 300, 300)),
        ("full/^2000,/0/default.jpg", (0, 0, 1000, 800, 2000, 1600)),
        ("full/^!2000,2000/0/default.jpg", (0, 0, 1000, 800, 2000, 1600)),
        ("0,0,3,3/^max/0/default.jpg", (0, 0, 3, 3, 3, 3)),
        ("full/1,/0/default.jpg", (0, 0, 1000, 800, 1, 1)),  # never rounds to zero
    ],
)
def test_resolution(path, expected):
    assert box(ops(path)) == expected


@pytest.mark.parametrize(
    "path",
    [
        "1000,0,10,10/max/0/default.jpg",  # wholly outside (right)
        "0,800,10,10/max/0/default.jpg",  # wholly outside (below)
        "full/1001,/0/default.jpg",  # upscale without ^
        "full/,801/0/default.jpg",
        "full/1000,801/0/default.jpg",
        "full/!2000,3000/0/default.jpg",  # best fit would upscale
        "0,0,10,10/20,/0/default.jpg",
    ],
)
def test_refused_in_3_0(path):
    with pytest.raises(BadRequest):
        ops(path)


def test_2_1_allows_upscaling_and_full():
    assert box(ops("full/full/0/default.jpg", version=2)) == (0, 0, 1000, 800, 1000, 800)
    assert box(ops("full/2000,/0/default.jpg", version=2)) == (0, 0, 1000, 800, 2000, 1600)


def test_limits_shrink_max_and_refuse_larger_sizes():
    limits = Limits(max_width=500)
    assert box(ops("full/max/0/default.jpg", limits=limits)) == (0, 0, 1000, 800, 500, 400)
    assert box(ops("full/^max/0/default.jpg", limits=limits)) == (0, 0, 1000, 800, 500, 400)
    with pytest.raises(BadRequest, match="maxWidth 500"):
        ops("full/600,/0/default.jpg", limits=limits)
    area = Limits(max_area=10_000)
    small = ops("full/max/0/default.jpg", limits=area)
    assert small.width * small.height <= 10_000
    assert abs(small.width / small.height - 1000 / 800) < 0.02


def test_canonical_paths():
    assert ops("full/max/0/default.jpg").canonical_path(3) == "full/max/0/default.jpg"
    assert ops("pct:0,0,100,100/1000,/0/default.png").canonical_path(3) == "full/max/0/default.png"
    assert ops("0,0,10,10/5,/!90/gray.jpg").canonical_path(3) == "0,0,10,10/5,5/!90/gray.jpg"
    assert ops("full/^2000,/22.50/default.jpg").canonical_path(3) == "full/^2000,1600/22.5/default.jpg"
    assert ops("full/500,/0/default.jpg", version=2).canonical_path(2) == "full/500,/0/default.jpg"
    assert ops("full/full/0/default.jpg", version=2).canonical_path(2) == "full/full/0/default.jpg"
    # 2.1: `w,` only when it means the same size; a distorted size keeps both numbers.
    assert ops("full/500,400/0/default.jpg", version=2).canonical_path(2) == "full/500,/0/default.jpg"
    assert ops("full/500,300/0/default.jpg", version=2).canonical_path(2) == "full/500,300/0/default.jpg"


sizes = st.integers(1, 20_000)


@given(
    st.integers(1, 20_000), st.integers(1, 20_000),
    st.integers(0, 25_000), st.integers(0, 25_000), sizes, sizes,
    st.one_of(st.just("max"), sizes.map(lambda w: f"{w},"), sizes.map(lambda h: f",{h}"),
              st.tuples(sizes, sizes).map(lambda t: f"!{t[0]},{t[1]}")),
    st.sampled_from([2, 3]),
)
def test_resolved_operations_stay_in_bounds(width, height, x, y, w, h, size, version):
    try:
        o = ops(f"{x},{y},{w},{h}/{size}/0/default.jpg", width, height, version, Limits(max_area=10**8))
    except BadRequest:
        return
    assert 0 <= o.x < width and 0 <= o.y < height
    assert 1 <= o.region_width <= width - o.x and 1 <= o.region_height <= height - o.y
    assert o.width >= 1 and o.height >= 1 and o.width * o.height <= 10**8
    if version == 3:
        assert o.width <= o.region_width and o.height <= o.region_height


OUTPUT_SIZES = st.one_of(
    st.integers(1, 5000).map(lambda w: f"{w},"), st.integers(1, 5000).map(lambda h: f",{h}"),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)).map(lambda t: f"{t[0]},{t[1]}"),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)).map(lambda t: f"!{t[0]},{t[1]}"),
    st.integers(1, 100).map(lambda p: f"pct:{p}"),
)


@given(st.integers(2, 5000), st.integers(2, 5000), st.integers(0, 4999), st.integers(0, 4999),
       sizes, sizes, OUTPUT_SIZES, st.sampled_from([2, 3]))
def test_the_canonical_form_resolves_to_the_same_operations(width, height, x, y, w, h, out, version):
    assume(x < width and y < height)
    try:
        first = ops(f"{x},{y},{w},{h}/{out}/!90/gray.png", width, height, version)
    except BadRequest:
        return
    again = ops(first.canonical_path(version), width, height, version)
    assert box(again) == box(first)
    assert again.canonical_path(version) == first.canonical_path(version)
