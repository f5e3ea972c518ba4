"""Real Chromium (Debian's `chromium`, driven by Playwright): stock Mirador 4 on a page of
*another origin* opens the archive's Collection hierarchy in its collection dialog, and a
user clicks down through it to one photograph.

A generated archive on temporary folders, served by gunicorn with the production config
and BEELDPOST_COLLECTION_SIZE=12:

    /iiif/collection                          2 archives and 1 item filed under no level
      Proefarchief Flevoland                  2 fonds
        Gemeentebestuur / Wijkposten          30 items over 1997 (8), 1998 (12), 1999 (10):
                                              more than 12, so one Collection per year
        Nieuw Land / Interviews               3 items
      Stadsarchief Proef / Raad / Notulen     2 items

Mirador is given the top Collection as its window's `manifestId` (as its README shows for
a manifest); it opens its collection dialog on it (sagas/windows.js,
determineAndShowCollectionDialog). Through the dialog, as a user: the top's members are
listed by their Dutch labels; down into an archive, a fonds, the series, a year; that
year's twelve photographs are listed; picking one shows it in the window (its
manifestId in Mirador's state, its tiles answered 200). No dialog lists more than
collection_size members, and no page throws. Over HTTP, every Collection of the archive
(the ones not clicked too) lists at most 12 members.

Needs chromium and the built viewers: skipped locally without them, failing in CI
(CI=true), as tests/pages/test_browser.py. On a failure the page is screenshotted into
var/test-artifacts/ (the path is printed).
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import mimetypes
import re
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.browser import built_viewers, launched_chromium
from support.live import LiveServer, free_port
from support.presentation import REPO, make_jpeg, record_data, write_record

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "var" / "test-artifacts"
TIMEOUT_MS = 30_000
COLLECTION_SIZE = 12
IMAGES = ("proef-0", "proef-1", "proef-2")
TOP_LABEL = "Beeldpost: alle stukken"  # COLLECTION_LABEL["nl"] of manifests.py

ARCHIVE, OTHER_ARCHIVE = "Proefarchief Flevoland", "Stadsarchief Proef"
FONDS, OTHER_FONDS, SERIES = "Gemeentebestuur", "Nieuw Land", "Wijkposten"
YEARS = {1997: 8, 1998: 12, 1999: 10}  # the series: 30 items, more than COLLECTION_SIZE
PICKED_YEAR, PICKED_NUMBER = 1998, 7
LOOSE = "los-stuk"

# Mirador's Dutch labels of the dialog's filter chips (locales/nl/translation.json).
CHIPS = {"collections": re.compile(r"^\d+ collecties?$"),
         "manifests": re.compile(r"^\d+ manifests?$")}


def item_name(year: int, number: int) -> str:
    return f"wijkpost-{year}-{number:02d}"


def label_nl(item: str) -> str:
    return f"Foto {item}"


def write_archive(root: Path) -> tuple[Path, Path]:
    """Small JPEGs and records with `collection:` lists, in folders under `root`."""
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    for name in IMAGES:
        make_jpeg(images / f"{name}.jpg", 400, 300)
    records: list[tuple[str, int, list[str] | None]] = []
    for year, count in YEARS.items():
        records += [(item_name(year, n), year, [ARCHIVE, FONDS, SERIES])
                    for n in range(1, count + 1)]
    records += [(f"interview-{n}", 2001, [ARCHIVE, OTHER_FONDS, "Interviews"]) for n in (1, 2, 3)]
    records += [(f"notulen-{n}", 1985, [OTHER_ARCHIVE, "Raad", "Notulen"]) for n in (1, 2)]
    records.append((LOOSE, 2005, None))
    for index, (item, year, levels) in enumerate(records):
        data = record_data(item, image=IMAGES[index % len(IMAGES)], date=year,
                           label={"nl": label_nl(item), "en": f"Photo {item}"},
                           collection=levels, people=None, transcript=None)
        write_record(manifests, item, data, transcript=None)
    return images, manifests


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def viewers_dir() -> Path:
    return built_viewers()


@pytest.fixture(scope="module")
def browser(viewers_dir):
    yield from launched_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory, viewers_dir):
    """gunicorn (production config) on the generated archive, collections of at most 12."""
    root = tmp_path_factory.mktemp("collection-browser")
    images, _manifests = write_archive(root)
    with pytest.MonkeyPatch.context() as env:  # LiveServer passes os.environ on
        env.setenv("BEELDPOST_COLLECTION_SIZE", str(COLLECTION_SIZE))
        live = LiveServer(root, images)
    try:
        for name in IMAGES:  # build the derivatives now: the browser waits for no first render
            urllib.request.urlopen(f"{live.url}/iiif/3/{name}/info.json", timeout=60).read()
    except Exception:
        live.stop()
        raise
    yield live
    live.stop()


class Portal:
    """http://localhost:PORT (not the IIIF server's origin): stock Mirador on the Collection."""

    def __init__(self, viewers: Path, collection: str):
        self.viewers = viewers.resolve()
        self.page = mirador_page(collection).encode()
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                if path == "/mirador.html":
                    self._send(200, "text/html; charset=utf-8", owner.page)
                    return
                if path.startswith("/viewers/"):
                    target = (owner.viewers / path[len("/viewers/"):]).resolve()
                    if owner.viewers in target.parents and target.is_file():
                        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                        self._send(200, kind, target.read_bytes())
                        return
                self._send(404, "text/plain", b"not here\n")

            def _send(self, status, kind, body):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def mirador_page(collection: str) -> str:
    """Stock Mirador configured as its README shows, the Collection as the window's manifest."""
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>A portal with Mirador</title>
<link rel="stylesheet" href="/viewers/mirador/fonts/roboto.css"></head>
<body style="margin:0"><div id="mirador" style="position:absolute;inset:0"></div>
<script src="/viewers/mirador/mirador.min.js"></script>
<script>
window.portalViewer = Mirador.viewer({{
  id: 'mirador', language: 'nl',
  windows: [{{ manifestId: {json.dumps(collection)} }}],
}});
</script></body></html>"""


@pytest.fixture(scope="module")
def portal(viewers_dir, server):
    other = Portal(viewers_dir, f"{server.url}/iiif/collection")
    yield other
    other.stop()


class Visit:
    """One browser context: its responses, failed requests, page errors and console."""

    def __init__(self, browser, name: str):
        self.name = name
        self.context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.responses: list = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        self.context.on("response", lambda response: self.responses.append(response))
        self.context.on("requestfailed",
                        lambda request: self.failed.append(f"{request.url} {request.failure}"))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"{self.page.url}: {error}"))
        self.page.on("console",
                     lambda message: self.console.append(f"{message.type}: {message.text}"))

    def from_server(self, server, prefix: str) -> list:
        return [r for r in self.responses if r.url.startswith(f"{server.url}{prefix}")]

    def tiles(self, server) -> list:
        return [r for r in self.from_server(server, "/iiif/3/")
                if not urlsplit(r.url).path.endswith("/info.json")]

    def save_artifacts(self) -> Path:
        folder = ARTIFACTS / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(folder / "page-0.png"), full_page=True)
        log = io.StringIO()
        log.write("page errors:\n" + "\n".join(self.errors) + "\n\nconsole:\n"
                  + "\n".join(self.console) + "\n\nfailed requests:\n" + "\n".join(self.failed)
                  + "\n\nresponses:\n")
        for response in self.responses:
            with contextlib.suppress(Exception):
                log.write(f"{response.status} {response.url}\n")
        (folder / "log.txt").write_text(log.getvalue(), "utf-8")
        return folder

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, request):
    one = Visit(browser, request.node.name.replace("/", "_"))
    yield one
    one.close()


def run(visit_obj: Visit, check):
    """Run `check()`; on failure save a screenshot and logs and say where, then re-raise."""
    try:
        check()
    except (pytest.skip.Exception, pytest.xfail.Exception):
        raise
    except BaseException:
        folder = visit_obj.save_artifacts()
        print(f"\nbrowser artifacts (screenshots, console, requests): {folder}")
        raise


# --------------------------------------------------------------------------- Mirador


# The first window: the Collection its dialog shows, the manifest it shows, whether the
# dialog is open and whether OpenSeadragon has drawn the canvas's image.
WINDOW_STATE = """(viewer) => {
  const state = viewer.store.getState();
  const windowId = Object.keys(state.windows)[0];
  const win = state.windows[windowId];
  const reference = Mirador.OSDReferences.get(windowId);
  const osd = reference && reference.current;
  const item = osd && osd.world.getItemAt(0);
  const shown = win.collectionManifestId && state.manifests[win.collectionManifestId];
  return {
    windowId,
    manifestId: win.manifestId || null,
    dialogOn: !!win.collectionDialogOn,
    dialogCollection: win.collectionManifestId || null,
    dialogMembers: shown && shown.json ? (shown.json.items || []).length : null,
    loaded: !!(item && item.getFullyLoaded()),
  };
}"""


def window_state(page) -> dict:
    return page.evaluate(f"() => ({WINDOW_STATE})(window.portalViewer)")


class Dialog:
    """Mirador's collection dialog, used as a person would: by what it shows."""

    def __init__(self, page):
        self.page = page
        self.root = page.get_by_role("dialog")

    def showing(self, label: str, collection: str) -> None:
        """Wait until the dialog shows the Collection `label` (at URL `collection`)."""
        from playwright.sync_api import expect

        # As long as the other waits here: under CI's load the dialog once took over
        # expect()'s own 5 s to open.
        expect(self.root.locator("#select-collection .MuiTypography-h3")).to_have_text(
            label, timeout=TIMEOUT_MS)
        self.page.wait_for_function(
            f"([c]) => {{ const s = ({WINDOW_STATE})(window.portalViewer);"
            " return s.dialogOn && s.dialogCollection === c && s.dialogMembers !== null; }",
            arg=[collection])

    def listed(self, kind: str) -> list[str]:
        """The labels the dialog lists of one kind ("collections" or "manifests"): click
        the kind's chip ("2 collecties", "12 manifests"), which is there when there
        are members of that kind, and read the list under it. (Mirador keeps the chosen
        chip while going down, CollectionDialog.jsx `useState` filter: a level with only
        manifests under a chosen "collecties" lists nothing until its chip is clicked.)"""
        from playwright.sync_api import expect

        chip = self.root.get_by_role("button", name=CHIPS[kind])
        if chip.count() == 0:
            return []
        chip.click()
        expect(chip).to_have_class(re.compile(r"MuiChip-colorPrimary"))
        count = int(chip.inner_text().split()[0])
        entries = self.root.get_by_role("menuitem")
        expect(entries).to_have_count(count)
        return [text.strip() for text in entries.all_inner_texts()]

    def members(self) -> dict[str, list[str]]:
        """Both kinds, each no more than the collection size, as many as the document has."""
        listed = {kind: self.listed(kind) for kind in ("manifests", "collections")}
        total = sum(len(labels) for labels in listed.values())
        assert total <= COLLECTION_SIZE, f"the dialog lists {total} members: {listed}"
        assert total == window_state(self.page)["dialogMembers"], listed
        return listed

    def open(self, label: str) -> None:
        self.root.get_by_role("menuitem", name=label, exact=True).click()


def collection_url(server, *segments: str) -> str:
    return "/".join([f"{server.url}/iiif/collection", *segments])


# --------------------------------------------------------------------------- the test


def test_stock_mirador_browses_the_collection_hierarchy_to_a_photo(visit, server, portal):
    page = visit.page
    year_items = [item_name(PICKED_YEAR, n) for n in range(1, YEARS[PICKED_YEAR] + 1)]
    picked = item_name(PICKED_YEAR, PICKED_NUMBER)
    manifest = f"{server.url}/iiif/manifests/{picked}"
    series = ("proefarchief-flevoland", "gemeentebestuur", "wijkposten")

    def check():
        page.goto(f"{portal.url}/mirador.html")
        page.wait_for_function("() => window.portalViewer && window.portalViewer.store")
        dialog = Dialog(page)

        # The top: the two archives, and the item filed under no level.
        dialog.showing(TOP_LABEL, collection_url(server))
        assert dialog.members() == {"collections": [ARCHIVE, OTHER_ARCHIVE],
                                    "manifests": [label_nl(LOOSE)]}
        dialog.open(ARCHIVE)

        dialog.showing(ARCHIVE, collection_url(server, series[0]))
        assert sorted(dialog.members()["collections"]) == sorted([FONDS, OTHER_FONDS])
        dialog.open(FONDS)

        dialog.showing(FONDS, collection_url(server, *series[:2]))
        assert dialog.members() == {"collections": [SERIES], "manifests": []}
        dialog.open(SERIES)

        # 30 items, more than 12: a Collection per year, none more than 12.
        dialog.showing(SERIES, collection_url(server, *series))
        years = [f"{SERIES}, {year}" for year in YEARS]
        assert dialog.members() == {"collections": years, "manifests": []}
        dialog.open(f"{SERIES}, {PICKED_YEAR}")

        dialog.showing(f"{SERIES}, {PICKED_YEAR}",
                       collection_url(server, *series, f"~{PICKED_YEAR}"))
        assert sorted(dialog.members()["manifests"]) == sorted(label_nl(i) for i in year_items)
        dialog.open(label_nl(picked))

        # The window shows the photograph: its manifest, its image drawn from tiles.
        page.wait_for_function(
            f"([m]) => {{ const s = ({WINDOW_STATE})(window.portalViewer);"
            " return !s.dialogOn && s.manifestId === m && s.loaded; }",
            arg=[manifest], timeout=TIMEOUT_MS)
        assert window_state(page)["manifestId"] == manifest
        page.get_by_text(label_nl(picked), exact=True).first.wait_for(state="visible")  # its title
        settle(visit, server)

        collections = visit.from_server(server, "/iiif/collection")
        manifests = visit.from_server(server, "/iiif/manifests/")
        infos = [r for r in visit.from_server(server, "/iiif/3/") if r.url.endswith("/info.json")]
        tiles = visit.tiles(server)
        for kind, responses in (("collection", collections), ("manifest", manifests),
                                ("info.json", infos), ("tile", tiles)):
            assert responses, f"no {kind} request reached the IIIF server"
            bad = [f"{r.status} {r.url}" for r in responses if r.status != 200]
            assert not bad, f"{kind} requests that did not answer 200: {bad}"
        for response in collections + manifests + infos:  # read across origins
            assert response.header_value("access-control-allow-origin") == "*", response.url
        assert {r.url for r in manifests} == {manifest}, "Mirador fetched other manifests"
        image = json.load(urllib.request.urlopen(manifest))["items"][0]["items"][0]["items"][0]
        service = image["body"]["service"][0]["id"]
        assert all(r.url.startswith(service + "/") for r in tiles), [r.url for r in tiles]
        failed = [f for f in visit.failed if f.startswith(f"{server.url}/iiif/")]
        assert not failed, f"requests to the IIIF server failed: {failed}"
        assert not visit.errors, f"uncaught errors in the page: {visit.errors}"

    run(visit, check)


def test_no_collection_of_the_archive_lists_more_than_collection_size(server):
    """Every Collection the dialog could open (the levels and years not clicked above
    too) lists at most 12 members, and together they list every item once."""
    queue, seen, items = [f"{server.url}/iiif/collection"], set(), []
    while queue:
        url = queue.pop()
        seen.add(url)
        members = json.load(urllib.request.urlopen(url, timeout=30))["items"]
        assert 0 < len(members) <= COLLECTION_SIZE, (url, len(members))
        assert all(m["type"] in ("Collection", "Manifest") and m["label"]["nl"] for m in members)
        queue += [m["id"] for m in members if m["type"] == "Collection" and m["id"] not in seen]
        items += [m["id"].rsplit("/", 1)[1] for m in members if m["type"] == "Manifest"]
    assert sorted(items) == sorted(path.stem for path in (server.root / "manifests").glob("*.yaml"))
    assert f"{server.url}/iiif/collection/proefarchief-flevoland/gemeentebestuur/wijkposten/~1998" \
        in seen


def settle(visit: Visit, server, quiet_ms: int = 500) -> None:
    """Wait until tiles were requested and no response came for `quiet_ms`."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        visit.page.wait_for_timeout(100)
        if len(visit.responses) != seen:
            seen, quiet_since = len(visit.responses), time.monotonic()
        elif visit.tiles(server) and time.monotonic() - quiet_since >= quiet_ms / 1000:
            return
    raise AssertionError(f"the tile requests did not settle within {TIMEOUT_MS / 1000:.0f} s")
