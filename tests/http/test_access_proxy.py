"""Access tiers through the shipped deploy/nginx.conf (issue 22): two Beeldpost servers
behind nginx with its shared cache, one secret and one catalogue database between them.

- The leak test: a member of staff signs in through nginx and fetches the full version
  (`{id}~full`) of a capped image at full resolution, and the public face; then an
  anonymous client asks every one of the same URLs through the same nginx, twice. The
  public face gives the cap and no more (pixels and detail), the full version gives a
  401 beyond the cap, and nginx never answers a full-version URL from its cache.
- A session signed in through nginx is known to both servers, and signing out through
  nginx ends it on both within ENDED_SECONDS.
- An access token made by one server is accepted by the other.
- The public face's upscales of a region show the cap's pixels enlarged, never the
  full scan's detail (the rule is ImageService.plan's public_detail).

The capped image's source has a 1-pixel checkerboard in its top-left corner on a grey of
the same mean: at the cap's scale (1/5) that detail averages away, so an answer that
shows it shows more than the cap, whatever its pixel dimensions.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from support.cluster import Nginx, get
from support.sign_in import PASSWORD, STAFF, sign_in, with_session
from support.live import LiveServer, free_port
from support.paths import REPO
from support.presentation import make_jpeg, record_data, write_record

pytestmark = pytest.mark.live

CAPPED = "verkleind-stuk"  # access: capped, max_size: CAP
STAFF_ONLY = "medewerkers-stuk"  # access: staff
WIDTH, HEIGHT = 6000, 4000
CAP = 1200  # the public face: 1200 × 800
CHECKERED = 1280  # the checkerboard's corner: 0,0,1280,1280 of the full scan
SECRET = "proef-geheim-van-het-cluster-" + "0123456789abcdef" * 2
SHARP, SMOOTH = 60.0, 20.0  # standard deviation of grey: the checkerboard resolved, or not

# (path after /iiif/{version}/{identifier}, what staff get of the full version, what the
# anonymous get of it, what everyone gets of the public face). An expectation is a
# status, with the pixel size of a 200 image and whether it shows the checkerboard.
FULL = (200, (WIDTH, HEIGHT), None)
REFUSED = (401, None, None)
CASES = [
    # A stored tile at scale factor 1, in the checkered corner.
    ("3", "0,0,256,256/256,/0/default.jpg", (200, (256, 256), True), REFUSED,
     (200, (256, 256), False)),
    # The same corner at the public face's scale: within the cap, for everyone.
    ("3", "0,0,1280,1280/256,/0/default.jpg", (200, (256, 256), False),
     (200, (256, 256), False), (200, (256, 171), False)),
    ("3", "full/max/0/default.jpg", FULL, REFUSED, (200, (CAP, 800), False)),
    ("2", "full/full/0/default.jpg", FULL, REFUSED, (200, (CAP, 800), False)),
    ("3", "full/1200,/0/default.jpg", (200, (CAP, 800), False), (200, (CAP, 800), False),
     (200, (CAP, 800), False)),
    # pct: regions, the checkered corner at full resolution.
    ("3", "pct:0,0,20,20/max/0/default.jpg", (200, (1200, 800), True), REFUSED,
     (200, (240, 160), False)),
    ("2", "pct:0,0,20,20/full/0/default.jpg", (200, (1200, 800), True), REFUSED,
     (200, (240, 160), False)),
    # ^ upscales: of a checkered region to the cap's width, and of the whole beyond it.
    ("3", "pct:0,0,10,10/^1200,/0/default.jpg", (200, (1200, 800), True), REFUSED,
     (200, (1200, 800), None)),  # its detail: test_the_public_face_s_upscales_…, below
    ("3", "full/^1500,/0/default.jpg", (200, (1500, 1000), False), REFUSED, (400, None, None)),
]


def pixels(body: bytes) -> tuple[tuple[int, int], float]:
    """An image's size, and the standard deviation of its grey (its detail)."""
    with Image.open(io.BytesIO(body)) as image:
        return image.size, ImageStat.Stat(image.convert("L")).stddev[0]


def checkered_source(path: Path) -> Path:
    """WIDTH × HEIGHT of grey 128, with a 1-pixel black-and-white checkerboard (mean
    127.5) in its top-left CHECKERED × CHECKERED."""
    image = Image.new("L", (WIDTH, HEIGHT), 128)
    even, odd = bytes([0, 255]) * (CHECKERED // 2), bytes([255, 0]) * (CHECKERED // 2)
    image.paste(Image.frombytes("L", (CHECKERED, CHECKERED), (even + odd) * (CHECKERED // 2)))
    image.convert("RGB").save(path, quality=95)
    return path


class Cluster:
    """Two servers on one shared disk (records, images, cache and its catalogue
    database), the same secret and public URL, behind nginx."""

    def __init__(self, root: Path):
        self.root = root
        manifests, self.images = root / "manifests", root / "images"
        manifests.mkdir()
        self.images.mkdir()
        checkered_source(self.images / f"{CAPPED}.jpg")
        make_jpeg(self.images / f"{STAFF_ONLY}.jpg", 3000, 2000)
        write_record(manifests, CAPPED, record_data(CAPPED, access="capped", max_size=CAP))
        write_record(manifests, STAFF_ONLY, record_data(STAFF_ONLY, access="staff"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"BEELDPOST_PUBLIC_URL": self.url, "BEELDPOST_SECRET": SECRET}
        self.nodes: list[LiveServer] = []
        self.nginx = None
        try:
            for number in (1, 2):
                self.nodes.append(LiveServer(root, self.images, f"node-{number}", settings))
            self.nginx = Nginx(root, self.port, self.nodes)
        except BaseException:
            self.stop()
            raise

    def add_staff(self) -> None:
        """`beeldpost users add` with a server's environment, as the README says."""
        added = subprocess.run(
            [str(Path(sys.executable).with_name("beeldpost")), "users", "add", STAFF,
             "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True,
            cwd=REPO, env=self.nodes[0].env, timeout=60)
        assert added.returncode == 0, added.stderr

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            if node.process.poll() is None:
                node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("access-cluster"))
    try:
        cluster.add_staff()
        for node in cluster.nodes:
            node.wait_for(f"/iiif/3/{CAPPED}/info.json", within=60)
            node.wait_for(f"/iiif/3/{STAFF_ONLY}~full/info.json", status=401, within=60)
        yield cluster
    finally:
        cluster.stop()


def check(answer, expected, url: str) -> None:
    status, _headers, body = answer
    want_status, want_size, want_sharp = expected
    assert status == want_status, (url, status, body[:200])
    if status != 200:
        assert not body.startswith(b"\xff\xd8"), url  # no image with an error status
        return
    size, detail = pixels(body)
    assert size == want_size, (url, size)
    if want_sharp is not None:
        assert (detail > SHARP) if want_sharp else (detail < SMOOTH), (url, detail)


def info_size(body: bytes) -> tuple[int, int]:
    document = json.loads(body)
    return document["width"], document["height"]


def test_staff_see_the_full_scan_and_the_anonymous_never_more_than_the_cap(cluster):
    base = cluster.url
    images = [f"{base}/iiif/{version}/{{id}}/{path}" for version, path, *_ in CASES]
    infos = [f"{base}/iiif/{version}/{{id}}/info.json" for version in ("3", "2")]
    staff_only = [url.format(id=STAFF_ONLY) for url in infos + images]
    escaped = [(f"{base}/iiif/3/{CAPPED}%7Efull/full/max/0/default.jpg", (WIDTH, HEIGHT)),
               (f"{base}/iiif/2/{CAPPED}%7efull/info.json", (WIDTH, HEIGHT))]
    # Before staff asked for anything: the staff-only image's public face is a 401.
    for url in staff_only:
        assert get(url)[0] == 401, url

    cookie = sign_in(base)
    assert cookie, "staff could not sign in through nginx"
    staff = with_session(cookie)
    seen_by_staff: dict[str, bytes] = {}
    for url in infos:
        full = url.format(id=f"{CAPPED}~full")
        status, headers, body = get(full, staff)
        assert status == 200 and info_size(body) == (WIDTH, HEIGHT), (full, status)
        assert headers["Cache-Control"].startswith("private"), headers["Cache-Control"]
        varies = ", ".join(headers.get_all("Vary") or [])
        assert "Cookie" in varies and "Authorization" in varies, varies
        public = url.format(id=CAPPED)
        status, _headers, body = get(public, staff)
        assert status == 200 and info_size(body) == (CAP, 800), (public, status)
        seen_by_staff[public] = body
    for (version, path, for_staff, _anonymous, for_everyone), url in zip(CASES, images):
        full = url.format(id=f"{CAPPED}~full")
        answer = get(full, staff)
        check(answer, for_staff, full)
        assert answer[1]["Cache-Control"].startswith("private"), full
        assert "Cookie" in ", ".join(answer[1].get_all("Vary") or []), full
        public = url.format(id=CAPPED)
        answer = get(public, staff)
        check(answer, for_everyone, public)
        seen_by_staff[public] = answer[2]
    # An edge tile of the full scan at scale factor 1 (6000 = 23 × 256 + 112): kept cut in
    # the pyramid, sent as stored bytes to staff, and to nobody else (below).
    edge = f"{base}/iiif/3/{CAPPED}~full/5888,0,112,256/112,/0/default.jpg"
    status, headers, body = get(edge, staff)
    assert status == 200 and pixels(body)[0] == (112, 256), (edge, status)
    assert headers["X-Beeldpost-Cache"] == "stored-tile" and headers["Cache-Control"].startswith("private")
    # The full version with its `~` escaped (nginx's $uri, which its cache rules read, has
    # it decoded, as the server has).
    for url, size in escaped:
        status, _headers, body = get(url, staff)
        assert status == 200, (url, status)
        assert (info_size(body) if url.endswith("info.json") else pixels(body)[0]) == size
    for url in infos + images:
        full = url.format(id=f"{STAFF_ONLY}~full")
        status, _headers, body = get(full, staff)
        assert status == 200, (full, status)
        if url.endswith("info.json"):
            assert info_size(body) == (3000, 2000)
        assert get(url.format(id=STAFF_ONLY), staff)[0] == 401, url  # the public face: none

    # The anonymous, through the same nginx, twice each.
    for attempt in (1, 2):
        for url in infos:
            full = url.format(id=f"{CAPPED}~full")
            status, headers, body = get(full)
            if "/iiif/2/" in full:  # 2.1: sent (302, followed) to the public face's
                assert status == 200 and info_size(body) == (CAP, 800), (full, status)
            else:  # 3.0: a 401 whose body is the whole description (a viewer draws what it may)
                assert status == 401 and info_size(body) == (WIDTH, HEIGHT), (full, status)
                assert headers.get("X-Cache-Status") != "HIT", (full, attempt)
            public = url.format(id=CAPPED)
            status, headers, body = get(public)
            assert status == 200 and info_size(body) == (CAP, 800), (public, status)
            assert body == seen_by_staff[public]
            if attempt == 2:  # the shared cache does keep the public face
                assert headers["X-Cache-Status"] == "HIT", public
        for (_version, _path, _staff, anonymous, for_everyone), url in zip(CASES, images):
            full = url.format(id=f"{CAPPED}~full")
            answer = get(full)
            check(answer, anonymous, full)
            assert answer[1].get("X-Cache-Status") != "HIT", (full, attempt)
            public = url.format(id=CAPPED)
            answer = get(public)
            check(answer, for_everyone, public)
            assert answer[2] == seen_by_staff[public], public
            if attempt == 2 and answer[0] == 200:
                assert answer[1]["X-Cache-Status"] == "HIT", public
        status, headers, body = get(edge)
        assert status == 401 and not body.startswith(b"\xff\xd8"), (edge, status)
        assert headers.get("X-Cache-Status") != "HIT", (edge, attempt)
        for url, _size in escaped:
            status, headers, body = get(url)
            if url.endswith("info.json"):  # 2.1: the public face's, by a 302
                assert status == 200 and info_size(body) == (CAP, 800), (url, status)
                continue
            assert status == 401 and not body.startswith(b"\xff\xd8"), (url, status)
            assert headers.get("X-Cache-Status") != "HIT", (url, attempt)
        for url in staff_only:  # the public face and the full version: nothing
            assert get(url)[0] == 401, url
            full = url.replace(f"/{STAFF_ONLY}/", f"/{STAFF_ONLY}~full/")
            status, headers, body = get(full)
            assert status == 401 and not body.startswith(b"\xff\xd8"), (full, status)
            assert headers.get("X-Cache-Status") != "HIT", (full, attempt)


def test_a_session_signed_in_through_nginx_holds_on_both_servers_until_signed_out(cluster):
    cookie = sign_in(cluster.url)
    assert cookie
    info = f"/iiif/3/{CAPPED}~full/info.json"
    for node in cluster.nodes:
        assert get(f"{node.url}{info}", with_session(cookie))[0] == 200, node.url
        assert get(f"{node.url}{info}")[0] == 401, node.url  # without it: refused
    status, _headers, _body = get(f"{cluster.url}/auth/logout", with_session(cookie))
    assert status == 200
    ended = time.monotonic()
    waiting = set(range(len(cluster.nodes)))
    while waiting and time.monotonic() - ended < 3.0:
        for number in list(waiting):
            if get(f"{cluster.nodes[number].url}{info}", with_session(cookie))[0] == 401:
                waiting.discard(number)
        time.sleep(0.05)
    assert not waiting, f"servers {sorted(waiting)} still accept the cookie 3 s after sign-out"
    time.sleep(max(0.0, 3.0 - (time.monotonic() - ended)))
    for node in cluster.nodes:  # every worker of each, and nginx's way in too
        for _ in range(6):
            assert get(f"{node.url}{info}", with_session(cookie))[0] == 401, node.url
    assert get(f"{cluster.url}{info}", with_session(cookie))[0] == 401


def test_a_token_made_by_one_server_is_accepted_by_the_other(cluster):
    cookie = sign_in(cluster.url)
    assert cookie
    info = f"/iiif/3/{CAPPED}~full/info.json"
    tile = f"/iiif/3/{CAPPED}~full/0,0,256,256/256,/0/default.jpg"
    for maker, other in (cluster.nodes, cluster.nodes[::-1]):
        status, _headers, body = get(f"{maker.url}/auth/1/token", with_session(cookie))
        assert status == 200, body[:200]
        made = json.loads(body)
        assert made["expiresIn"] > 0
        bearer = {"Authorization": f"Bearer {made['accessToken']}"}
        assert get(f"{other.url}{info}", {**bearer, "Origin": cluster.url})[0] == 200
        # A token opens info.json, never pixels (those go by the cookie).
        assert get(f"{other.url}{tile}", {**bearer, "Origin": cluster.url})[0] == 401
        check(get(f"{other.url}{tile}", with_session(cookie)), (200, (256, 256), True),
              f"{other.url}{tile}")
        # Bound to its origin: from another page's origin it shows nothing more.
        assert get(f"{other.url}{info}", {**bearer, "Origin": "http://elders.example"})[0] == 401
    # Without a session there is no token.
    assert get(f"{cluster.nodes[0].url}/auth/1/token")[0] == 401


def test_the_public_face_s_upscales_show_no_more_detail_than_the_cap(cluster):
    """Upscaling a region of the public face shows that region's pixels of the face,
    larger: never the full scan's detail (the checkered corner stays grey)."""
    for path, size in [("3/{id}/0,0,240,160/^max/0/default.jpg", (1200, 800)),
                       ("3/{id}/pct:0,0,10,10/^1200,/0/default.jpg", (1200, 800)),
                       ("2/{id}/0,0,120,80/1200,/0/default.jpg", (1200, 800)),
                       ("2/{id}/pct:0,0,10,10/pct:500/0/default.jpg", (600, 400))]:
        public = f"{cluster.url}/iiif/{path.format(id=CAPPED)}"
        # The same region at the face's own scale: grey, as the cap allows.
        region = public.rsplit("/", 3)[0] + ("/max" if path.startswith("3") else "/full")
        region += "/0/default.jpg"
        status, _headers, body = get(region)
        assert status == 200 and pixels(body)[1] < SMOOTH, (region, status)
        # The full version refuses the same upscale to the anonymous.
        full = public.replace(f"/{CAPPED}/", f"/{CAPPED}~full/")
        assert get(full)[0] == 401, full
        status, _headers, body = get(public)
        assert status == 200, (public, status)
        found, detail = pixels(body)
        assert found == size, (public, found)
        assert detail < SMOOTH, f"{public} shows the full scan's detail (deviation {detail:.0f})"
