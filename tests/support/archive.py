"""A generated archive for the search tests: a few hundred records in a hierarchy
(archive, fonds, series, as `collection:` lists), dated over half a century, some with
transcripts, beside the repository's own two items (which sit at the top).

Deterministic: the same records every run, so tests can count what they expect to find.
Which words go where is decided here, and `Archive` says which items hold them, so a
test asks it instead of repeating the rules.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .paths import IMAGES, MANIFESTS
from .presentation import make_jpeg, record_data, write_record

# (archive, fonds, series) and the node paths their slugs make.
SERIES = [
    ("Batavialand", "Nieuw Land", "Wijkgericht Werken"),
    ("Batavialand", "Nieuw Land", "Interviews"),
    ("Batavialand", "Zuiderzeewerken", "Dijkbouw"),
    ("Stadsarchief Lelystad", "Gemeentebestuur", "Wijkposten"),
]
PLACES = ["Lelystad", "Almere", "Dronten", "Emmeloord"]
STREETS = ["de Jol", "de Leekerhoek", "de Waterwijk", "de Zuiderzeewijk", "het Zuiderhage"]
IMAGE_COUNT = 4
WIDTH, HEIGHT = 1200, 800  # holds record_data's people regions


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def node_path(levels: tuple[str, ...]) -> str:
    return "/".join(slug(level) for level in levels)


@dataclass
class Archive:
    """The folders, and for each generated item its levels, year and words."""

    images: Path
    manifests: Path
    # item -> {levels, node, year, place, words, transcript}
    items: dict[str, dict] = field(default_factory=dict)

    def under(self, path: str) -> set[str]:
        """The generated items in node `path` or below it."""
        return {item for item, facts in self.items.items()
                if facts["node"] == path or facts["node"].startswith(path + "/")}

    def with_word(self, word: str) -> set[str]:
        return {item for item, facts in self.items.items() if word in facts["words"]}

    def with_transcript(self) -> set[str]:
        return {item for item, facts in self.items.items() if facts["transcript"]}

    def in_years(self, first: int, last: int) -> set[str]:
        return {item for item, facts in self.items.items() if first <= facts["year"] <= last}


def transcript_for(rng: random.Random, street: str, coordinator: bool) -> str:
    """Three paragraphs; the second names the neighbourhood coordinator when asked."""
    first = f"We begonnen in {street} met een wijkpost in een woning van de corporatie."
    second = ("In een wijkpost zat een wijkmanager, een wijkcoördinator en een "
              "administratieve kracht." if coordinator else
              "In de wijk werkten we met bewoners aan de buurt, huis aan huis.")
    third = rng.choice(["De dijk werd in een zomer gesloten.",
                        "Daarna kwamen er acht wijken bij.",
                        "Heel wat gemeenten kwamen kijken hoe wij het deden."])
    return f"{first}\n\n{second}\n\n{third}\n"


def build(root: Path, count: int = 240) -> Archive:
    """Write `count` records in SERIES (round robin), plus the repository's items."""
    images = root / "images"
    manifests = root / "manifests"
    images.mkdir(parents=True)
    manifests.mkdir()
    for source in IMAGES.glob("*.jpg"):
        (images / source.name).symlink_to(source)
    for source in MANIFESTS.glob("*.yaml"):
        shutil.copy(source, manifests / source.name)
    for source in MANIFESTS.glob("*.transcript.txt"):
        shutil.copy(source, manifests / source.name)
    for number in range(IMAGE_COUNT):
        make_jpeg(images / f"archief-foto-{number}.jpg", WIDTH, HEIGHT)
    (manifests / "archief").mkdir()

    rng = random.Random(20240601)
    archive = Archive(images, manifests)
    for number in range(count):
        levels = SERIES[number % len(SERIES)]
        item = f"archief-{number:04d}"
        year = 1960 + (number * 7) % 50
        place = PLACES[(number // len(SERIES)) % len(PLACES)]
        street = rng.choice(STREETS)
        coordinator = levels[2] in ("Wijkgericht Werken", "Wijkposten") and number % 3 == 0
        with_transcript = number % 5 != 4
        data = record_data(
            item, image=f"archief-foto-{number % IMAGE_COUNT}",
            label={"nl": f"{levels[2]}: {street}, {year}",
                   "en": f"{levels[2]}: {street}, {year}"},
            summary={"nl": f"Links: Anna de Vries. Rechts: Piet Jansen, in {street}",
                     "en": f"Left: Anna de Vries. Right: Piet Jansen, in {street}"},
            description={"nl": f"Foto {number} uit de serie {levels[2]}, {place}.",
                         "en": f"Photograph {number} of the series {levels[2]}, {place}."},
            date=year, place=place, collection=list(levels),
            transcript=({"file": f"{item}.transcript.txt",
                         "title": {"nl": "Een gesprek", "en": "A conversation"},
                         "citation": {"nl": "Bron: proefinterview.",
                                      "en": "Source: test interview."}}
                        if with_transcript else None),
        )
        text = transcript_for(rng, street, coordinator) if with_transcript else None
        write_record(manifests / "archief", item, data, transcript=text)
        words = {"wijkcoördinator"} if coordinator and with_transcript else set()
        archive.items[item] = {"levels": levels, "node": node_path(levels), "year": year,
                               "place": place, "words": words, "transcript": with_transcript}
    return archive
