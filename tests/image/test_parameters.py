"""The URL grammar of both versions: unit cases and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from beeldpost.errors import BadRequest, BeeldpostError, NotImplementedFeature
from beeldpost.image.parameters import (
    Region,
    Rotation,
    Size,
    parse_image_request,
    parse_quality_format,
    parse_region,
    parse_rotation,
    parse_size,
)

numbers = st.integers(min_value=1, max_value=10**6)
percent = st.floats(min_value=0.01, max_value=99.99, allow_nan=False).map(lambda v: f"{v:.2f}")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("full", Region("full")),
        ("square", Region("square")),
        ("0,0,10,20", Region("pixels", 0, 0, 10, 20)),
        ("pct:10,20.5,30,40", Region("percent", 10, 20.5, 30, 40)),
        ("pct:.5,0,50,50", Region("percent", 0.5, 0, 50, 50)),
    ],
)
def test_valid_regions(text, expected):
    assert parse_region(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "Full", "0,0,10", "0,0,0,10", "0,0,10,0", "-1,0,10,10", "0,0,10,10,", "1.5,0,10,10",
     "pct:0,0,0,5", "pct:100,0,5,5", "pct:,1,2,3", "pct:1e3,0,5,5", " 0,0,1,1", "0x10,0,1,1",
     "square ", "max", "0,0,10,10" + "0" * 200],
)
def test_invalid_regions(text):
    with pytest.raises(BadRequest):
        parse_region(text)


@pytest.mark.parametrize(
    "text,version,expected",
    [
        ("max", 3, Size("max")),
        ("^max", 3, Size("max", upscale=True)),
        ("max", 2, Size("max")),
        ("full", 2, Size("full")),
        ("100,", 3, Size("w", width=100)),
        (",100", 3, Size("h", height=100)),
        ("100,50", 3, Size("wh", 100, 50)),
        ("!100,50", 3, Size("confined", 100, 50)),
        ("^!100,50", 3, Size("confined", 100, 50, upscale=True)),
        ("pct:50", 3, Size("pct", percent=50)),
        ("^pct:150", 3, Size("pct", percent=150, upscale=True)),
        ("pct:150", 2, Size("pct", percent=150)),
    ],
)
def test_valid_sizes(text, version, expected):
    assert parse_size(text, version) == expected


@pytest.mark.parametrize(
    "text,version",
    [
        ("full", 3),  # replaced by max in 3.0
        ("^100,", 2),  # ^ is 3.0 only
        ("pct:150", 3),  # upscaling needs ^ in 3.0
        ("pct:0", 3), ("0,", 3), (",0", 3), ("0,0", 3), ("!0,10", 3),
        (",", 3), ("!100,", 3), ("!,100", 3), ("^", 3), ("^^max", 3), ("-5,", 3),
        ("100,100,", 3), ("max ", 2), ("pct:-5", 2), ("10.5,", 3), ("FULL", 2),
    ],
)
def test_invalid_sizes(text, version):
    with pytest.raises(BadRequest):
        parse_size(text, version)


@pytest.mark.parametrize(
    "text,expected",
    [("0", Rotation(0, False)), ("90", Rotation(90, False)), ("!0", Rotation(0, True)),
     ("22.5", Rotation(22.5, False)), ("360", Rotation(0, False)), ("!180.0", Rotation(180, True))],
)
def test_valid_rotations(text, expected):
    assert parse_rotation(text) == expected


@pytest.mark.parametrize("text", ["", "-90", "360.5", "361", "!!90", "90!", "1e2", "abc", "9 0"])
def test_invalid_rotations(text):
    with pytest.raises(BadRequest):
        parse_rotation(text)


def test_quality_and_format():
    assert parse_quality_format("default.jpg") == ("default", "jpg")
    assert parse_quality_format("gray.png") == ("gray", "png")
    with pytest.raises(BadRequest, match="Quality"):
        parse_quality_format("grey.jpg")
    with pytest.raises(BadRequest, match="format"):
        parse_quality_format("default")
    with pytest.raises(BadRequest, match="Format"):
        parse_quality_format("default.bmp")
    with pytest.raises(NotImplementedFeature):
        parse_quality_format("default.jp2")


def test_the_first_bad_segment_is_named():
    with pytest.raises(BadRequest, match="Region"):
        parse_image_request("nope", "nope", "nope", "nope", 3)
    with pytest.raises(BadRequest, match="Rotation"):
        parse_image_request("full", "max", "nope", "default.jp2", 3)


# --- properties -----------------------------------------------------------------------------

valid_regions = st.one_of(
    st.sampled_from(["full", "square"]),
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), numbers, numbers).map(
        lambda t: ",".join(map(str, t))),
    st.tuples(percent, percent, percent, percent).map(lambda t: "pct:" + ",".join(t)),
)
valid_sizes_3 = st.tuples(
    st.sampled_from(["", "^"]),
    st.one_of(
        st.just("max"),
        numbers.map(lambda w: f"{w},"),
        numbers.map(lambda h: f",{h}"),
        st.tuples(numbers, numbers).map(lambda t: f"{t[0]},{t[1]}"),
        st.tuples(numbers, numbers).map(lambda t: f"!{t[0]},{t[1]}"),
        percent.map(lambda p: f"pct:{p}"),
    ),
).map("".join)
valid_rotations = st.tuples(
    st.sampled_from(["", "!"]),
    st.one_of(st.integers(0, 360).map(str), st.floats(0, 360).map(lambda d: f"{d:.3f}")),
).map("".join)
valid_quality_formats = st.tuples(
    st.sampled_from(["default", "color", "gray", "bitonal"]),
    st.sampled_from(["jpg", "png", "webp", "gif", "tif"]),
).map(".".join)


@given(valid_regions, valid_sizes_3, valid_rotations, valid_quality_formats)
def test_every_valid_3_0_request_parses(region, size, rotation, quality_format):
    request = parse_image_request(region, size, rotation, quality_format, 3)
    assert request.version == 3
    assert 0 <= request.rotation.degrees < 360


@given(valid_regions, valid_sizes_3.filter(lambda s: not s.startswith("^")),
       valid_rotations, valid_quality_formats)
def test_every_valid_2_1_request_parses(region, size, rotation, quality_format):
    parse_image_request(region, size.replace("max", "full"), rotation, quality_format, 2)


segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/"), max_size=40
)


@settings(max_examples=500)
@given(segment, segment, segment, segment, st.sampled_from([2, 3]))
def test_garbage_is_refused_with_a_client_error(region, size, rotation, quality_format, version):
    try:
        parse_image_request(region, size, rotation, quality_format, version)
    except BeeldpostError as error:
        assert error.status in (400, 501)
        assert error.message


@pytest.mark.parametrize("text", ["１００,", "!１,１", "pct:５０", "٣,"])
def test_only_ascii_digits(text):
    with pytest.raises(BadRequest):
        parse_size(text, 3)
    with pytest.raises(BadRequest):
        parse_rotation(text.strip(",!").replace("pct:", ""))
