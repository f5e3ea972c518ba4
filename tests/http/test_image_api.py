"""The Image API over HTTP: documents, pixels, headers, status codes."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from support.validator import VALIDATOR_IDENTIFIER, draw_validator_image, validator_colours

ID = VALIDATOR_IDENTIFIER
V3 = f"/iiif/3/{ID}"
V2 = f"/iiif/2/{ID}"


def picture(response) -> Image.Image:
    assert response.status_code == 200, response.data
    return Image.open(io.BytesIO(response.data))


def close(a, b, tolerance=6):
    return all(abs(x - y) < tolerance for x, y in zip(a, b))


# --- info.json ------------------------------------------------------------------------------

def test_info_3(client):
    response = client.get(f"{V3}/info.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    info = response.get_json()
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == f"http://localhost{V3}"
    assert info["type"] == "ImageService3"
    assert info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"] == "level2"
    assert (info["width"], info["height"]) == (1000, 1000)
    assert info["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4]}]
    assert info["sizes"] == [{"width": 250, "height": 250}, {"width": 500, "height": 500},
                             {"width": 1000, "height": 1000}]
    assert {"gray", "bitonal"} <= set(info["extraQualities"])
    assert {"webp", "gif", "tif"} <= set(info["extraFormats"])
    assert {"mirroring", "rotationArbitrary", "sizeUpscaling"} <= set(info["extraFeatures"])
    assert info["maxArea"] == 100_000_000
    assert "rights" not in info  # no record gives this image rights
    assert 'rel="profile"' in response.headers["Link"]


def test_info_2(client):
    info = client.get(f"{V2}/info.json").get_json()
    assert info["@context"] == "http://iiif.io/api/image/2/context.json"
    assert info["@id"] == f"http://localhost{V2}"
    assert info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"][0] == "http://iiif.io/api/image/2/level2.json"
    profile = info["profile"][1]
    assert set(profile["formats"]) == {"jpg", "png", "webp", "gif", "tif"}
    assert set(profile["qualities"]) == {"default", "color", "gray", "bitonal"}
    assert {"regionSquare", "mirroring", "sizeAboveFull", "baseUriRedirect"} <= set(profile["supports"])
    assert profile["maxArea"] == 100_000_000


def test_info_ids_follow_the_request_host_or_the_configured_base(tmp_path, images_dir):
    from beeldpost import create_app

    direct = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "c"}).test_client()
    info = direct.get(f"{V3}/info.json", base_url="http://127.0.0.1:8123").get_json()
    assert info["id"] == f"http://127.0.0.1:8123{V3}"
    proxied = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "c",
                          "public_base_url": "https://images.archief.example/beeld"}).test_client()
    info = proxied.get(f"{V2}/info.json").get_json()
    assert info["@id"] == f"https://images.archief.example/beeld{V2}"


def test_info_as_json_ld_when_asked(client):
    response = client.get(f"{V3}/info.json", headers={"Accept": "application/ld+json"})
    assert response.headers["Content-Type"] == \
        'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert "Accept" in response.headers["Vary"]


def test_limits_are_advertised_and_keep_sizes_consistent(tmp_path, images_dir):
    from beeldpost import create_app

    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "c", "max_width": 600})
    info = app.test_client().get(f"{V3}/info.json").get_json()
    assert info["maxWidth"] == 600
    assert all(size["width"] <= 600 for size in info["sizes"])
    v2 = app.test_client().get(f"{V2}/info.json").get_json()
    assert v2["profile"][1]["maxWidth"] == 600
    assert app.test_client().get(f"{V3}/full/700,/0/default.jpg").status_code == 400
    assert picture(app.test_client().get(f"{V3}/full/max/0/default.jpg")).size == (600, 600)


def test_base_uri_redirects_to_info(client):
    response = client.get(V3)
    assert response.status_code == 303
    assert response.headers["Location"] == f"http://localhost{V3}/info.json"
    assert client.get("/iiif/3/unknown").status_code == 404


# --- pixels -----------------------------------------------------------------------------------

@pytest.mark.parametrize("column,row", [(0, 0), (3, 7), (9, 9), (6, 2)])
@pytest.mark.parametrize("prefix", [V3, V2])
def test_pixel_regions_show_the_right_square(client, prefix, column, row):
    image = picture(client.get(f"{prefix}/{column * 100},{row * 100},100,100/50,/0/default.png"))
    assert image.size == (50, 50)
    assert close(image.convert("RGB").getpixel((25, 25)), validator_colours()[column][row])


def test_full_image_and_percent_region(client):
    full = picture(client.get(f"{V3}/full/max/0/default.png")).convert("RGB")
    assert full.size == (1000, 1000)
    colours = validator_colours()
    assert close(full.getpixel((950, 50)), colours[9][0])
    part = picture(client.get(f"{V3}/pct:50,50,50,50/max/0/default.png")).convert("RGB")
    assert part.size == (500, 500)
    assert close(part.getpixel((10, 10)), colours[5][5])


def test_tiles_at_every_scale_factor(client):
    colours = validator_colours()
    for scale in (1, 2, 4):
        side = 256 * scale
        tile = picture(client.get(f"{V3}/0,0,{side},{side}/{256 if side <= 1000 else 250},/0/default.jpg"))
        assert tile.size[0] == min(256, 1000 // scale if scale > 1 else 256)
        assert close(tile.convert("RGB").getpixel((2, 2)), colours[0][0])
    edge = picture(client.get(f"{V3}/768,768,256,256/232,/0/default.jpg"))
    assert edge.size == (232, 232)


def test_mirroring_and_rotation(client):
    colours = validator_colours()
    mirrored = picture(client.get(f"{V3}/full/max/!0/default.png")).convert("RGB")
    assert close(mirrored.getpixel((50, 50)), colours[9][0])
    rotated = picture(client.get(f"{V3}/0,0,200,100/max/90/default.png")).convert("RGB")
    assert rotated.size == (100, 200)
    # clockwise: the left square ends up on top
    assert close(rotated.getpixel((50, 50)), colours[0][0])
    assert close(rotated.getpixel((50, 150)), colours[1][0])
    tilted = picture(client.get(f"{V3}/0,0,100,100/max/45/default.png"))
    assert tilted.mode == "RGBA" and tilted.size[0] in (141, 142, 143)
    assert tilted.getpixel((0, 0))[3] == 0  # transparent corner


def test_qualities(client):
    gray = picture(client.get(f"{V3}/full/200,/0/gray.jpg"))
    assert gray.mode == "L"
    bitonal = picture(client.get(f"{V3}/full/200,/0/bitonal.png"))
    values = {value for _, value in bitonal.convert("L").getcolors()}
    assert values <= {0, 255}


@pytest.mark.parametrize("extension,media_type,magic", [
    ("jpg", "image/jpeg", b"\xff\xd8\xff"),
    ("png", "image/png", b"\x89PNG"),
    ("webp", "image/webp", b"RIFF"),
    ("gif", "image/gif", b"GIF8"),
    ("tif", "image/tiff", b"II*\x00"),
])
def test_formats(client, extension, media_type, magic):
    response = client.get(f"{V3}/full/100,/0/default.{extension}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == media_type
    assert response.data.startswith(magic)


# --- headers ----------------------------------------------------------------------------------

def test_canonical_and_profile_link_headers(client):
    response = client.get(f"{V3}/pct:0,0,100,100/1000,/0/default.jpg")
    assert response.status_code == 200  # never a redirect to the canonical form
    link = response.headers["Link"]
    assert f'<http://localhost{V3}/full/max/0/default.jpg>;rel="canonical"' in link
    assert '<http://iiif.io/api/image/3/level2.json>;rel="profile"' in link
    v2 = client.get(f"{V2}/full/500,/0/default.jpg").headers["Link"]
    assert f'<http://localhost{V2}/full/500,/0/default.jpg>;rel="canonical"' in v2


@pytest.mark.parametrize("path", [
    f"{V3}/info.json", f"{V3}/full/100,/0/default.jpg", f"{V3}/full/full/0/default.jpg",
    "/iiif/3/nope/info.json", f"{V3}/full/max/0/default.jp2", "/nothing-here",
])
def test_cors_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if response.status_code >= 400:
        assert response.mimetype == "text/plain"
        assert str(response.status_code) in response.get_data(as_text=True)


def test_preflight(client):
    response = client.options(f"{V3}/info.json", headers={
        "Origin": "https://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "accept"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "accept"


def test_head_gives_headers_without_body(client):
    get = client.get(f"{V3}/full/100,/0/default.jpg")
    head = client.head(f"{V3}/full/100,/0/default.jpg")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert client.head(f"{V3}/info.json").status_code == 200


@pytest.mark.parametrize("path", [f"{V3}/full/100,/0/default.jpg", f"{V3}/info.json"])
def test_conditional_requests(client, path):
    first = client.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('"')  # strong
    assert "public, max-age=" in first.headers["Cache-Control"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    changed = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def test_same_image_same_etag_different_request_different_etag(client):
    a = client.get(f"{V3}/full/100,/0/default.jpg").headers["ETag"]
    b = client.get(f"{V3}/full/100,100/0/default.jpg").headers["ETag"]  # same canonical form
    c = client.get(f"{V3}/full/101,/0/default.jpg").headers["ETag"]
    assert a == b != c


def test_a_replaced_source_is_never_served_stale(client, images_dir, tmp_path):
    before = client.get(f"{V3}/0,0,100,100/10,/0/default.png")
    other = draw_validator_image(tmp_path / "x.png")
    Image.open(other).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "y.png")
    shutil.copy(tmp_path / "y.png", images_dir / f"{ID}.png")
    after = client.get(f"{V3}/0,0,100,100/10,/0/default.png")
    assert before.headers["ETag"] != after.headers["ETag"]
    assert close(picture(after).convert("RGB").getpixel((5, 5)), validator_colours()[9][0])


# --- status codes -----------------------------------------------------------------------------

BAD_REQUESTS = [
    # (path, status)
    (f"{V3}/full/full/0/default.jpg", 400),
    (f"{V3}/full/1001,/0/default.jpg", 400),
    (f"{V3}/full/!2000,3000/0/default.jpg", 400),
    (f"{V3}/full/pct:101/0/default.jpg", 400),
    (f"{V3}/full/^100000,/0/default.jpg", 400),  # beyond maxArea
    (f"{V3}/0,0,0,10/max/0/default.jpg", 400),
    (f"{V3}/1000,0,10,10/max/0/default.jpg", 400),
    (f"{V3}/-1,0,10,10/max/0/default.jpg", 400),
    (f"{V3}/pct:101,0,10,10/max/0/default.jpg", 400),
    (f"{V3}/full/max/360.5/default.jpg", 400),
    (f"{V3}/full/max/-90/default.jpg", 400),
    (f"{V3}/full/max/0/grey.jpg", 400),
    (f"{V3}/full/max/0/default.bmp", 400),
    (f"{V3}/full/max/0/default", 400),
    (f"{V3}/full/max/0/default.jp2", 501),
    (f"{V3}/full/max/0/default.pdf", 501),
    (f"{V3}/full/max/0", 400),
    (f"{V3}/full/0,/0/default.jpg", 400),
    (f"{V3}/full/{'9' * 500},/0/default.jpg", 400),
    (f"{V2}/full/^max/0/default.jpg", 400),
    (f"{V2}/full/0,0/0/default.jpg", 400),
    ("/iiif/3/nope/full/max/0/default.jpg", 404),
    ("/iiif/3/nope/info.json", 404),
    ("/iiif/3/a/b/full/max/0/default.jpg", 404),
    ("/iiif/3/a%2Fb/full/max/0/default.jpg", 404),
    ("/iiif/3/..%2F..%2Fetc%2Fpasswd/info.json", 404),
    ("/iiif/3/../../etc/passwd/info.json", 400),  # five segments: a malformed image request
    ("/iiif/3/%2e%2e/info.json", 404),
    ("/iiif/3/x%00y/info.json", 404),
    ("/iiif/3/%ff%fe/info.json", 404),
    ("/iiif/3//info.json", 404),
    (f"/iiif/3/{ID}.png/info.json", 404),  # identifiers are stems, not file names
    (f"/iiif/3/{'a' * 5000}/info.json", 404),
]


@pytest.mark.parametrize("path,status", BAD_REQUESTS)
def test_bad_requests(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.data
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.mimetype == "text/plain"
    assert len(response.data) > 10


def test_escaped_identifiers_are_decoded(client):
    escaped = ID.replace("-", "%2D")
    assert client.get(f"/iiif/3/{escaped}/full/10,/0/default.jpg").status_code == 200


def test_methods_other_than_get_and_head(client):
    response = client.post(f"{V3}/info.json")
    assert response.status_code == 405
    assert response.headers["Access-Control-Allow-Origin"] == "*"
