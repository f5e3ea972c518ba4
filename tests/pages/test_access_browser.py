"""Access tiers in a real browser: stock Mirador 4 (as bundled, unpatched) on a page of
another site over HTTPS, against Beeldpost behind the shipped nginx, following IIIF
Authorization 1.0; and the 2.0 flow with a small client page of our own that follows
that spec, since no released viewer speaks it yet.

What the anonymous visitor sees, and what they do not get, is asserted on the wire:
the full version's tiles at full resolution answer 401 until sign-in (and after
logout), and 200 once signed in. The browser profile allows third-party cookies, as a
user may choose (support/sites.py): Chromium now blocks them by default, and then a
viewer on another site keeps showing the public face (the README says so).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from support.access_archive import PASSWORD, READING_ROOM, STAFF, TERMS, AccessArchive
from support.browser import CHROMIUM_ARGS, built_viewers, chromium_executable, unavailable
from support.cluster import nginx_binary
from support.paths import PHOTO, REPO
from support.sites import browser_profile, chromium_arguments

pytestmark = [pytest.mark.browser, pytest.mark.live]

ARTIFACTS = REPO / "var" / "test-artifacts"
TIMEOUT_MS = 30_000
TILE = re.compile(r"/iiif/3/([^/]+)/(\d+),(\d+),(\d+),(\d+)/(\d*),(\d*)/0/default\.jpg$")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    viewers = built_viewers()
    nginx_binary()
    served = AccessArchive(tmp_path_factory.mktemp("access-browser"), viewers)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed: `pip install -e '.[test]'`")
    if chromium_executable() is None:
        unavailable("chromium is not installed: `apt-get install chromium` (Debian)")
    running = sync_playwright().start()
    yield running
    running.stop()


class Browser:
    """One browser profile (its own cookies), coming from `address`, and its traffic."""

    def __init__(self, playwright, name: str, address: str = "127.0.0.1"):
        self.name = name
        self.profile = browser_profile(Path(tempfile.mkdtemp(prefix="profile-")))
        self.context = playwright.chromium.launch_persistent_context(
            str(self.profile), executable_path=chromium_executable(),
            args=CHROMIUM_ARGS + chromium_arguments(address), ignore_https_errors=True,
            viewport={"width": 1280, "height": 900}, locale="en-GB")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.responses: list = []
        self.errors: list[str] = []
        self.context.on("response", lambda response: self.responses.append(response))
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def mark(self) -> int:
        return len(self.responses)

    def full_version_tiles(self, item: str, since: int = 0) -> list[tuple[float, int]]:
        """(scale, status) of the full version's image requests since `since`: how many
        of the scan's pixels each output pixel stands for (1: full resolution)."""
        found = []
        for response in self.responses[since:]:
            match = TILE.search(unquote(urlsplit(response.url).path))
            if not match or match.group(1) != f"{item}~full":
                continue
            region_width, size_width = int(match.group(4)), match.group(6)
            found.append((region_width / int(size_width) if size_width else 1.0,
                          response.status))
        return found

    def info_statuses(self, item: str, since: int = 0) -> list[int]:
        return [response.status for response in self.responses[since:]
                if unquote(urlsplit(response.url).path) == f"/iiif/3/{item}~full/info.json"]

    def wait_until(self, condition, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{what}: not within {seconds:g} s")

    def settle(self, quiet_ms: int = 1000) -> None:
        seen, quiet_since = -1, time.monotonic()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            if len(self.responses) != seen:
                seen, quiet_since = len(self.responses), time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_ms / 1000:
                return

    def save(self) -> Path:
        folder = ARTIFACTS / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(self.context.pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(folder / f"page-{index}.png"))
        (folder / "log.txt").write_text(
            "errors:\n" + "\n".join(self.errors) + "\n\nresponses:\n" + "\n".join(
                f"{r.status} {r.url}" for r in self.responses), "utf-8")
        return folder

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser(playwright, request):
    opened: list[Browser] = []

    def open_browser(address: str = "127.0.0.1") -> Browser:
        opened.append(Browser(playwright, request.node.name, address))
        return opened[-1]

    yield open_browser
    failed = getattr(request.node, "rep_call", None)
    for one in opened:
        if failed is None or failed.failed:
            print(f"\nbrowser artifacts: {one.save()}")
        one.close()


# --------------------------------------------------------------------------- Mirador

ZOOM_IN = """([x, y]) => {
  // A tenth of the image's width across the view: its full resolution, and more.
  const state = window.portalViewer.store.getState();
  const osd = Mirador.OSDReferences.get(Object.keys(state.windows)[0]).current;
  const box = osd.world.getItemAt(0).getBounds();
  const view = osd.viewport.getBounds();
  const target = box.clone();
  target.width = box.width / 10;
  target.height = target.width * view.height / view.width;
  target.x = box.x + box.width * x - target.width / 2;
  target.y = box.y + box.height * y - target.height / 2;
  osd.viewport.fitBounds(target, true);
}"""
ZOOM_OUT = """() => {
  const state = window.portalViewer.store.getState();
  const osd = Mirador.OSDReferences.get(Object.keys(state.windows)[0]).current;
  osd.viewport.goHome(true);
}"""
DRAWN = """() => {
  const state = window.portalViewer && window.portalViewer.store.getState();
  if (!state) return false;
  const reference = Mirador.OSDReferences.get(Object.keys(state.windows)[0]);
  const osd = reference && reference.current;
  return !!(osd && osd.world.getItemCount() && osd.world.getItemAt(0).getFullyLoaded());
}"""


def open_mirador(visitor: Browser, archive: AccessArchive, item: str) -> None:
    visitor.page.goto(archive.mirador_page(item))
    visitor.page.wait_for_function(DRAWN, timeout=TIMEOUT_MS)
    visitor.settle()


def zoomed_in(visitor: Browser, item: str, where: tuple[float, float] = (0.5, 0.5)
              ) -> list[tuple[float, int]]:
    """Zoom to full resolution at `where` (fractions of the image) and back; the full
    version's tile statuses meanwhile (each zoom of a test goes somewhere new: a viewer
    does not ask again for a tile it was refused)."""
    since = visitor.mark()
    visitor.page.evaluate(ZOOM_IN, list(where))
    with contextlib.suppress(AssertionError):  # the deepest level asked for, or given up
        visitor.wait_until(lambda: at_full_resolution(visitor.full_version_tiles(item, since)),
                           "a tile at full resolution is asked for", seconds=8)
    visitor.settle()
    tiles = visitor.full_version_tiles(item, since)
    visitor.page.evaluate(ZOOM_OUT)
    visitor.settle()
    return tiles


def access_window(visitor: Browser, archive: AccessArchive, offer: str, confirm: str):
    """Mirador's auth bar: `offer` (the service's label) and Continue, then `confirm`
    opens the service's page in a window (returned, to be filled in)."""
    page = visitor.page
    page.get_by_text(offer).first.wait_for()
    if page.get_by_role("button", name="Continue").count():
        page.get_by_role("button", name="Continue").click()
    with page.expect_popup() as opened:
        page.get_by_role("button", name=confirm).click()
    window = opened.value
    window.wait_for_load_state()
    assert window.url.startswith(f"{archive.archive}/auth/1/")
    assert f"origin={archive.portal}" in unquote(window.url)
    return window


def beyond(tiles: list[tuple[float, int]], cap_scale: float) -> set[int]:
    """Statuses of the requests for more detail than the cap gives."""
    return {status for scale, status in tiles if scale < cap_scale * 0.99}


def at_full_resolution(tiles: list[tuple[float, int]]) -> set[int]:
    return {status for scale, status in tiles if scale <= 1.01}


def run(visitor: Browser, check) -> None:
    try:
        check()
    except BaseException:
        print(f"\nbrowser artifacts: {visitor.save()}")
        raise


def test_mirador_from_another_site_shows_the_cap_then_full_resolution_after_sign_in(
        archive, browser):
    visitor = browser()

    def check():
        open_mirador(visitor, archive, PHOTO)
        # Anonymous: the image is drawn (tiles within its cap), with a sign-in offer, and
        # no tile at full resolution is given.
        cap_scale = archive.full_width(PHOTO) / 1600
        assert visitor.info_statuses(PHOTO) == [401]
        assert 200 in {status for _, status in visitor.full_version_tiles(PHOTO)}
        visitor.page.get_by_text("Sign in as staff").wait_for()
        anonymous = zoomed_in(visitor, PHOTO)
        assert beyond(anonymous, cap_scale) == {401}, anonymous

        since = visitor.mark()
        window = access_window(visitor, archive, "Sign in as staff / Inloggen als medewerker",
                               "Sign in / Inloggen")
        window.fill("#bp-name", STAFF)
        window.fill("#bp-password", PASSWORD)
        window.click("button[type=submit]")
        visitor.wait_until(window.is_closed, "the sign-in window closes itself")
        visitor.wait_until(lambda: 200 in visitor.info_statuses(PHOTO, since),
                           "Mirador fetches the info.json again with its token")
        signed_in = zoomed_in(visitor, PHOTO, (0.2, 0.2))
        assert at_full_resolution(signed_in) == {200}, signed_in
        assert not visitor.errors

        # Logout: Mirador opens the logout service; the cap comes back.
        since = visitor.mark()
        with visitor.page.expect_popup() as opened:
            visitor.page.get_by_role("button", name="Sign out / Uitloggen").click()
        opened.value.wait_for_load_state()
        visitor.wait_until(lambda: 401 in visitor.info_statuses(PHOTO, since),
                           "Mirador asks for the info.json again, without a token")
        visitor.page.get_by_text("Sign in as staff").wait_for()
        after = zoomed_in(visitor, PHOTO, (0.8, 0.8))
        assert beyond(after, cap_scale) == {401}, after

    run(visitor, check)


def test_mirador_clickthrough_shows_the_terms_and_then_the_full_scan(archive, browser):
    visitor = browser()
    item = "voorwaarden-stuk"

    def check():
        open_mirador(visitor, archive, item)
        cap_scale = archive.full_width(item) / 1200
        assert beyond(zoomed_in(visitor, item), cap_scale) == {401}
        since = visitor.mark()
        window = access_window(visitor, archive, "Accept the terms / Voorwaarden accepteren",
                               "Accept / Accepteren")
        assert window.locator("#bp-terms").inner_text() in (TERMS["en"], TERMS["nl"])
        window.click("#bp-accept")
        visitor.wait_until(window.is_closed, "the terms window closes itself")
        visitor.wait_until(lambda: 200 in visitor.info_statuses(item, since),
                           "Mirador fetches the info.json again with its token")
        accepted = zoomed_in(visitor, item, (0.2, 0.2))
        assert at_full_resolution(accepted) == {200}, accepted
        # Accepting one image's terms opens that image only.
        open_mirador(visitor, archive, PHOTO)
        assert beyond(zoomed_in(visitor, PHOTO), archive.full_width(PHOTO) / 1600) == {401}

    run(visitor, check)


def test_mirador_in_the_reading_room_shows_the_full_scan_with_no_sign_in(archive, browser):
    inside = browser(READING_ROOM)
    outside = browser()
    item = "studiezaal-stuk"

    def check():
        open_mirador(inside, archive, item)
        assert inside.info_statuses(item) == [200]
        full = zoomed_in(inside, item)
        assert at_full_resolution(full) == {200}, full
        assert inside.page.get_by_text("Sign in as staff").count() == 0
        # Staff only stays closed in the reading room: the offer is to sign in.
        inside.page.goto(archive.mirador_page("medewerkers-stuk"))
        inside.page.get_by_text("Sign in as staff").wait_for()
        inside.settle()
        assert inside.info_statuses("medewerkers-stuk") == [401]
        assert 200 not in {status for _, status in inside.full_version_tiles("medewerkers-stuk")}
        open_mirador(outside, archive, item)
        assert outside.info_statuses(item) == [401]
        assert beyond(zoomed_in(outside, item), archive.full_width(item) / 1200) == {401}
        outside.page.get_by_text("Sign in as staff").wait_for()

    run(inside, check)


# --------------------------------------------------------------------------- UV

UV_TILE = re.compile(r"/iiif/2/([^/]+)/(\d+),(\d+),(\d+),(\d+)/(\d*),(\d*)/0/default\.jpg$")


def uv_tiles(visitor: Browser, identifier: str, since: int = 0) -> list[tuple[float, int]]:
    """(scale, status) of UV's tile requests (it takes the 2.x service) for `identifier`."""
    found = []
    for response in visitor.responses[since:]:
        match = UV_TILE.search(unquote(urlsplit(response.url).path))
        if match and match.group(1) == identifier:
            region_width, size_width = int(match.group(4)), match.group(6)
            found.append((region_width / int(size_width) if size_width else 1.0,
                          response.status))
    return found


def uv_zoom_in(visitor: Browser) -> None:
    button = visitor.page.get_by_role("button", name="Zoom In").first
    for _ in range(8):
        button.click()
        visitor.page.wait_for_timeout(250)
    visitor.settle()


def uv_statuses(visitor: Browser, path: str, since: int = 0) -> list[int]:
    return [response.status for response in visitor.responses[since:]
            if unquote(urlsplit(response.url).path) == path]


def test_uv_on_our_item_page_shows_the_cap_then_full_resolution_after_sign_in(
        archive, browser):
    visitor = browser()
    page = visitor.page
    full_info = f"/iiif/2/{PHOTO}~full/info.json"

    def check():
        page.goto(f"{archive.archive}/items/{PHOTO}/uv")
        # Tiered access (1.0): the full version's info.json sends the anonymous to the
        # public face's, which UV draws, with its way in in a bar.
        page.get_by_text("Sign in / Inloggen", exact=True).first.wait_for()
        visitor.settle()
        assert uv_statuses(visitor, full_info) == [302]
        assert 200 in {status for _, status in uv_tiles(visitor, PHOTO)}
        uv_zoom_in(visitor)
        assert not uv_tiles(visitor, f"{PHOTO}~full")  # nothing of the full version yet

        with page.expect_popup() as opened:
            page.get_by_text("Sign in / Inloggen", exact=True).first.click()
        window = opened.value
        window.wait_for_load_state()
        window.fill("#bp-name", STAFF)
        window.fill("#bp-password", PASSWORD)
        window.click("button[type=submit]")
        visitor.wait_until(window.is_closed, "the sign-in window closes itself")
        visitor.wait_until(lambda: 200 in uv_statuses(visitor, full_info),
                           "UV fetches the full version's info.json with its token")
        visitor.settle()
        since = visitor.mark()
        uv_zoom_in(visitor)
        signed_in = uv_tiles(visitor, f"{PHOTO}~full", since)
        assert at_full_resolution(signed_in) == {200}, signed_in

        # UV 4.4 has no logout of its own: signing out on the archive's page ends the
        # session, and its kept token with it; the page shows the public face again.
        page.goto(f"{archive.archive}/auth/logout")
        since = visitor.mark()
        page.goto(f"{archive.archive}/items/{PHOTO}/uv")
        page.get_by_text("Sign in / Inloggen", exact=True).first.wait_for()
        visitor.settle()
        assert uv_statuses(visitor, full_info, since)[-1] == 302
        assert not visitor.errors

    run(visitor, check)


UV_PORTAL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A portal with Universal Viewer</title>
<link rel="stylesheet" href="/viewers/uv/uv.css"></head>
<body style="margin:0"><div id="uv" class="uv" style="width:100vw;height:100vh"></div>
<script src="/viewers/uv/umd/UV.js"></script>
<script>window.portalViewer = UV.init('uv', {{ iiifManifestId: {manifest} }});</script>
</body></html>"""


def test_uv_on_another_site_shows_the_public_face_without_errors(archive, browser):
    visitor = browser()
    url = archive.portal_page("uv.html", UV_PORTAL.format(manifest=json.dumps(
        archive.manifest(PHOTO))))

    def check():
        visitor.page.goto(url)
        visitor.page.get_by_text("Sign in / Inloggen", exact=True).first.wait_for()
        visitor.settle()
        since = visitor.mark()
        uv_zoom_in(visitor)
        tiles = uv_tiles(visitor, PHOTO)
        assert tiles and {status for _, status in tiles} == {200}
        assert not uv_tiles(visitor, f"{PHOTO}~full", since)
        assert not visitor.errors

    run(visitor, check)


# --------------------------------------------------------------------------- Auth 2.0

# A client of IIIF Authorization Flow 2.0, as small as the spec allows: probe → access
# service in a window (?origin=) → token service in a hidden iframe (postMessage, checked
# for its origin and messageId) → probe again with the token → the image it points to.
AUTH2_CLIENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An Auth 2.0 client</title></head>
<body>
<h1 id="heading"></h1><p id="note"></p>
<button id="sign-in" type="button">Sign in</button>
<img id="image" alt="">
<script>
const manifestUrl = {manifest};
let probeService = null;
window.results = [];
function show(serviceId) {{
  document.getElementById('image').src = serviceId + '/full/max/0/default.jpg';
}}
async function probe(token) {{
  const headers = token ? {{ Authorization: 'Bearer ' + token }} : {{}};
  const result = await (await fetch(probeService.id, {{ headers }})).json();
  window.results.push(result);
  if (result.status === 200) {{
    show(result.location ? result.location.id : imageService.id);
  }} else {{
    document.getElementById('heading').textContent = result.heading.en[0];
    document.getElementById('note').textContent = result.note.en[0];
    if (result.substitute) show(result.substitute[0].id);
  }}
}}
let imageService = null;
(async function () {{
  const manifest = await (await fetch(manifestUrl)).json();
  const body = manifest.items[0].items[0].items[0].body;
  imageService = body.service.find((s) => (s.service || []).some((x) => x.type === 'AuthProbeService2'));
  probeService = imageService.service.find((x) => x.type === 'AuthProbeService2');
  await probe(null);
  window.ready = true;
}})();
document.getElementById('sign-in').addEventListener('click', async () => {{
  const access = probeService.service.find((x) => x.type === 'AuthAccessService2');
  const opened = window.open(access.id + '?origin=' + encodeURIComponent(location.origin));
  await new Promise((done) => {{
    const timer = setInterval(() => {{ if (opened.closed) {{ clearInterval(timer); done(); }} }}, 200);
  }});
  const tokenService = access.service.find((x) => x.type === 'AuthAccessTokenService2');
  const messageId = 'm-' + Date.now();
  const message = await new Promise((done) => {{
    window.addEventListener('message', function receive(event) {{
      if (event.origin !== new URL(tokenService.id).origin || event.data.messageId !== messageId) return;
      window.removeEventListener('message', receive);
      done(event.data);
    }});
    const frame = document.createElement('iframe');
    frame.style.display = 'none';
    frame.src = tokenService.id + '?messageId=' + messageId + '&origin=' + encodeURIComponent(location.origin);
    document.body.appendChild(frame);
  }});
  window.tokenMessage = message;
  await probe(message.accessToken);
  window.signedIn = true;
}});
</script></body></html>"""

IMAGE_WIDTH = "() => document.getElementById('image').complete && document.getElementById('image').naturalWidth"


def test_the_auth_2_flow_end_to_end_with_a_client_that_follows_the_spec(archive, browser):
    visitor = browser()
    page = visitor.page
    url = archive.portal_page("auth2.html", AUTH2_CLIENT.format(manifest=json.dumps(
        archive.manifest(PHOTO))))
    full_width = archive.full_width(PHOTO)

    def check():
        page.goto(url)
        page.wait_for_function("() => window.ready === true")
        first = page.evaluate("() => window.results[0]")
        assert first["type"] == "AuthProbeResult2" and first["status"] == 401
        assert first["substitute"][0]["id"] == f"{archive.archive}/iiif/3/{PHOTO}"
        assert page.locator("#heading").inner_text() == "This image is not public"
        page.wait_for_function(f"() => ({IMAGE_WIDTH})() > 0")
        assert page.evaluate(IMAGE_WIDTH) == 1600  # the substitute: the public face, capped

        with page.expect_popup() as opened:
            page.click("#sign-in")
        window = opened.value
        window.wait_for_load_state()
        assert window.url.startswith(f"{archive.archive}/auth/2/login?origin=")
        window.fill("#bp-name", STAFF)
        window.fill("#bp-password", PASSWORD)
        window.click("button[type=submit]")
        page.wait_for_function("() => window.signedIn === true", timeout=TIMEOUT_MS)
        message = page.evaluate("() => window.tokenMessage")
        assert message["type"] == "AuthAccessToken2" and message["accessToken"]
        second = page.evaluate("() => window.results[1]")
        assert second["status"] == 200
        assert second["location"]["id"] == f"{archive.archive}/iiif/3/{PHOTO}~full"
        page.wait_for_function(f"() => ({IMAGE_WIDTH})() === {full_width}", timeout=TIMEOUT_MS)
        assert not visitor.errors

    run(visitor, check)
