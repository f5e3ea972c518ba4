"""Sources of every kind come out upright, in sRGB, through a pyramidal TIFF."""

from __future__ import annotations

import io

import pytest
import pyvips
from PIL import Image

from support.validator import VALIDATOR_IDENTIFIER, validator_colours
from beeldpost import create_app
from beeldpost.image.derivatives import DerivativeStore, OpenedLevels
from beeldpost.image.operations import Limits, resolve
from beeldpost.image.parameters import parse_image_request
from beeldpost.image.processor import choose_level

RED, BLUE = (220, 30, 30), (30, 30, 220)


def two_colour(width=400, height=200) -> Image.Image:
    """Left half red, right half blue: shows orientation and colour at a glance."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def served(tmp_path, name: str, data: bytes, path="full/max/0/default.png"):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    (images / name).write_bytes(data)
    client = create_app({"images_dir": images, "cache_dir": tmp_path / "cache"}).test_client()
    stem = name.rsplit(".", 1)[0]
    return client, client.get(f"/iiif/3/{stem}/{path}")


def as_rgb(response) -> Image.Image:
    assert response.status_code == 200, response.data
    return Image.open(io.BytesIO(response.data)).convert("RGB")


def near(a, b, tolerance=12):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    # Stored sideways (rotated 90° anticlockwise) with Orientation 6 = "rotate 90° CW to view".
    stored = two_colour().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    _, response = served(tmp_path, "sideways.jpg", encode(stored, "JPEG", quality=95, exif=exif))
    image = as_rgb(response)
    assert image.size == (400, 200)
    assert near(image.getpixel((50, 100)), RED) and near(image.getpixel((350, 100)), BLUE)


def test_exif_rotation_is_reflected_in_info(tmp_path):
    stored = two_colour().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    client, _ = served(tmp_path, "sideways.jpg", encode(stored, "JPEG", exif=exif))
    info = client.get("/iiif/3/sideways/info.json").get_json()
    assert (info["width"], info["height"]) == (400, 200)


def test_cmyk_jpeg_becomes_srgb(tmp_path):
    _, response = served(tmp_path, "cmyk.jpg", encode(two_colour().convert("CMYK"), "JPEG", quality=95))
    image = as_rgb(response)
    # A real CMYK profile maps Pillow's naive CMYK values to duller colours than the
    # originals; what must hold is that no channel is inverted or swapped.
    left, right = image.getpixel((50, 100)), image.getpixel((350, 100))
    assert left[0] > 150 and left[0] > 2 * max(left[1], left[2])
    assert right[2] > 100 and right[2] > 1.5 * max(right[0], right[1])


def test_embedded_non_srgb_profile_is_converted(tmp_path):
    # The same colours exported into Display P3 and tagged as such must come back in sRGB.
    source = pyvips.Image.new_from_memory(two_colour().tobytes(), 400, 200, 3, "uchar")
    p3 = source.copy(interpretation="srgb").icc_transform("p3", input_profile="srgb", embedded=False)
    data = p3.jpegsave_buffer(Q=95, profile="p3")
    reloaded = pyvips.Image.new_from_buffer(data, "")
    assert "icc-profile-data" in reloaded.get_fields()
    raw_p3 = Image.open(io.BytesIO(data)).convert("RGB").getpixel((50, 100))
    assert not near(raw_p3, RED, 12)  # untransformed values differ: the test can fail
    _, response = served(tmp_path, "p3.jpg", data)
    assert near(as_rgb(response).getpixel((50, 100)), RED, 14)


def test_sixteen_bit_tiff(tmp_path):
    source = pyvips.Image.new_from_memory(two_colour().tobytes(), 400, 200, 3, "uchar")
    sixteen = (source.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    assert sixteen.format == "ushort"
    _, response = served(tmp_path, "deep.tif", sixteen.tiffsave_buffer())
    image = as_rgb(response)
    assert near(image.getpixel((50, 100)), RED) and near(image.getpixel((350, 100)), BLUE)


def grey16_png() -> bytes:
    grey = pyvips.Image.new_from_memory(two_colour().convert("L").tobytes(), 400, 200, 1, "uchar")
    return (grey.cast("ushort") * 257).cast("ushort").copy(interpretation="grey16").pngsave_buffer()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "grey16"])
def test_png_modes(tmp_path, mode):
    picture = two_colour()
    if mode == "RGBA":
        picture = picture.convert("RGBA")
        picture.paste((0, 0, 0, 0), (0, 0, 20, 20))
    elif mode != "grey16":
        picture = picture.convert(mode)
    data = grey16_png() if mode == "grey16" else encode(picture, "PNG")
    _, response = served(tmp_path, "mode.png", data)
    image = as_rgb(response)
    assert image.size == (400, 200)
    left, right = image.getpixel((50, 100)), image.getpixel((350, 100))
    assert left != right
    if mode == "RGBA":
        assert near(image.getpixel((5, 5)), (255, 255, 255), 20)  # alpha flattened onto white


def test_jpeg_2000_is_read_through_pillow(tmp_path, validator_png):
    data = encode(Image.open(validator_png), "JPEG2000", irreversible=False)
    client, response = served(tmp_path, f"{VALIDATOR_IDENTIFIER}.jp2", data, "300,700,100,100/max/0/default.png")
    assert near(as_rgb(response).getpixel((50, 50)), validator_colours()[3][7], 5)


@pytest.mark.parametrize("name,data", [
    ("empty.jpg", b""),
    ("text.png", b"this is not an image at all\n"),
    ("truncated.jpg", encode(two_colour(800, 800), "JPEG")[:2000]),
    ("truncated.png", encode(two_colour(800, 800), "PNG")[:300]),
    ("broken.tif", b"II*\x00" + b"\x00" * 64),
])
def test_unreadable_sources_get_a_clear_client_error(tmp_path, name, data):
    client, response = served(tmp_path, name, data, "info.json")
    assert 400 <= response.status_code < 500
    assert name in response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # the server keeps serving other images
    (tmp_path / "images" / "fine.png").write_bytes(encode(two_colour(), "PNG"))
    assert client.get("/iiif/3/fine/info.json").status_code == 200
    # and no half-written derivative is left behind
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.suffix in (".tmp", ".tif")
                 and "fine" not in p.name]
    assert len([p for p in leftovers if p.suffix == ".tmp"]) == 0


def test_derivatives_are_pyramidal_tiled_and_keyed_by_content(tmp_path, validator_png):
    from beeldpost.image.sources import SourceCatalog

    catalog = SourceCatalog(validator_png.parent)
    source = catalog.lookup(VALIDATOR_IDENTIFIER)
    store = DerivativeStore(tmp_path, tile_size=256, quality=90)
    path = store.ensure(source, catalog.content_hash(source))
    assert catalog.content_hash(source) in path.name
    pyramid = OpenedLevels().pyramid(path)
    assert pyramid.levels == ((1000, 1000), (500, 500), (250, 250))
    level = pyvips.Image.new_from_file(str(path))
    assert level.get("tile-width") == 256
    assert not list(path.parent.glob("*.tmp"))
    assert store.ensure(source, catalog.content_hash(source)) == path  # built once


@pytest.mark.parametrize("path,level", [
    ("0,0,256,256/256,/0/default.jpg", 0),
    ("0,0,512,512/256,/0/default.jpg", 1),
    ("0,0,1024,1024/256,/0/default.jpg", 2),
    ("4096,4096,1024,1024/256,/0/default.jpg", 2),
    ("6144,4096,256,171/256,/0/default.jpg", 0),
    ("full/200,/0/default.jpg", 5),
    ("full/max/0/default.jpg", 0),
    ("full/!1000,1000/0/default.jpg", 2),
])
def test_the_coarsest_sufficient_level_is_read(path, level):
    """A tile at scale factor s is cut from level log2(s): one stored tile decoded, not the image."""
    from beeldpost.image.pyramid import Pyramid

    width, height = 6400, 4267
    pyramid = Pyramid(path=None, levels=tuple((width >> k, height >> k) for k in range(6)))
    region, size, rotation, quality_format = path.split("/")
    ops = resolve(parse_image_request(region, size, rotation, quality_format, 3), width, height, Limits())
    assert choose_level(pyramid, ops) == level


def test_sources_above_the_pixel_limit_are_refused_before_decoding(tmp_path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    # A tiny PNG file that declares 20000×20000 pixels: a decompression bomb.
    bomb = pyvips.Image.black(20000, 20000).cast("uchar").pngsave_buffer(compression=9)
    assert len(bomb) < 2_000_000
    (images / "bomb.png").write_bytes(bomb)
    (images / "fine.png").write_bytes(encode(two_colour(), "PNG"))
    client = create_app({"images_dir": images, "cache_dir": tmp_path / "cache",
                         "max_source_pixels": 50_000_000}).test_client()
    response = client.get("/iiif/3/bomb/info.json")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "bomb.png" in text and "20000×20000" in text and "BEELDPOST_MAX_SOURCE_PIXELS" in text
    assert any("bomb.png" in record.getMessage() for record in caplog.records)
    assert client.get("/iiif/3/fine/info.json").status_code == 200


def test_a_damaged_derivative_is_detected_and_rebuilt(tmp_path, images_dir):
    settings = {"images_dir": images_dir, "cache_dir": tmp_path / "cache"}
    tile = f"/iiif/3/{VALIDATOR_IDENTIFIER}/0,0,256,256/256,/0/default.png"
    first = create_app(settings).test_client().get(tile)
    assert first.status_code == 200
    [derivative] = (tmp_path / "cache").rglob("*.tif")
    data = derivative.read_bytes()
    derivative.write_bytes(data[: len(data) // 3])  # truncated, e.g. by a full disk
    again = create_app(settings).test_client().get(tile)  # a new worker
    assert again.status_code == 200
    assert again.data == first.data
    assert derivative.stat().st_size == len(data)


def test_an_interrupted_build_leaves_nothing_a_reader_could_find(tmp_path, validator_png, monkeypatch):
    from beeldpost.image.sources import SourceCatalog

    catalog = SourceCatalog(validator_png.parent)
    source = catalog.lookup(VALIDATOR_IDENTIFIER)
    store = DerivativeStore(tmp_path, 256, 90)
    target = store.path_for(catalog.content_hash(source))

    def killed(*args, **kwargs):
        partial = [p for p in target.parent.glob("*.tmp")]
        assert partial, "the build writes to a temporary file first"
        partial[0].write_bytes(b"II*\x00half")
        raise KeyboardInterrupt  # as if the process died mid-write

    monkeypatch.setattr(pyvips.Image, "tiffsave", killed)
    with pytest.raises(KeyboardInterrupt):
        store.ensure(source, catalog.content_hash(source))
    assert not target.exists()
    assert not list(target.parent.glob("*.tmp"))
    monkeypatch.undo()
    assert store.ensure(source, catalog.content_hash(source)) == target
    assert store.is_intact(target)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "I;16", "CMYK"])
def test_the_pillow_loader_converts_strip_by_strip_as_a_whole_picture_would(tmp_path, mode):
    """Converted a strip at a time (so the picture is never copied whole), the pixels
    are exactly those of converting the whole picture, across strip boundaries too."""
    from beeldpost.image.derivatives import _load_with_pillow

    gradient = Image.linear_gradient("L").resize((3000, 1000))  # every row different
    picture = Image.merge("RGB", [gradient, gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
                                  gradient.rotate(90, expand=False)])
    if mode == "RGBA":
        picture = picture.convert("RGBA")
        picture.putalpha(gradient)
    elif mode == "LA":
        picture = picture.convert("LA")
        picture.putalpha(gradient)
    elif mode == "P":
        picture = picture.convert("P")
        picture.info["transparency"] = 0
    elif mode == "I;16":
        picture = gradient.convert("I;16")
    elif mode != "RGB":
        picture = picture.convert(mode)
    # Lossless files that keep each mode (and the palette's transparency).
    path = tmp_path / ("picture.tif" if mode in ("I;16", "CMYK") else "picture.png")
    picture.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode and (mode != "P" or "transparency" in reopened.info)
        whole = reopened.convert("RGBA") if mode in ("RGBA", "LA", "P") else reopened.convert("RGB")
    if whole.mode == "RGBA":
        flattened = Image.new("RGB", whole.size, (255, 255, 255))
        flattened.paste(whole, mask=whole.getchannel("A"))
        whole = flattened
    loaded = _load_with_pillow(path, max_pixels=50_000_000)
    assert (loaded.width, loaded.height, loaded.bands) == (3000, 1000, 3)
    assert loaded.write_to_memory() == whole.tobytes()
