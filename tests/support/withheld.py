"""An archive of items under every access tier, for the tests of what the anonymous
public gets of them besides the image (transcripts, search, harvest records).

Each item's transcript holds a word of its own (and the word every transcript shares,
`SHARED`), so that a search or a record that shows a word of a withheld transcript
is seen at once. Items are published as the archive would write them; the app checks
the records on every request (`journal_interval` 0), so `move_day` moves the day of
everything that decides by it at once: the journal's scan, the index, the image
service's policy, the manifests and the harvest records.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from beeldpost import create_app

from .presentation import make_jpeg, record_data, write_record

WIDTH, HEIGHT = 1200, 800
CAP = 400
SHARED = "wijkpost"  # in every transcript

# item -> (its record's fields, the word only its transcript holds)
ITEMS: dict[str, tuple[dict, str]] = {
    "open-stuk": ({}, "kolibrie"),
    "verkleind-stuk": ({"access": "capped", "max_size": CAP}, "marmot"),
    "studiezaal-stuk": ({"access": "reading-room"}, "kameel"),
    "studiezaal-kap": ({"access": "studiezaal", "max_size": CAP}, "bever"),
    "voorwaarden-stuk": ({"access": "clickthrough"}, "lepelaar"),
    "medewerkers-stuk": ({"access": "staff"}, "zeppelin"),
    "gesloten-stuk": ({"restricted_until": "2049-01-01"}, "walrus"),
    "gesloten-kap": ({"access": "capped", "max_size": CAP, "restricted_until": 2049},
                     "narwal"),
    "verlopen-stuk": ({"restricted_until": "2001-01-01"}, "pelikaan"),
}
# Whose transcript is withheld today (staff only, or closed until 2049).
WITHHELD = ("medewerkers-stuk", "gesloten-stuk", "gesloten-kap")
# Whose image shows the public nothing (tiers.public_face is False today).
NO_IMAGE = ("studiezaal-stuk", "voorwaarden-stuk", *WITHHELD)
# Whose image the public sees up to its cap.
CAPPED = ("verkleind-stuk", "studiezaal-kap")
PUBLIC_TEXT = tuple(item for item in ITEMS if item not in WITHHELD)


def transcript(word: str) -> str:
    return (f"Eerste alinea: het verhaal van de {word}.\n\n"
            f"Tweede alinea: de {word} bij de {SHARED}.\n")


@dataclass
class Archive:
    app: object
    images: Path
    manifests: Path

    @property
    def client(self):
        return self.app.test_client()

    def publish(self, item: str, fields: dict, word: str, image: str | None = None) -> None:
        if image is None:
            make_jpeg(self.images / f"{item}.jpg", WIDTH, HEIGHT)
        write_record(self.manifests, item, record_data(item, image, **fields),
                     transcript=transcript(word))

    def forget_policies(self) -> None:
        """The image service keeps a policy 2 s per worker: a test moving the day must
        not wait for it."""
        self.app.extensions["beeldpost.images"]._policies.clear()


def make_archive(tmp_path: Path, catalogue_settings: dict, items=ITEMS) -> Archive:
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 0,
                      "viewers_dir": tmp_path / "no-viewers", **catalogue_settings})
    archive = Archive(app, images, manifests)
    for item, (fields, word) in items.items():
        archive.publish(item, fields, word)
    return archive


def move_day(monkeypatch, day: list[datetime.date]) -> None:
    """Every module that asks what day it is answers `day[0]` (change it to move on)."""
    from beeldpost.catalogue import journal, lookups, tiers
    from beeldpost.harvest import edm
    from beeldpost.presentation import manifests

    for module in (tiers, journal, lookups, manifests, edm):
        monkeypatch.setattr(module, "today", lambda: day[0])
