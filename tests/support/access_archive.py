"""The archive the access browser tests visit: the repository's records and images (the
1999 photo is `capped` at 1600 px), and three more items showing copies of the photo,
one per tier that needs a way in (`clickthrough`, `reading-room`, `staff`), served by
gunicorn behind the shipped nginx over HTTPS at https://beeld.test:PORT, beside a portal
of another site, https://portal.test:PORT (support/sites.py). A browser that resolves
both names to 127.0.0.2 reaches Beeldpost from 127.0.0.3, the reading room's network.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .live import LiveServer, free_port
from .paths import IMAGES, MANIFESTS, PHOTO
from . import sites as sites_module

STAFF, PASSWORD = "archivaris", "een-lang-wachtwoord-1999"
SECRET = "test-secret-of-the-access-browser-tests-0123456789"
READING_ROOM = "127.0.0.2"  # where a browser in the reading room resolves the sites
READING_ROOM_NETWORK = "127.0.0.3"  # and where its requests reach Beeldpost from
# item -> (access, max_size or None)
EXTRA = {"voorwaarden-stuk": ("clickthrough", 1200), "studiezaal-stuk": ("reading-room", 1200),
         "medewerkers-stuk": ("staff", None)}
TERMS = {"nl": "Alleen voor eigen studie; niet publiceren.",
         "en": "For your own study only; do not publish."}


def write_items(root: Path) -> None:
    manifests, images = root / "manifests", root / "images"
    shutil.copytree(MANIFESTS, manifests, ignore=shutil.ignore_patterns("sources"))
    shutil.copytree(IMAGES, images, ignore=shutil.ignore_patterns("*.py", "*.md"))
    photo = (MANIFESTS / f"{PHOTO}.yaml").read_text("utf-8")
    # Without its people and transcript (they name the photo's own files and regions).
    body = re.split(r"\n(?=people:|transcript:|links:)", photo)[0]
    for item, (access, cap) in EXTRA.items():
        shutil.copy(images / f"{PHOTO}.jpg", images / f"{item}.jpg")
        text = body.replace(f"id: {PHOTO}", f"id: {item}").replace(
            f"image: {PHOTO}", f"image: {item}")
        text = re.sub(r"\n(max_size|access): [\w-]+", "", text)
        text += f"\naccess: {access}\n" + (f"max_size: {cap}\n" if cap else "")
        if access == "clickthrough":
            text += f"terms:\n  nl: \"{TERMS['nl']}\"\n  en: \"{TERMS['en']}\"\n"
        (manifests / f"{item}.yaml").write_text(text, "utf-8")


class AccessArchive:
    def __init__(self, root: Path, viewers: Path):
        write_items(root)
        self.portal_folder = root / "portal"
        self.portal_folder.mkdir()
        archive_port = free_port()
        public = f"https://{sites_module.ARCHIVE_HOST}:{archive_port}"
        self.node = LiveServer(root, root / "images", "node", {
            "BEELDPOST_PUBLIC_URL": public, "BEELDPOST_SECRET": SECRET,
            "BEELDPOST_TRUSTED_PROXIES": "127.0.0.1",
            "BEELDPOST_READING_ROOM": READING_ROOM_NETWORK})
        try:
            beeldpost = Path(sys.executable).with_name("beeldpost")
            subprocess.run([str(beeldpost), "users", "add", STAFF, "--password-stdin"],
                           input=PASSWORD + "\n", text=True, env=self.node.env, check=True,
                           capture_output=True)
            for item in [PHOTO, *EXTRA]:  # pyramids built before any browser waits
                urllib.request.urlopen(f"{self.node.url}/iiif/manifests/{item}", timeout=60).read()
                try:  # (a staff-only image's full version is a 401 here, built all the same)
                    urllib.request.urlopen(f"{self.node.url}/iiif/3/{item}~full/info.json",
                                           timeout=120).read()
                except urllib.error.HTTPError as error:
                    assert error.code == 401, error
            self.sites = sites_module.Sites(root, [self.node], self.portal_folder, viewers,
                                            also_on=(READING_ROOM,), archive_port=archive_port)
        except BaseException:
            self.node.stop()
            raise
        self.archive, self.portal = self.sites.archive, self.sites.portal

    def full_width(self, item: str) -> int:
        """The scan's width, from its full version's info.json (a 401 to the anonymous,
        with the whole description)."""
        try:
            with urllib.request.urlopen(f"{self.node.url}/iiif/3/{item}~full/info.json") as answer:
                return json.load(answer)["width"]
        except urllib.error.HTTPError as error:
            return json.load(error)["width"]

    def manifest(self, item: str) -> str:
        return f"{self.archive}/iiif/manifests/{item}"

    def portal_page(self, name: str, html: str) -> str:
        (self.portal_folder / name).write_text(html, "utf-8")
        return f"{self.portal}/{name}"

    def mirador_page(self, item: str) -> str:
        """A portal page with stock Mirador as its README shows, opening `item`."""
        manifest = json.dumps(self.manifest(item))
        return self.portal_page(f"mirador-{item}.html", f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A portal with Mirador</title>
<link rel="stylesheet" href="/viewers/mirador/fonts/roboto.css"></head>
<body style="margin:0"><div id="mirador" style="position:absolute;inset:0"></div>
<script src="/viewers/mirador/mirador.min.js"></script>
<script>
window.portalViewer = Mirador.viewer({{
  id: 'mirador', windows: [{{ manifestId: {manifest} }}],
  workspaceControlPanel: {{ enabled: false }},
}});
</script></body></html>""")

    def stop(self) -> None:
        self.sites.stop()
        self.node.stop()
