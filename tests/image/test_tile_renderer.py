"""Small JPEG answers from stored tiles (Pillow) match libvips' render of the same request."""

from __future__ import annotations

import io

import pytest
import pyvips
from PIL import Image, ImageChops, ImageStat

from beeldpost.settings import Settings
from beeldpost.image.service import ImageService
from beeldpost.image.parameters import parse_image_request
from beeldpost.image.processor import render
from beeldpost.image.plan import FROM_TILES, LIBVIPS, STORED_EDGE
from beeldpost.image.tile_renderer import can_render, jpeg_frame, render_from_tiles

from support.pictures import textured


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    (root / "images").mkdir()
    textured(2000, 1300).jpegsave(str(root / "images" / "photo.jpg"), Q=92)
    return ImageService(Settings.of(images_dir=root / "images", cache_dir=root / "cache"))


def planned(service, path: str):
    region, size, rotation, quality_format = path.split("/")
    image = service.resolve("photo")
    ops = service.operations(image, parse_image_request(region, size, rotation, quality_format, 3))
    return service.plan(image, ops, ops.canonical_path(3))


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("path", [
    "1792,0,208,256/208,/0/default.jpg",        # edge tile of the full-size level
    "1792,1024,208,276/208,/0/color.jpg",       # corner tile
    "1024,1024,976,276/244,/0/default.jpg",     # edge tile, scale factor 4
    "full/!200,200/0/default.jpg",              # thumbnail: a few tiles, resized
    "full/max/0/default.jpg",                   # 2000×1300, 48 tiles as stored
    "full/1500,/0/default.jpg",                 # 48 tiles resized: not this path
    "100,100,700,500/350,/0/default.jpg",       # across tiles at level 1
    "100,100,1024,1024/max/0/default.jpg",      # 25 tiles as stored
    "full/250,163/0/default.jpg",               # sf 8: 250×163 (ceil) from the 250×162 level
])
def test_same_picture_as_libvips(service, path):
    plan = planned(service, path)
    settings, ops = service.settings, plan.source_ops
    if not can_render(ops, plan.box, settings.tile_size):
        assert plan.renderer == LIBVIPS
        assert path in ("full/1500,/0/default.jpg",)  # the one case beyond MAX_TILES
        return
    # Heavy renders (the whole 2000×1300 image here) take libvips' bounded path instead;
    # an edge tile is kept cut by the pyramid (stored_edges.py), or re-cut by this path.
    assert plan.renderer in ((LIBVIPS,) if plan.heavy else (FROM_TILES, STORED_EDGE))
    ours = render_from_tiles(service.stored_tiles, plan.image.pyramid, ops, plan.level, plan.box,
                             settings.tile_size, settings.jpeg_quality)
    assert ours is not None and ours.startswith(b"\xff\xd8")
    theirs = render(service.opened.level(plan.image.pyramid, plan.level), plan.box, ops,
                    settings.jpeg_quality)
    ours_image, theirs_image = decoded(ours), decoded(theirs)
    assert ours_image.size == theirs_image.size == (ops.width, ops.height)
    difference = ImageStat.Stat(ImageChops.difference(ours_image, theirs_image)).mean
    assert max(difference) < 2.5, difference  # two JPEG encodes of the same pixels


@pytest.mark.parametrize("path", [
    "1792,0,208,256/208,/0/gray.jpg",
    "1792,0,208,256/208,/90/default.jpg",
    "1792,0,208,256/208,/!0/default.jpg",
    "1792,0,208,256/208,/0/default.png",
    "300,300,90,60/^180,120/0/default.jpg",  # upscaled: the kernels differ
])
def test_other_requests_are_left_to_libvips(service, path):
    plan = planned(service, path)
    assert not can_render(plan.source_ops, plan.box, 256)
    assert plan.renderer == LIBVIPS


def test_the_service_uses_it_and_falls_back_on_damage(service, monkeypatch):
    plan = planned(service, "1792,1024,208,276/208,/0/default.jpg")  # two tiles, re-cut
    assert plan.renderer == FROM_TILES
    calls = []
    real = service.stored_tiles.jpeg

    def damaged(*arguments):
        calls.append(arguments)
        return real(*arguments)[:200]  # a truncated tile: Pillow fails, libvips answers

    monkeypatch.setattr(service.stored_tiles, "jpeg", damaged)
    answer = service.render(plan)
    assert calls and decoded(answer).size == (208, 276)
    monkeypatch.undo()
    assert pyvips.Image.new_from_buffer(service.render(plan), "").width == 208


def jpeg(size: tuple[int, int], mode: str = "RGB", **options) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, "JPEG", **options)
    return out.getvalue()


@pytest.mark.parametrize("size, mode, options, frame", [
    ((256, 256), "RGB", {}, (256, 256, 3)),
    ((300, 200), "RGB", {"progressive": True}, (300, 200, 3)),
    ((256, 256), "L", {}, (256, 256, 1)),
    ((256, 256), "CMYK", {}, (256, 256, 4)),
])
def test_jpeg_frame_reads_the_frame_header(size, mode, options, frame):
    assert jpeg_frame(jpeg(size, mode, **options)) == frame


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"not a jpeg at all",
                                  b"\xff\xd8\xff\xc0\x00\x11", b"\xff\xd8\xff\xe0\x00\x01"])
def test_jpeg_frame_of_what_is_no_jpeg_is_none(data):
    assert jpeg_frame(data) is None


def test_jpeg_frame_of_a_jpeg_cut_before_its_frame_header_is_none():
    whole = jpeg((256, 256))
    assert jpeg_frame(whole[:whole.index(b"\xff\xc0")]) is None


@pytest.mark.parametrize("size, mode", [((512, 256), "RGB"), ((256, 200), "RGB"), ((256, 256), "L")])
def test_a_stored_tile_of_another_kind_is_left_to_libvips(service, monkeypatch, size, mode):
    """Pillow's decoder writes whole scanlines of the JPEG's own width: a wider tile
    given to it as 256 px would overrun the image. Such a tile never reaches it."""
    plan = planned(service, "full/!200,200/0/default.jpg")
    assert plan.renderer == FROM_TILES
    odd = jpeg(size, mode)
    monkeypatch.setattr(service.stored_tiles, "jpeg", lambda *arguments: odd)
    settings = service.settings
    assert render_from_tiles(service.stored_tiles, plan.image.pyramid, plan.source_ops, plan.level,
                             plan.box, settings.tile_size, settings.jpeg_quality) is None
    assert decoded(service.render(plan)).size == (plan.source_ops.width, plan.source_ops.height)


def huffman_tables(data: bytes) -> list[bytes]:
    """The DHT segments of a JPEG, in order."""
    tables, position = [], 2
    while data[position + 1] != 0xDA:  # up to the first scan
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if data[position + 1] == 0xC4:
            tables.append(data[position + 4:position + 2 + length])
        position += 2 + length
    return tables


STANDARD_TABLES = huffman_tables(jpeg((64, 64)))  # libjpeg's defaults, as Pillow writes them


@pytest.mark.parametrize("path, own_tables", [
    ("full/!200,200/0/default.jpg", True),        # thumbnail from stored tiles
    ("full/200,/90/default.jpg", True),           # small, resized, rotated: libvips
    ("100,100,700,500/200,/0/default.jpg", True),   # a region, shrunk
    ("100,100,700,500/350,/0/default.jpg", False),  # the same at 350×250: above 65,536 pixels
    ("1792,0,208,256/208,/0/default.jpg", False),  # edge tile at its level's scale
    ("100,100,1024,1024/max/0/default.jpg", False),  # crop at full resolution
    ("full/1000,/0/default.jpg", False),          # larger than a thumbnail
])
def test_thumbnails_carry_their_own_huffman_tables(service, path, own_tables):
    """Small resized answers are coded with Huffman tables made for them: fewer bytes,
    the same pixels; the others with the standard tables (their second pass would cost
    more than it saves)."""
    plan = planned(service, path)
    answer = service.render(plan)
    assert (huffman_tables(answer) != STANDARD_TABLES) == own_tables
    if own_tables:
        pixels = decoded(answer)
        standard = io.BytesIO()
        pixels.save(standard, "JPEG", quality=service.settings.jpeg_quality)
        assert huffman_tables(standard.getvalue()) == STANDARD_TABLES
        assert len(answer) < 0.97 * len(standard.getvalue())


def test_both_renderers_resize_with_the_same_kernel():
    """Pillow's kernel here and libvips' there (processor.RESIZE_KERNEL) give the same
    pixels before any JPEG (0.2 grey levels apart on average): a kernel changed in one
    renderer alone fails this (Pillow's Lanczos against libvips' cubic: 2.3 on this picture)."""
    from beeldpost.image.processor import _resize_exact
    from beeldpost.image.tile_renderer import RESAMPLING

    level = textured(375, 250)
    ours = Image.frombytes("RGB", (375, 250), level.write_to_memory()).resize((209, 139),
                                                                               RESAMPLING)
    theirs = Image.frombytes("RGB", (209, 139), _resize_exact(level, 209, 139).write_to_memory())
    difference = ImageStat.Stat(ImageChops.difference(ours, theirs)).mean
    assert max(difference) < 0.4, difference
