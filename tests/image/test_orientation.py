"""EXIF orientations 1–8 come out upright, at photo sizes, through either loader.

Every test picture is one upright 4000×3000 photo-sized image with a red mark in its
top-left corner, stored turned or flipped as EXIF orientation n describes, so only a
reader that applies the orientation shows the mark top left. A one-mark picture is
enough: within each group of four orientations (keeping or swapping width and height)
every wrong transform puts the mark in a different corner. Small images would not do:
libvips' read-ahead for sequential access holds all of a small JPEG, which hid the
failure of large sideways ones ("out of order read").
"""

from __future__ import annotations

import io

import pytest
import pyvips
from PIL import Image, ImageOps

from beeldpost import create_app
from beeldpost.image import derivatives
from beeldpost.image.derivatives import DerivativeStore, _load_with_pillow
from beeldpost.presentation.manifests import ImageFacts
from beeldpost.image.sources import SourceCatalog

WIDTH, HEIGHT = 4000, 3000  # upright
MARK_WIDTH, MARK_HEIGHT = 800, 600  # the red mark, top left when upright
GREY, RED = (128, 128, 128), (220, 30, 30)
ORIENTATIONS = range(1, 9)

# How to store the upright picture so that EXIF orientation n turns it back.
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # stored turned a quarter anticlockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright_picture() -> Image.Image:
    picture = Image.new("RGB", (WIDTH, HEIGHT), GREY)
    picture.paste(RED, (0, 0, MARK_WIDTH, MARK_HEIGHT))
    return picture


def near(a, b, tolerance=16) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


# Points (as fractions of the upright picture) and the colour each must have: the mark
# in the top-left corner, its edges where they belong, grey in the other three corners.
EXPECTED = [
    ((0.02, 0.02), RED),
    ((0.18, 0.18), RED),  # inside the mark, near its far corner (it is 20 % × 20 %)
    ((0.23, 0.05), GREY),  # just right of the mark
    ((0.05, 0.23), GREY),  # just below it
    ((0.98, 0.02), GREY),
    ((0.02, 0.98), GREY),
    ((0.98, 0.98), GREY),
]


def assert_upright(size: tuple[int, int], pixel) -> None:
    """`pixel(x, y)` of an upright image of `size` shows the mark top left, only there."""
    width, height = size
    assert width * HEIGHT == height * WIDTH, f"{size} is not {WIDTH}×{HEIGHT} upright"
    for (fx, fy), colour in EXPECTED:
        x, y = int(fx * width), int(fy * height)
        assert near(pixel(x, y), colour), f"at ({x}, {y}) of {size}: {pixel(x, y)}, not {colour}"


@pytest.fixture(scope="module")
def oriented_images(tmp_path_factory):
    """o1.jpg … o8.jpg: the same upright picture, stored as orientation n says."""
    folder = tmp_path_factory.mktemp("oriented") / "images"
    folder.mkdir()
    upright = upright_picture()
    for n, transpose in STORED.items():
        stored = upright if transpose is None else upright.transpose(transpose)
        exif = Image.Exif()
        exif[0x0112] = n
        path = folder / f"o{n}.jpg"
        stored.save(path, quality=90, exif=exif)
        # Pillow as an independent reader: the test image itself is right.
        with Image.open(path) as check:
            shown = ImageOps.exif_transpose(check)
            assert shown.size == (WIDTH, HEIGHT)
            assert near(shown.getpixel((10, 10)), RED) and near(shown.getpixel((WIDTH - 10, 10)), GREY)
    return folder


@pytest.fixture(params=["libvips", "pillow"])
def loader(request, monkeypatch):
    """Serve the JPEGs through libvips (as in production) or through the Pillow loader."""
    if request.param == "pillow":
        monkeypatch.setattr(derivatives, "PILLOW_EXTENSIONS", (".jpg",))
    return request.param


def app_for(images, tmp_path):
    return create_app({"images_dir": images, "cache_dir": tmp_path / "cache"})


def png(response) -> Image.Image:
    assert response.status_code == 200, response.get_data(as_text=True)
    return Image.open(io.BytesIO(response.data)).convert("RGB")


@pytest.mark.parametrize("n", ORIENTATIONS)
def test_every_orientation_is_served_upright(oriented_images, tmp_path, loader, n):
    client = app_for(oriented_images, tmp_path).test_client()
    info = client.get(f"/iiif/3/o{n}/info.json")
    assert info.status_code == 200, info.get_data(as_text=True)
    assert (info.get_json()["width"], info.get_json()["height"]) == (WIDTH, HEIGHT)

    small = png(client.get(f"/iiif/3/o{n}/full/400,/0/default.png"))
    assert small.size == (400, 300)
    assert_upright(small.size, lambda x, y: small.getpixel((x, y)))

    # Full-resolution tiles from the pyramid's first level: the mark's corner, the far corner.
    corner = png(client.get(f"/iiif/3/o{n}/0,0,256,256/256,/0/default.png"))
    assert all(near(corner.getpixel(p), RED) for p in [(0, 0), (128, 128), (255, 255)])
    far = png(client.get(f"/iiif/3/o{n}/{WIDTH - 256},{HEIGHT - 256},256,256/256,/0/default.png"))
    assert all(near(far.getpixel(p), GREY) for p in [(0, 0), (128, 128), (255, 255)])
    edge = png(client.get(f"/iiif/3/o{n}/{MARK_WIDTH - 128},0,256,256/256,/0/default.png"))
    assert near(edge.getpixel((100, 100)), RED) and near(edge.getpixel((156, 100)), GREY)

    # No temporary file of the build is left beside the derivative.
    assert not [p.name for p in (tmp_path / "cache").rglob("*.tmp")]


@pytest.mark.parametrize("n", ORIENTATIONS)
def test_the_pillow_loader_turns_every_orientation_upright(oriented_images, n):
    image = _load_with_pillow(oriented_images / f"o{n}.jpg", max_pixels=50_000_000)
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    assert (image.bands, image.format) == (3, "uchar")
    assert_upright((image.width, image.height), image.getpoint)


def test_manifests_get_the_upright_size(oriented_images, tmp_path):
    app = app_for(oriented_images, tmp_path)
    app.extensions["beeldpost.catalogue"].current()  # as a request does first
    images = app.extensions["beeldpost.images"]
    facts = ImageFacts.of(images, "o6")
    assert (facts.width, facts.height) == (facts.canvas_width, facts.canvas_height) == (WIDTH, HEIGHT)


@pytest.mark.parametrize("n", [1, 2])
def test_upright_and_mirrored_sources_are_built_in_one_pass(oriented_images, tmp_path, monkeypatch, n):
    def second_pass(*args):
        raise AssertionError("orientations 1 and 2 need no temporary copy")

    monkeypatch.setattr(DerivativeStore, "_turned_upright", second_pass)
    catalog = SourceCatalog(oriented_images)
    source = catalog.lookup(f"o{n}")
    target = DerivativeStore(tmp_path).ensure(source, catalog.content_hash(source))
    assert pyvips.Image.new_from_file(str(target)).width == WIDTH


def test_the_second_pass_copy_is_removed_and_leftovers_swept(oriented_images, tmp_path, monkeypatch):
    catalog = SourceCatalog(oriented_images)
    source = catalog.lookup("o6")
    store = DerivativeStore(tmp_path)
    target = store.path_for(catalog.content_hash(source))
    target.parent.mkdir(parents=True)
    # As a builder killed mid-build would leave it.
    stale = target.parent / f".{target.stem}.upright.tmp"  # (their names are known)
    stale.write_bytes(b"\0" * 1000)
    seen = []
    write_pyramid = pyvips.Image.tiffsave

    def watched(image, path, **options):
        seen.append((options.get("pyramid", False),
                     sorted((p.name, p.stat().st_size) for p in target.parent.glob("*.tmp"))))
        return write_pyramid(image, path, **options)

    monkeypatch.setattr(pyvips.Image, "tiffsave", watched)
    assert store.ensure(source, catalog.content_hash(source)) == target
    (first, at_copy), (second, at_pyramid) = seen
    assert not first and second  # the stored copy first, then the pyramid from it
    assert at_copy == [(stale.name, 0)]  # the leftover swept; the copy starts afresh
    assert len(at_pyramid) == 2
    assert not list(target.parent.glob("*.tmp"))


def test_a_truncated_sideways_jpeg_is_refused_cleanly(oriented_images, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    data = (oriented_images / "o6.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(data[: len(data) // 2])
    client = app_for(images, tmp_path).test_client()
    response = client.get("/iiif/3/cut/info.json")
    assert response.status_code == 422
    assert "cut.jpg" in response.get_data(as_text=True)
    assert not list((tmp_path / "cache").rglob("*.tmp"))
