"""Beeldpost as a catalogue server with many items: `make bench-catalogue` (`N=1000` for one size).

    python bench/catalogue.py [--sizes 1000,10000,100000] [--budget MINUTES] [--duration S]
                              [--index-command "beeldpost journal"] [--fresh] [--no-install]

For each size N: generate N items deterministically into bench/work/catalogue-{N}/ (records
in an archive > fonds > series hierarchy, dated items, small distinct JPEGs, transcripts for
about 10 %; reused when already generated for the same N and recipe), build the derivatives
(`beeldpost ingest`), then measure from outside, through the CLI and HTTP only, so it keeps
working while the catalogue's internals change:

  - cold index build: whatever builds the catalogue state from scratch (today
    `beeldpost journal`, the Change Discovery scan, with its state removed first);
  - warm start: `beeldpost serve` started until the top collection answers 200;
  - p50/p99 at c=8 (wrk, as bench/run.py runs it) of the collections, the home page and
    its page 500, the search page, manifests, info.json, tiles, the last Change Discovery
    page and the sitemap; every request has a timeout, and what does not exist yet, errs
    or times out is reported as such;
  - how long an edited record takes to show in its collection and in Change Discovery;
  - RSS per gunicorn worker afterwards.

Each size has a time budget (all three sizes together fit in 40 minutes on 2 cores); what
does not fit is reported as "not measured" with the reason. Writes
bench/results/catalogue.md and .json (sizes not run this time are kept from the previous
results, with their own commit and date, unless --fresh). See bench/README.md.
Benchmarks are not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import procstats  # noqa: E402
import run  # noqa: E402  (the benchmark harness: wrk runs, report helpers)
import servers  # noqa: E402

WORK = BENCH / "work"
RESULTS = BENCH / "results"

# The generator's recipe: bump RECIPE whenever what it writes changes, so catalogues
# generated before are made again rather than reused.
RECIPE = "catalogue-1"
SEED = 15  # issue 15
IMAGE_SIZE = (320, 240)
IMAGE_QUALITY = 80
TRANSCRIPT_SHARE = 0.10
WORD = "wijkcoördinator"
WORD_SHARE = 0.05  # of the transcripts

DEFAULT_SIZES = (1000, 10000, 100000)
# Minutes per size; together 40, what a full run may take on 2 cores.
BUDGET_MINUTES = {1000: 3, 10000: 8, 100000: 29}
REQUEST_TIMEOUT = 30.0  # seconds, every request (wrk's --timeout too)
WARM_START_LIMIT = 60.0  # seconds until the top collection must have answered
SETTLE_LIMIT = 120.0  # seconds to wait for the server to go idle after starting
EDIT_TIMEOUT = 60.0  # seconds to wait for an edit to show
SAMPLE_ITEMS = 50  # manifests, info.json and tiles are measured over this many items
CONNECTIONS, THREADS = 8, 2
MAX_WRK_SECONDS = 30.0
SITEMAP_MAX_URLS = 50_000  # the sitemap protocol's limit per file

# Targets of issue 15 at 100,000 items.
TARGET_SIZE = 100_000
BASE_SIZE = 1000
TARGET_P50_MS = 20.0
TARGET_SEARCH_P50_MS = 50.0
TARGET_GROWTH = 1.5
TARGET_WARM_START_S = 5.0
TARGET_EDIT_S = 5.0
TARGET_INDEX_S = 180.0
TARGET_RSS_MB = 300.0


def say(message: str) -> None:
    run.say(message)


# =========================================================================== the catalogue

ARCHIVE = "Archief Nieuw Land"
FONDS = (
    "Gemeentebestuur Lelystad", "Rijksdienst voor de IJsselmeerpolders",
    "Woningbouwvereniging Lelystad", "Fotopersbureau Zuiderzee", "Stichting Welzijn Flevoland",
    "Politie Flevoland", "Familie Bakker-Çelik", "Kerkelijke gemeenten in de polder",
    "Scholen en onderwijs", "Sportverenigingen en clubs",
)
# Series per fonds: sizes vary, so some series (and every large fonds) exceed 1,000 members
# at 10,000 items and more.
SERIES_COUNTS = (3, 24, 7, 40, 12, 2, 60, 5, 18, 30)
SERIES_TOPICS = (
    "Bouw en wonen", "Wijkgericht Werken", "Opening van gebouwen", "Verkiezingen",
    "Jeugd en sport", "Havens en dijken", "Landbouw en tuinders", "Reünies", "Bestuurders",
    "Kunst in de openbare ruimte", "Markten en winkels", "Verkeer en vervoer", "Feesten",
    "Onderwijs", "Kerk en geloof", "Natuur en landschap", "Inburgering", "Cafés en horeca",
    "Zorg en welzijn", "Portretten",
)
SUBJECTS = (
    ("Opening van de wijkpost", "Opening of the neighbourhood office"),
    ("Bouw van de Houtribdijk", "Building the Houtrib dyke"),
    ("Markt op het Agoraplein", "Market on the Agoraplein"),
    ("Reünie van oud-polderwerkers", "Reunion of former polder workers"),
    ("Bezoek van de burgemeester", "Visit of the mayor"),
    ("Kinderen op het schoolplein", "Children in the schoolyard"),
    ("Oogst op de akker", "Harvest in the field"),
    ("Ingebruikname van het gemaal", "Commissioning of the pumping station"),
    ("Vergadering van de wijkraad", "Meeting of the neighbourhood council"),
    ("Optocht op Koninginnedag", "Parade on Queen's Day"),
    ("Wateroverlast na de storm", "Flooding after the storm"),
    ("Toernooi in de sporthal", "Tournament in the sports hall"),
    ("Eerste paal van het stadhuis", "First pile of the town hall"),
    ("Taalcursus in het buurthuis", "Language course in the community centre"),
    ("Coöperatie van tuinders", "Growers' cooperative"),
    ("Tentoonstelling in het café", "Exhibition in the café"),
    ("Verhuizing naar de nieuwe woning", "Moving into the new house"),
    ("Dienst in de noodkerk", "Service in the temporary church"),
    ("Schaatsen op de vaart", "Skating on the canal"),
    ("Aanleg van de spoorlijn", "Building the railway"),
    ("Portret van een pionier", "Portrait of a pioneer"),
    ("Geëmigreerde gezinnen op bezoek", "Emigrated families visiting"),
)
PLACES = ("Lelystad", "Dronten", "Almere", "Emmeloord", "Urk", "Zeewolde", "Biddinghuizen",
          "Swifterbant", "Ens", "Kraggenburg", "Marknesse", "Bant")
PHOTOGRAPHERS = ("Jan Blom", "Truus Schröder", "Aïcha el Idrissi", "René Müller", "Zoë de Wit",
                 "Joop van 't Hek", "Çiğdem Yılmaz", "Frans Brüggen", "Noëlle Janssen",
                 "Henk Bosma")
RIGHTS = (
    ("http://rightsstatements.org/vocab/InC/1.0/",
     {"nl": "Alle rechten voorbehouden", "en": "All rights reserved"}),
    ("http://creativecommons.org/publicdomain/zero/1.0/",
     {"nl": "Publiek domein (CC0)", "en": "Public domain (CC0)"}),
    ("http://creativecommons.org/licenses/by/4.0/", {"nl": "CC BY 4.0", "en": "CC BY 4.0"}),
    ("http://rightsstatements.org/vocab/NKC/1.0/",
     {"nl": "Geen bekende auteursrechten", "en": "No known copyright"}),
)
WORDS = (
    "de het een en van in op met voor dat die niet was werd hadden wij ik zij toen later "
    "polder dijk woning wijk buurt gemeente bewoners vergadering coördinatie één ideeën "
    "reünie café financiële privé overleg afspraak jongeren ouderen school werk haven gemaal "
    "akker tuinders coöperatie geïnteresseerd beëindigd geëvalueerd zeeën creëren zó nóg "
    "kwam ging begon zagen moesten wilden kregen belangrijk moeilijk prachtig nieuw oud "
    "eerste laatste samen altijd nooit soms vaak ook nog maar wel al heel echt naïef "
    "enquête patiënten vóór óók hè daarná Curaçao Surinaamse Turkse Marokkaanse Molukse"
).split()


def _cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


FONDS_WEIGHTS = _cumulative(1 / (f + 1) for f in range(len(FONDS)))
SERIES_WEIGHTS = [_cumulative(1 / (s + 1) for s in range(count)) for count in SERIES_COUNTS]


def item_id(i: int) -> str:
    return f"cat-{i:06d}"


def series_name(fonds: int, series: int) -> str:
    topic = SERIES_TOPICS[(fonds * 7 + series) % len(SERIES_TOPICS)]
    return f"Serie {fonds + 1:02d}.{series + 1:02d} {topic}"


def fonds_name(fonds: int) -> str:
    return f"Fonds {fonds + 1:02d} {FONDS[fonds]}"


def _q(value: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(value, ensure_ascii=False)


def _text(nl: str, en: str) -> str:
    return f"{{nl: {_q(nl)}, en: {_q(en)}}}"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    if len(words) > 8 and rng.random() < 0.4:
        words[rng.randrange(3, len(words) - 2)] += ","
    return words[0][:1].upper() + " ".join(words)[1:] + "."


def _transcript(rng: random.Random, place: str, with_word: bool) -> str:
    paragraphs = [[_sentence(rng) for _ in range(rng.randint(3, 6))]
                  for _ in range(rng.randint(3, 7))]
    if with_word:
        where = paragraphs[rng.randrange(len(paragraphs))]
        where.insert(rng.randrange(len(where) + 1),
                     f"In die jaren werd ik {WORD} in {place}, dat was nieuw.")
    return "\n\n".join(" ".join(sentences) for sentences in paragraphs) + "\n"


def describe_item(i: int) -> dict:
    """Item i, the same in every catalogue size (its own seeded generator)."""
    rng = random.Random(f"{SEED}-{RECIPE}-{i}")
    fonds = rng.choices(range(len(FONDS)), cum_weights=FONDS_WEIGHTS)[0]
    series = rng.choices(range(SERIES_COUNTS[fonds]), cum_weights=SERIES_WEIGHTS[fonds])[0]
    year = rng.randint(1900, 2000)
    if rng.random() < 0.5:
        date = str(year)
    else:
        date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    subject_nl, subject_en = rng.choice(SUBJECTS)
    place = rng.choice(PLACES)
    photographer = rng.choice(PHOTOGRAPHERS)
    rights, rights_label = rng.choice(RIGHTS)
    transcript = rng.random() < TRANSCRIPT_SHARE
    with_word = transcript and rng.random() < WORD_SHARE
    return {"i": i, "id": item_id(i), "fonds": fonds, "series": series, "year": year,
            "date": date, "subject": (subject_nl, subject_en), "place": place,
            "photographer": photographer, "rights": rights, "rights_label": rights_label,
            "transcript": transcript, "word": with_word, "rng": rng}


def record_text(item: dict) -> str:
    ident, (subject_nl, subject_en) = item["id"], item["subject"]
    place, year, photographer = item["place"], item["year"], item["photographer"]
    inventory = f"{item['fonds'] + 1:02d}.{item['series'] + 1:02d}.{item['i']}"
    fonds, series = fonds_name(item["fonds"]), series_name(item["fonds"], item["series"])
    date = item["date"]
    lines = [
        f"# Generated by bench/catalogue.py ({RECIPE}, seed {SEED}); not a real record.",
        f"id: {ident}",
        f"image: {ident}",
        "language: nl",
        "label: " + _text(f"{subject_nl} in {place}, {year} (inv. {inventory})",
                          f"{subject_en} in {place}, {year} (inv. {inventory})"),
        "summary: " + _text(f"{subject_nl} in {place}. Foto: {photographer}.",
                            f"{subject_en} in {place}. Photo: {photographer}."),
        f"date: {date}" if "-" not in date else f"date: {_q(date)}",
        f"photographer: {_q(photographer)}",
        f"source: {_q(ARCHIVE)}",
        f"place: {_q(place)}",
        f"collection: [{_q(ARCHIVE)}, {_q(fonds)}, {_q(series)}]",
        "credit: " + _text(f"foto {photographer}, bron {ARCHIVE}",
                           f"photo {photographer}, source {ARCHIVE}"),
        f"rights: {item['rights']}",
        "rights_label: " + _text(item["rights_label"]["nl"], item["rights_label"]["en"]),
    ]
    if item["transcript"]:
        lines += [
            "transcript:",
            f"  file: {ident}.transcript.txt",
            "  title: " + _text(f"Interview over {subject_nl.lower()}",
                                f"Interview about {subject_en.lower()}"),
            "  citation: " + _text(f"Bron: {ARCHIVE}, {fonds}, interview uit {year}.",
                                   f"Source: {ARCHIVE}, {fonds}, interview from {year}."),
        ]
    return "\n".join(lines) + "\n"


_NOISE = None


def image_bytes(item: dict) -> bytes:
    """A small JPEG of its own: coloured blocks, the item's number, photo-like grain."""
    import io

    from PIL import Image, ImageDraw

    global _NOISE
    width, height = IMAGE_SIZE
    if _NOISE is None:
        # Grain from a seeded generator (Pillow's effect_noise is not seeded), shared by all.
        grain = random.Random(f"{SEED}-grain").randbytes(width * height)
        _NOISE = Image.frombytes("L", (width, height), grain).convert("RGB")
    rng = random.Random(f"{SEED}-{RECIPE}-image-{item['i']}")
    picture = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle([x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120)],
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    draw.text((10, 10), f"{item['id']} {item['year']}", fill=(255, 255, 255))
    picture = Image.blend(picture, _NOISE, 0.25)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=IMAGE_QUALITY)
    return out.getvalue()


def _generate_range(task: tuple[int, int, str]) -> list[tuple[int, int, int, bool, bool]]:
    start, end, folder = task
    root = Path(folder)
    manifests, images = root / "manifests", root / "images"
    out = []
    for i in range(start, end):
        item = describe_item(i)
        if item["transcript"]:
            (manifests / f"{item['id']}.transcript.txt").write_text(
                _transcript(item["rng"], item["place"], item["word"]), encoding="utf-8")
        (manifests / f"{item['id']}.yaml").write_text(record_text(item), encoding="utf-8")
        (images / f"{item['id']}.jpg").write_bytes(image_bytes(item))
        out.append((i, item["fonds"], item["series"], item["transcript"], item["word"]))
    return out


def recipe_of(n: int) -> dict:
    return {"recipe": RECIPE, "seed": SEED, "items": n, "image_size": list(IMAGE_SIZE),
            "image_quality": IMAGE_QUALITY}


def _count(folder: Path, suffix: str) -> int:
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(suffix))
    except OSError:
        return 0


def generate(n: int, folder: Path) -> dict:
    """The catalogue of n items in folder (reused when it is there for the same recipe)."""
    stamp = folder / "recipe.json"
    restore_edit(folder)
    try:
        existing = json.loads(stamp.read_text())
    except (OSError, ValueError):
        existing = None
    if (existing and existing.get("recipe_of") == recipe_of(n)
            and _count(folder / "manifests", ".yaml") == n
            and _count(folder / "images", ".jpg") == n):
        return {**existing["stats"], "reused": True, "seconds": 0.0,
                "generated_in_s": existing.get("generated_in_s")}
    started = time.monotonic()
    say(f"catalogue {n}: generating {n} items into {folder.relative_to(REPO)}/")
    for name in ("manifests", "images", "cache", "state", "paths"):
        shutil.rmtree(folder / name, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    (folder / "manifests").mkdir(parents=True)
    (folder / "images").mkdir(parents=True)
    chunk = 500
    tasks = [(start, min(n, start + chunk), str(folder)) for start in range(0, n, chunk)]
    rows: list[tuple] = []
    processes = max(1, min(os.cpu_count() or 1, 4))
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for done in pool.imap_unordered(_generate_range, tasks):
            rows.extend(done)
    series_sizes: dict[tuple[int, int], int] = {}
    fonds_sizes: dict[int, int] = {}
    for _i, fonds, series, _t, _w in rows:
        series_sizes[(fonds, series)] = series_sizes.get((fonds, series), 0) + 1
        fonds_sizes[fonds] = fonds_sizes.get(fonds, 0) + 1
    stats = {
        "items": n,
        "fonds": len(fonds_sizes),
        "series": len(series_sizes),
        "largest_fonds": max(fonds_sizes.values()),
        "largest_series": max(series_sizes.values()),
        "smallest_series": min(series_sizes.values()),
        # The archive, every fonds and every series: how many hold over 1,000 items.
        "levels_over_1000": sum(1 for size in [n, *fonds_sizes.values(), *series_sizes.values()]
                                if size > 1000),
        "transcripts": sum(1 for row in rows if row[3]),
        "with_word": sum(1 for row in rows if row[4]),
        "years": [1900, 2000],
        "image": f"{IMAGE_SIZE[0]}×{IMAGE_SIZE[1]} JPEG Q{IMAGE_QUALITY}",
        "images_mb": round(sum(entry.stat().st_size for entry in os.scandir(folder / "images"))
                           / 1e6, 1),
    }
    elapsed = time.monotonic() - started
    stamp.write_text(json.dumps({"recipe_of": recipe_of(n), "stats": stats,
                                 "generated_in_s": round(elapsed, 1)}, indent=2) + "\n")
    say(f"catalogue {n}: generated in {elapsed:.1f} s ({stats['series']} series, largest "
        f"{stats['largest_series']}; {stats['transcripts']} transcripts, {stats['with_word']} "
        f"with '{WORD}')")
    return {**stats, "reused": False, "seconds": round(elapsed, 1)}


# =========================================================================== the server, from outside

@dataclass
class Fetched:
    status: int | None
    headers: dict
    body: bytes
    seconds: float
    error: str | None = None  # "timed out after 30 s", or the socket error

    @property
    def ms(self) -> float:
        return round(self.seconds * 1000, 1)


def fetch(port: int, path: str, timeout: float = REQUEST_TIMEOUT) -> Fetched:
    started = time.perf_counter()
    try:
        status, headers, body = servers.get(port, path, timeout=max(0.5, timeout))
    except TimeoutError:
        return Fetched(None, {}, b"", time.perf_counter() - started,
                       f"timed out after {timeout:.3g} s")
    except (OSError, http.client.HTTPException) as error:
        return Fetched(None, {}, b"", time.perf_counter() - started,
                       f"error: {type(error).__name__}: {error}")
    return Fetched(status, headers, body, time.perf_counter() - started)


def json_of(fetched: Fetched) -> dict | None:
    if fetched.status != 200:
        return None
    try:
        value = json.loads(fetched.body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def label_text(label) -> str:
    if isinstance(label, dict):
        return " ".join(str(v) for values in label.values()
                        for v in (values if isinstance(values, list) else [values]))
    return str(label or "")


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def beeldpost_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BEELDPOST_DEBUG", None)
    env.update(catalogue_settings(folder))
    env.update({"BEELDPOST_IMAGES": str(folder / "images"), "BEELDPOST_CACHE": str(folder / "cache")})
    return env


def catalogue_settings(folder: Path) -> dict[str, str]:
    return {"BEELDPOST_MANIFESTS": str(folder / "manifests"),
            "BEELDPOST_JOURNAL": str(folder / "state" / "journal.sqlite3")}


def cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "beeldpost.cli", *arguments]


def cli_commands() -> list[str]:
    """The subcommands `beeldpost --help` lists."""
    try:
        text = subprocess.run(cli("--help"), cwd=REPO, capture_output=True, text=True,
                              timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = re.search(r"\{([a-z,_-]+)\}", text)
    return found.group(1).split(",") if found else []


def index_command(given: str | None) -> list[str]:
    """What builds the catalogue state from scratch: --index-command, else `beeldpost index`
    when the CLI has one, else `beeldpost journal` (today's closest: the Change Discovery scan)."""
    if given:
        words = given.split()
        return cli(*words[1:]) if words and words[0] == "beeldpost" else words
    commands = cli_commands()
    return cli("index") if "index" in commands else cli("journal")


def command_name(command: list[str]) -> str:
    if command[:3] == [sys.executable, "-m", "beeldpost.cli"]:
        return "beeldpost " + " ".join(command[3:])
    return " ".join(command)


def ingest(n: int, folder: Path, deadline: Deadline, reserve: float) -> dict:
    """`beeldpost ingest` of every image, in chunks on every core; bounded by the budget."""
    identifiers = [item_id(i) for i in range(n)]
    logs = folder / "ingest-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    parallel = max(1, min(os.cpu_count() or 1, 4))
    size = max(1, min(5000, math.ceil(n / (parallel * 2))))
    chunks = [identifiers[start:start + size] for start in range(0, n, size)]
    env = beeldpost_env(folder)
    files_before = files_in(folder / "cache")
    started = time.monotonic()
    allowance = deadline.left() - reserve
    running: list[tuple[subprocess.Popen, int, int]] = []
    done_images, failures, next_chunk = 0, 0, 0
    stopped = None
    while next_chunk < len(chunks) or running:
        while next_chunk < len(chunks) and len(running) < parallel and stopped is None:
            log = open(logs / f"ingest-{next_chunk:03d}.log", "wb")
            process = subprocess.Popen(cli("ingest", *chunks[next_chunk]), cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            log.close()
            running.append((process, next_chunk, len(chunks[next_chunk])))
            next_chunk += 1
        time.sleep(0.2)
        for entry in list(running):
            process, number, count = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            done_images += count
            text = (logs / f"ingest-{number:03d}.log").read_text(errors="replace")
            ready = re.search(r"(\d+) of (\d+) images ready", text)
            failures += count - int(ready.group(1)) if ready else count
        elapsed = time.monotonic() - started
        if stopped is None and next_chunk < len(chunks):
            rate = done_images / elapsed if done_images else 0.0
            projected = (n - done_images) / rate if rate else None
            if elapsed > allowance:
                stopped = f"did not finish within its {allowance:.0f} s of the budget"
            elif projected and done_images >= 0.2 * n and elapsed + projected > 1.25 * allowance:
                stopped = (f"would take ≈ {(elapsed + projected) / 60:.1f} min "
                           f"({rate:.0f} images/s), beyond its {allowance / 60:.1f} min of the budget")
        if stopped and elapsed > allowance:
            for process, _number, _count in running:
                process.terminate()  # our own child, by its pid
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            running.clear()
    elapsed = time.monotonic() - started
    result = {"seconds": round(elapsed, 1), "images": done_images, "failures": failures,
              "new_cache_files": files_in(folder / "cache") - files_before,
              "processes": parallel, "command": "beeldpost ingest ID… (chunks of "
              f"{size}, {parallel} at a time)"}
    if stopped:
        result["stopped"] = f"ingest {stopped} ({done_images} of {n} images); the derivatives " \
                            "built so far are kept, so a rerun continues"
    return result


def files_in(folder: Path) -> int:
    """Files anywhere below folder (how many derivatives an ingest added, without knowing
    the cache's layout)."""
    return sum(len(names) for _root, _dirs, names in os.walk(folder))


def reset_state(folder: Path) -> list[str]:
    """Remove the catalogue state (not the derivatives): the journal and the cache folder's
    own files (its subfolders hold the derivatives)."""
    removed = []
    state = folder / "state"
    if state.exists():
        removed += [str(p.relative_to(folder)) for p in state.iterdir()]
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    cache = folder / "cache"
    if cache.is_dir():
        for entry in cache.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
                removed.append(str(entry.relative_to(folder)))
    return removed


def build_index(folder: Path, command: list[str], timeout: float) -> dict:
    removed = reset_state(folder)
    log_path = folder / "logs" / "index.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=beeldpost_env(folder), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = process.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            code = None
    elapsed = time.monotonic() - started
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    result = {"command": command_name(command), "seconds": round(elapsed, 1), "exit": code,
              "removed_first": removed, "last_line": run.without_machine_paths(tail[0])[:200]}
    if code is None:
        result["stopped"] = f"did not finish within {timeout:.0f} s"
    elif code != 0:
        result["stopped"] = f"exited with status {code}: {result['last_line']}"
    return result


def start_server(folder: Path, deadline: Deadline) -> tuple[servers.Server, dict]:
    """`beeldpost serve` with everything built: time until /health and the top collection answer."""
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("beeldpost-*.log"):
        old.unlink()
    server = servers.beeldpost(REPO, folder, response_cache=False, logs=logs,
                               extra_env=catalogue_settings(folder))
    server.prefix = ""
    limit = min(WARM_START_LIMIT, max(5.0, deadline.left() - 60))
    started = time.monotonic()
    server.start("/health", timeout=limit)
    up = time.monotonic() - started
    warm: dict = {"health_s": round(up, 2), "limit_s": limit}
    body = None
    while True:
        left = limit - (time.monotonic() - started)
        if left <= 0:
            warm["stopped"] = f"the top collection did not answer 200 within {limit:.0f} s"
            break
        got = fetch(server.port, "/iiif/collection", timeout=left)
        if got.status == 200:
            warm["seconds"] = round(time.monotonic() - started, 2)
            body = got
            break
        if got.error and got.error.startswith("timed out"):
            warm["stopped"] = f"the top collection did not answer within {limit:.0f} s of the start"
            break
        warm.setdefault("answers_before_200", []).append(got.status or got.error)
        time.sleep(0.1)
    warm["_collection"] = body
    # Then until the server is idle (a start may keep scanning in the background).
    settle_limit = min(SETTLE_LIMIT, max(1.0, deadline.left() - 120))
    settle_started = time.monotonic()
    run.wait_quiet(server, limit=settle_limit)
    warm["idle_after_s"] = round(time.monotonic() - started, 1)
    warm["settled"] = time.monotonic() - settle_started < settle_limit - 0.5
    return server, warm


# --------------------------------------------------------------------------- the requests

@dataclass
class Row:
    key: str
    title: str
    paths: list[str] = field(default_factory=list)
    na_on_404: bool = False  # a 404 means: not implemented yet
    skipped: str | None = None  # why it is not measured ("not implemented", …)
    note: str = ""


ROW_ORDER = ("collection_top", "collection_deep", "home_1", "home_500", "search", "manifest",
             "info", "tile", "discovery_last", "sitemap", "sitemap_child")
SEARCH_PATH = f"/search?q={quote(WORD)}"


def sample_items(n: int) -> list[str]:
    rng = random.Random(f"{SEED}-sample")
    return [item_id(i) for i in sorted(rng.sample(range(n), min(SAMPLE_ITEMS, n)))]


def discover(server: servers.Server, n: int, top: Fetched | None) -> tuple[dict[str, Row], dict]:
    """The URL of every row, found the way a client finds it (following links)."""
    port = server.port
    rows: dict[str, Row] = {}
    facts: dict = {}
    rows["collection_top"] = Row("collection_top", "top collection `/iiif/collection`",
                                 ["/iiif/collection"])
    deep = Row("collection_deep", "deep collection (following `items` of type Collection)")
    document = json_of(top) if top is not None else None
    if top is None:
        deep.skipped = ("not measured: the top collection did not answer at the warm start, so "
                        "there were no members to follow")
    elif document is None:
        deep.skipped = f"not measured: the top collection gave no document ({top.error or top.status})"
    else:
        facts["top_members"] = len(document.get("items", []))
        facts["top_collection_kb"] = round(len(top.body) / 1024, 1)
        depth, current, trail = 0, document, []
        while depth < 10:
            children = [entry for entry in current.get("items", []) if entry.get("type") == "Collection"]
            if not children:
                break
            path = path_of(children[0]["id"])
            got = fetch(port, path)
            child = json_of(got)
            if child is None:
                deep.skipped = f"the collection {path} answered {got.error or got.status}"
                break
            depth += 1
            trail.append(label_text(children[0].get("label"))[:80])
            current = child
            deep.paths = [path]
        if depth == 0 and not deep.skipped:
            deep.skipped = "n/a: not implemented (the top collection has no member of type Collection)"
        elif depth:
            members = current.get("items", [])
            deep.title = f"deep collection (depth {depth})"
            deep.note = f"{len(members)} members; {' > '.join(trail)}"
            facts["deep"] = {"depth": depth, "path": deep.paths[0], "members": len(members),
                             "trail": trail,
                             "first_manifest": next((path_of(m["id"]) for m in members
                                                     if m.get("type") == "Manifest"), None)}
    rows["collection_deep"] = deep
    rows["home_1"] = Row("home_1", "home page 1 `/`", ["/"])
    home_500 = Row("home_500", "home page 500 `/?page=500`", ["/?page=500"])
    if fetch(port, "/?page=500").status == 404:  # fewer pages: the last one (rel="last")
        last_page = re.search(r'rel="last" href="([^"]+)"', fetch(port, "/").body.decode("utf-8", "replace"))
        if last_page:
            home_500.paths = [f"/{last_page.group(1).replace('&amp;', '&')}"]
            home_500.title = f"home page 500 (here the last, `{home_500.paths[0]}`)"
    rows["home_500"] = home_500
    rows["search"] = Row("search", f"search page `/search?q={WORD}`", [SEARCH_PATH], na_on_404=True)
    items = sample_items(n)
    facts["sample_items"] = len(items)
    rows["manifest"] = Row("manifest", f"manifest ({len(items)} items)",
                           [f"/iiif/manifests/{item}" for item in items])
    rows["info"] = Row("info", f"`info.json` ({len(items)} images)",
                       [f"/iiif/3/{item}/info.json" for item in items])
    tile = Row("tile", f"tile ({len(items)} images)")
    info = json_of(fetch(port, f"/iiif/3/{items[0]}/info.json"))
    if info is None:
        tile.skipped = "not measured: info.json did not answer"
    else:
        spec = (info.get("tiles") or [{}])[0]
        tile_w = spec.get("width", 256)
        tile_h = spec.get("height", tile_w)
        width, height = info.get("width", tile_w), info.get("height", tile_h)
        region_w, region_h = min(tile_w, width), min(tile_h, height)
        tail = f"0,0,{region_w},{region_h}/{region_w},/0/default.jpg"
        tile.paths = [f"/iiif/3/{item}/{tail}" for item in items]
        tile.title = f"tile ({len(items)} images, `{tail}`)"
    rows["tile"] = tile
    last = Row("discovery_last", "last Change Discovery page (`last` of `/iiif/discovery`)")
    got = fetch(port, "/iiif/discovery")
    stream = json_of(got)
    if stream is None or not isinstance(stream.get("last"), dict):
        last.skipped = f"not measured: /iiif/discovery answered {got.error or got.status}"
    else:
        last.paths = [path_of(stream["last"]["id"])]
        last.note = f"{stream.get('totalItems')} activities"
        facts["discovery_total"] = stream.get("totalItems")
        facts["discovery_last"] = last.paths[0]
    rows["discovery_last"] = last
    sitemap = Row("sitemap", "sitemap `/sitemap.xml`", ["/sitemap.xml"])
    child = Row("sitemap_child", "a child sitemap of the index")
    got = fetch(port, "/sitemap.xml")
    kind, locations = sitemap_kind(got)
    facts["sitemap"] = {"status": got.status or got.error, "kind": kind, "entries": len(locations),
                        "kb": round(len(got.body) / 1024, 1)}
    if kind == "index":
        sitemap.title = "sitemap index `/sitemap.xml`"
        sitemap.note = f"index of {len(locations)} sitemap(s)"
        child.paths = [path_of(locations[0])] if locations else []
        child.title = f"child sitemap `{child.paths[0]}`" if child.paths else child.title
        if not locations:
            child.skipped = "not measured: the index lists no sitemap"
        else:
            counted = sitemap_kind(fetch(port, child.paths[0]))
            child.note = f"{len(counted[1])} URLs"
            facts["sitemap"]["first_child_urls"] = len(counted[1])
    elif kind == "urlset":
        sitemap.note = f"{len(locations)} URLs in one file" + (
            f", over the protocol's {SITEMAP_MAX_URLS:,} per file" if len(locations) > SITEMAP_MAX_URLS
            else "")
        child.skipped = "n/a: `/sitemap.xml` is a single sitemap, not an index"
    else:
        child.skipped = "n/a: no sitemap index"
    rows["sitemap"] = sitemap
    rows["sitemap_child"] = child
    return rows, facts


def sitemap_kind(got: Fetched) -> tuple[str | None, list[str]]:
    if got.status != 200:
        return None, []
    try:
        root = ET.fromstring(got.body)
    except ET.ParseError:
        return None, []
    tag = root.tag.rsplit("}", 1)[-1]
    locations = [element.text or "" for element in root.iter() if element.tag.endswith("loc")]
    if tag == "sitemapindex":
        return "index", locations
    if tag == "urlset":
        return "urlset", locations
    return tag, locations


ITEM_LINK = re.compile(rb'/items/([a-z0-9][a-z0-9._-]*)"')


def measure_row(server: servers.Server, row: Row, folder: Path, deadline: Deadline,
                duration: float, context: dict) -> dict:
    result: dict = {"title": row.title, "paths": row.paths[:3] + (["…"] if len(row.paths) > 3 else []),
                    "urls": len(row.paths)}
    if row.note:
        result["note"] = row.note
    if row.skipped:
        result["outcome"] = "n/a" if row.skipped.startswith("n/a") else "not measured"
        result["detail"] = row.skipped
        return result
    if deadline.left() < 45:
        result["outcome"] = "not measured"
        result["detail"] = "not measured: the size's time budget was used up"
        return result
    # Sequential probes: each URL of a set once (a single URL twice), for at most ~20 s.
    probes: list[Fetched] = []
    targets = row.paths if len(row.paths) > 1 else row.paths * 2
    probe_started = time.monotonic()
    for path in targets:
        got = fetch(server.port, path, timeout=min(REQUEST_TIMEOUT, max(1.0, deadline.left() - 30)))
        probes.append(got)
        if got.error or got.status != probes[0].status:
            break
        if time.monotonic() - probe_started > 20:
            break
    first = probes[0]
    result["first_request_ms"] = first.ms
    if first.error:
        result["outcome"] = "timed out" if first.error.startswith("timed out") else "error"
        result["detail"] = first.error
        busy = time.monotonic()
        run.wait_quiet(server, limit=min(60.0, max(1.0, deadline.left() - 45)))
        result["busy_after_s"] = round(time.monotonic() - busy, 1)
        return result
    result["status"] = first.status
    result["kb"] = round(len(first.body) / 1024, 1)
    if first.status == 404 and row.na_on_404:
        result["outcome"] = "n/a"
        result["detail"] = "n/a: not implemented (404)"
        return result
    bad = [p for p in probes if p.error or p.status != first.status]
    if bad:
        result["note"] = (result.get("note", "") + f"; a probe answered "
                          f"{bad[0].error or bad[0].status}").lstrip("; ")
    if row.key == "home_1":
        context["home_1_items"] = set(ITEM_LINK.findall(first.body))
        result["note"] = f"lists {len(context['home_1_items'])} items, {len(first.body) / 1e6:.1f} MB"
    if row.key == "home_500" and first.status == 200:
        listed = set(ITEM_LINK.findall(first.body))
        same = context.get("home_1_items") == listed  # the same items: no paging
        result["note"] = (f"answers 200 listing {len(listed)} items"
                          + (", as page 1 does: no paging" if same else ""))
    later = [p.seconds for p in probes[1:] if not p.error] or [first.seconds]
    single = statistics.median(later)
    result["single_request_ms"] = round(single * 1000, 1)
    # At c=8 a CPU-bound request waits for the 7 others on the server's cores: when not even
    # 8 answers would come in the longest run, loading it only piles up work past every
    # timeout. One request's time is the finding then.
    cores = os.cpu_count() or 1
    if MAX_WRK_SECONDS * cores / single < CONNECTIONS:
        result["outcome"] = "too slow"
        result["detail"] = (f"one request alone takes {single:.1f} s: at c={CONNECTIONS} on "
                            f"{cores} cores each would take ≈ {CONNECTIONS * single / cores:.0f} s, "
                            "so it is not loaded at c=8")
        return result
    # A slow request gets a longer run, for some 40 answers at c=8 on 2 cores (whole seconds:
    # wrk takes no fractions).
    seconds = math.ceil(min(MAX_WRK_SECONDS, max(duration, 20 * single)))
    if deadline.left() < seconds + 40:
        seconds = math.floor(deadline.left() - 40)
        if seconds < duration:
            result["outcome"] = "not measured"
            result["detail"] = "not measured at c=8: the size's time budget was used up"
            return result
    paths_file = folder / "paths" / f"{row.key}.txt"
    paths_file.parent.mkdir(parents=True, exist_ok=True)
    paths_file.write_text("".join(path + "\n" for path in row.paths))
    try:
        measured = run.run_wrk(server, paths_file, seconds, CONNECTIONS, THREADS,
                               timeout=int(REQUEST_TIMEOUT))
        # Too few answers for a p99 (one request alone can be much faster than at c=8):
        # once more, long enough for some 40 answers, if the budget allows.
        wanted = math.ceil(min(MAX_WRK_SECONDS, 40 / max(measured["rps_all"], 0.1)))
        if (measured["requests"] < 30 and wanted > seconds and measured["requests"] > 0
                and deadline.left() > wanted + 40):
            result["short_run"] = {"seconds": seconds, "requests": measured["requests"]}
            seconds = wanted
            measured = run.run_wrk(server, paths_file, seconds, CONNECTIONS, THREADS,
                                   timeout=int(REQUEST_TIMEOUT))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        result["outcome"] = "error"
        result["detail"] = f"wrk: {str(error).strip().splitlines()[0]}"
        return result
    keep = ("requests", "seconds", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors",
            "error_detail", "cpu_ms_per_request", "kb_per_response", "server_cpu_cores",
            "other_load_cores", "peak_rss_mb")
    result["wrk"] = {key: measured.get(key) for key in keep}
    errors = measured["errors"]
    if first.status >= 400:  # the answer itself is the finding (e.g. page 500 answers 404)
        errors -= measured["error_detail"]["status"]
    result["errors"] = errors
    if measured["requests"] == 0:
        result["outcome"] = "timed out"
        result["detail"] = f"no answer at c=8 within {seconds:.0f} s ({errors} errors)"
    else:
        result["outcome"] = "measured"
        result["p50_ms"], result["p99_ms"] = measured["p50_ms"], measured["p99_ms"]
        if measured["requests"] < 20:
            result["note"] = (result.get("note", "") + f"; only {measured['requests']} answers "
                              f"in {seconds:.0f} s").lstrip("; ")
    return result


# --------------------------------------------------------------------------- an edit

BACKUP = "edit-backup.json"


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def restore_edit(folder: Path) -> None:
    """Put back a record an interrupted run left edited."""
    backup = folder / BACKUP
    if backup.exists():
        saved = json.loads(backup.read_text())
        write_atomically(folder / "manifests" / saved["file"], saved["text"].encode("utf-8"))
        backup.unlink()


def discovery_update_seen(port: int, item: str, before: int, timeout: float) -> bool | None:
    """Whether Change Discovery lists an Update of the item's manifest after activity `before`."""
    stream = json_of(fetch(port, "/iiif/discovery", timeout=timeout))
    if stream is None:
        return None
    if (stream.get("totalItems") or 0) <= before:
        return False
    page_path = path_of(stream["last"]["id"])
    for _ in range(4):  # the last page, and back while it starts after `before`
        page = json_of(fetch(port, page_path, timeout=timeout))
        if page is None:
            return None
        for activity in page.get("orderedItems", []):
            target = activity.get("object", {})
            if activity.get("type") == "Update" and str(target.get("canonical") or target.get(
                    "id", "")).endswith(f"/iiif/manifests/{item}"):
                return True
        if (page.get("startIndex") or 0) <= before or not page.get("prev"):
            return False
        page_path = path_of(page["prev"]["id"])
    return False


def edit_visibility(server: servers.Server, folder: Path, item: str, collection_path: str,
                    deadline: Deadline) -> dict:
    record = folder / "manifests" / f"{item}.yaml"
    original = record.read_text(encoding="utf-8")
    marker = f"bewerkt {int(time.time())}"
    edited, count = re.subn(r'^label: \{nl: "(.*?)", en: "(.*?)"\}$',
                            lambda m: f'label: {{nl: "{m.group(1)} ({marker})", '
                                      f'en: "{m.group(2)} ({marker})"}}',
                            original, count=1, flags=re.MULTILINE)
    result: dict = {"item": item, "collection": collection_path, "timeout_s": EDIT_TIMEOUT}
    if not count:
        result["stopped"] = "the record's label line was not found"
        return result
    stream = json_of(fetch(server.port, "/iiif/discovery"))
    before = (stream or {}).get("totalItems") or 0
    (folder / BACKUP).write_text(json.dumps({"file": record.name, "text": original}))
    limit = min(EDIT_TIMEOUT, max(5.0, deadline.left() - 20))
    written = time.monotonic()
    write_atomically(record, edited.encode("utf-8"))
    seen: dict[str, float | str | None] = {"collection": None, "discovery": None}
    try:
        while time.monotonic() - written < limit and None in seen.values():
            left = limit - (time.monotonic() - written)
            if seen["collection"] is None:
                got = fetch(server.port, collection_path, timeout=min(REQUEST_TIMEOUT, max(0.5, left)))
                document = json_of(got)
                if got.error:
                    seen["collection"] = f"not seen: the collection {got.error}"
                elif document is not None:
                    for entry in document.get("items", []):
                        if str(entry.get("id", "")).endswith(f"/iiif/manifests/{item}"):
                            if marker in label_text(entry.get("label")):
                                seen["collection"] = round(time.monotonic() - written, 2)
                            break
            left = limit - (time.monotonic() - written)
            if seen["discovery"] is None and left > 0:
                found = discovery_update_seen(server.port, item, before,
                                              min(REQUEST_TIMEOUT, max(0.5, left)))
                if found:
                    seen["discovery"] = round(time.monotonic() - written, 2)
            time.sleep(0.2)
    finally:
        restore_edit(folder)  # the catalogue stays as generated, for the next run
    for name, value in seen.items():
        result[name + "_s"] = value if value is not None else f"not seen within {limit:.0f} s"
    return result


# --------------------------------------------------------------------------- memory

def worker_memory(server: servers.Server) -> list[dict]:
    workers = []
    for pid in procstats.tree(server.pid):
        if pid == server.pid:
            continue
        entry = {"pid": pid, "rss_mb": round(procstats.rss_bytes(pid) / 2**20, 1)}
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    entry["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        workers.append(entry)
    return workers


# =========================================================================== one size

def measure_size(n: int, args, index_cmd: list[str]) -> dict:
    budget = args.budget * 60 if args.budget else BUDGET_MINUTES.get(
        n, min(40.0, 4 + 24 * n / 100_000)) * 60
    deadline = Deadline(budget)
    folder = WORK / f"catalogue-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    entry: dict = {"items": n, "budget_s": round(budget), "phases": {}, "requests": {},
                   "not_measured": [], "meta": size_meta()}
    phases = entry["phases"]
    started = time.monotonic()

    def give_up(reason: str) -> dict:
        entry["not_measured"].append(reason)
        say(f"catalogue {n}: not measured: {reason}")
        entry["elapsed_s"] = round(time.monotonic() - started, 1)
        return entry

    catalogue = generate(n, folder)
    entry["catalogue"] = catalogue
    phases["generate"] = {"seconds": catalogue["seconds"], "reused": catalogue["reused"]}

    say(f"catalogue {n}: beeldpost ingest ({n} images)")
    reserve = max(90.0, 0.45 * budget)
    built = ingest(n, folder, deadline, reserve)
    phases["ingest"] = built
    say(f"catalogue {n}: ingest {built['seconds']:.1f} s ({built['failures']} failures)")
    if built.get("stopped"):
        return give_up(built["stopped"])
    if built["failures"]:
        return give_up(f"ingest failed for {built['failures']} images "
                       f"(see bench/work/catalogue-{n}/ingest-logs/)")

    say(f"catalogue {n}: cold index build: {command_name(index_cmd)}")
    index = build_index(folder, index_cmd, timeout=max(30.0, deadline.left() - max(60.0, 0.25 * budget)))
    phases["index"] = index
    say(f"catalogue {n}: cold index build {index['seconds']:.1f} s ({index['last_line']})")
    if index.get("stopped"):
        return give_up(f"cold index build ({index['command']}) {index['stopped']}")

    server = None
    for attempt in (1, 2):
        try:
            server, warm = start_server(folder, deadline)
            break
        except RuntimeError as error:  # e.g. someone's work in progress breaks the server
            text = str(error).strip().splitlines()[0]
            if attempt == 2 or deadline.left() < 180:
                return give_up(f"`beeldpost serve` did not start: {run.without_machine_paths(text)}")
            say(f"catalogue {n}: server did not start ({text}); retrying in a minute")
            time.sleep(60)
    assert server is not None
    try:
        top = warm.pop("_collection")
        phases["warm_start"] = warm
        say(f"catalogue {n}: warm start: /health after {warm['health_s']} s, top collection "
            f"{warm.get('seconds', warm.get('stopped'))}; idle after {warm['idle_after_s']} s")
        rows, facts = discover(server, n, top)
        entry["facts"] = facts
        context: dict = {}
        # Measured cheapest first, so a request that times out (and keeps the server busy)
        # disturbs none of the others; reported in ROW_ORDER.
        order = ("manifest", "info", "tile", "discovery_last", "sitemap", "sitemap_child",
                 "search", "collection_deep", "collection_top", "home_1", "home_500")
        for key in order:
            row_started = time.monotonic()
            result = measure_row(server, rows[key], folder, deadline, args.duration, context)
            result["row_seconds"] = round(time.monotonic() - row_started, 1)
            entry["requests"][key] = result
            say(f"catalogue {n}: {key:15} {result['outcome']:12} "
                + (f"p50 {result['p50_ms']:8.1f} ms  p99 {result['p99_ms']:8.1f} ms  "
                   f"({result['wrk']['requests']} answers, {result['wrk']['rps']:.1f}/s, "
                   f"errors {result['errors']})" if result["outcome"] == "measured"
                   else result.get("detail", "")))
        if deadline.left() > 30:
            deep = facts.get("deep") or {}
            item = (deep.get("first_manifest") or "").rsplit("/", 1)[-1] or sample_items(n)[0]
            collection = deep.get("path") or "/iiif/collection"
            phases["edit"] = edit_visibility(server, folder, item, collection, deadline)
            say(f"catalogue {n}: edit of {item}: collection {phases['edit'].get('collection_s')}, "
                f"discovery {phases['edit'].get('discovery_s')}")
        else:
            entry["not_measured"].append("edit visibility: the size's time budget was used up")
        run.wait_quiet(server, limit=min(30.0, max(1.0, deadline.left())))
        entry["workers"] = worker_memory(server)
        say(f"catalogue {n}: worker RSS " + ", ".join(f"{w['rss_mb']:.0f} MB" for w in entry["workers"]))
    finally:
        server.stop()
    entry["log_problems"] = run.log_problems(folder / "logs")
    entry["elapsed_s"] = round(time.monotonic() - started, 1)
    return entry


# =========================================================================== report

def size_meta() -> dict:
    return {"git": run.git_description(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def machine() -> dict:
    import pyvips

    try:
        memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
        memory_gb = round(int(memory) / 2**20, 1)
    except (OSError, StopIteration):
        memory_gb = None
    return {"cpus": os.cpu_count(), "cpu_model": run.cpu_model(), "memory_gb": memory_gb,
            "kernel": platform.release(), "python": platform.python_version(),
            "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
            "wrk": run.package_version("wrk")}


def fmt_s(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:.1f} s" if value >= 1 or value == 0 else f"{value:.2f} s"


def request_cell(result: dict | None) -> str:
    if not result:
        return "—"
    outcome = result.get("outcome")
    if outcome == "measured":
        text = f"{run.fmt(result['p50_ms'])} / {run.fmt(result['p99_ms'])}"
        if result.get("status") not in (None, 200):
            text += f" ({result['status']})"
        if result.get("errors"):
            text += f", {result['errors']} errors"
        return text
    if outcome == "timed out":
        if result.get("wrk"):
            return f"**no answer within {result['wrk']['seconds']:.0f} s** at c=8"
        return f"**timed out** (> {REQUEST_TIMEOUT:g} s for one request)"
    if outcome == "too slow":
        return (f"**too slow for c=8**: one request {result['single_request_ms'] / 1000:.1f} s")
    if outcome == "error":
        return f"**error**: {result.get('detail')}"
    if outcome == "n/a":
        detail = result.get("detail", "")
        return "n/a (not implemented)" if "not implemented" in detail else detail
    return result.get("detail") or str(outcome)


def row_targets(sizes: dict) -> list[dict]:
    big = sizes.get(str(TARGET_SIZE))
    base = sizes.get(str(BASE_SIZE))
    largest = max((int(k) for k, v in sizes.items() if v.get("requests")), default=None)
    out = []
    for key in ROW_ORDER:
        limit = TARGET_SEARCH_P50_MS if key == "search" else TARGET_P50_MS
        title = next((sizes[k]["requests"][key]["title"] for k in sorted(sizes, key=int, reverse=True)
                      if key in sizes[k].get("requests", {})), key)
        name = f"{title}: p50 ≤ {limit:.0f} ms and ≤ {TARGET_GROWTH}× its p50 at {BASE_SIZE:,}"
        result = (big or {}).get("requests", {}).get(key)
        base_result = (base or {}).get("requests", {}).get(key)
        if result is None:
            hint = ""
            if largest and largest != TARGET_SIZE:
                hint = f" (at {largest:,}: {request_cell(sizes[str(largest)]['requests'].get(key))})"
            reason = ("; ".join(big["not_measured"]) if big and big.get("not_measured")
                      else f"{TARGET_SIZE:,} items not run")
            out.append({"target": name, "measured": f"not measured: {reason}{hint}", "met": None})
            continue
        outcome = result.get("outcome")
        if outcome == "n/a":
            out.append({"target": name, "measured": request_cell(result), "met": None})
            continue
        if outcome != "measured":
            out.append({"target": name, "measured": request_cell(result),
                        "met": False if outcome in ("timed out", "error", "too slow") else None})
            continue
        p50 = result["p50_ms"]
        text = f"{p50:.1f} ms"
        met = p50 <= limit and not result.get("errors")
        if base_result and base_result.get("outcome") == "measured" and base_result["p50_ms"]:
            growth = p50 / base_result["p50_ms"]
            text += f", {growth:.2f}× its {base_result['p50_ms']:.1f} ms at {BASE_SIZE:,}"
            met = met and growth <= TARGET_GROWTH
        else:
            text += f" (no figure at {BASE_SIZE:,} to compare)"
        if result.get("errors"):
            text += f", {result['errors']} errors"
        out.append({"target": name, "measured": text, "met": met})
    return out


def phase_targets(sizes: dict) -> list[dict]:
    big = sizes.get(str(TARGET_SIZE))
    reason = ("; ".join(big["not_measured"]) if big and big.get("not_measured")
              else f"{TARGET_SIZE:,} items not run")
    phases = (big or {}).get("phases", {})
    out = []

    def add(name, value, limit, unit, text=None, missing=None):
        if value is None:
            out.append({"target": name, "measured": missing or f"not measured: {reason}", "met": None})
        else:
            out.append({"target": name, "measured": text or f"{value:.1f} {unit}",
                        "met": value <= limit})

    warm = phases.get("warm_start")
    if warm and warm.get("stopped"):
        out.append({"target": f"warm start ≤ {TARGET_WARM_START_S:.0f} s",
                    "measured": warm["stopped"], "met": False})
    else:
        add(f"warm start ≤ {TARGET_WARM_START_S:.0f} s", (warm or {}).get("seconds"),
            TARGET_WARM_START_S, "s")
    edit = phases.get("edit")
    if edit:
        values = [edit.get("collection_s"), edit.get("discovery_s")]
        if all(isinstance(v, (int, float)) for v in values):
            worst = max(values)
            out.append({"target": f"an edit visible within {TARGET_EDIT_S:.0f} s",
                        "measured": f"collection {values[0]:.1f} s, discovery {values[1]:.1f} s",
                        "met": worst <= TARGET_EDIT_S})
        else:
            out.append({"target": f"an edit visible within {TARGET_EDIT_S:.0f} s",
                        "measured": f"collection {fmt_s(values[0])}, discovery {fmt_s(values[1])}",
                        "met": False})
    else:
        add(f"an edit visible within {TARGET_EDIT_S:.0f} s", None, 0, "")
    index = phases.get("index")
    if index and index.get("stopped"):
        out.append({"target": f"cold index build ≤ {TARGET_INDEX_S / 60:.0f} min (without derivatives)",
                    "measured": f"{index['command']}: {index['stopped']}", "met": False})
    else:
        add(f"cold index build ≤ {TARGET_INDEX_S / 60:.0f} min (without derivatives)",
            (index or {}).get("seconds"), TARGET_INDEX_S, "s",
            text=f"{index['seconds']:.1f} s ({index['command']})" if index else None)
    workers = (big or {}).get("workers")
    largest = max((w["rss_mb"] for w in workers), default=None) if workers else None
    add(f"RSS ≤ {TARGET_RSS_MB:.0f} MB per worker", largest, TARGET_RSS_MB, "MB",
        text=f"largest worker {largest:.0f} MB" if largest is not None else None)
    return out


def _generated(s: dict) -> str:
    phase = s["phases"]["generate"]
    if not phase["reused"]:
        return fmt_s(phase["seconds"])
    made = s["catalogue"].get("generated_in_s")
    return "reused" + (f" (made in {made:.1f} s)" if made else "")


def _ingested(s: dict) -> str:
    phase = s["phases"]["ingest"]
    text = fmt_s(phase["seconds"])
    if phase.get("new_cache_files") == 0:
        text += " (all built before)"
    return text + (f" — {phase['stopped']}" if phase.get("stopped") else "")


def _indexed(s: dict) -> str:
    phase = s["phases"]["index"]
    if phase.get("exit", 0) is None:  # stopped at its time limit
        return f"> {phase['seconds']:.0f} s (`{phase['command']}`): stopped, not finished"
    text = f"{fmt_s(phase['seconds'])} (`{phase['command']}`)"
    return text + (f" — {phase['stopped']}" if phase.get("stopped") else "")


def _idle(s: dict) -> str:
    warm = s["phases"]["warm_start"]
    return fmt_s(warm["idle_after_s"]) + ("" if warm["settled"] else " (still busy: stopped waiting)")


def _workers(s: dict) -> str:
    workers = s["workers"]
    return (", ".join(f"{w['rss_mb']:.0f} MB" for w in workers)
            + " (PSS " + ", ".join(f"{w.get('pss_mb', 0):.0f}" for w in workers) + ")")


CATALOGUE_ROWS = (
    ("levels (archive › fonds › series)",
     lambda s: f"1 › {s['catalogue']['fonds']} › {s['catalogue']['series']}"),
    ("largest fonds / series",
     lambda s: f"{s['catalogue']['largest_fonds']:,} / {s['catalogue']['largest_series']:,}"),
    ("levels with over 1,000 members", lambda s: s["catalogue"]["levels_over_1000"]),
    (f"transcripts (with “{WORD}”)",
     lambda s: f"{s['catalogue']['transcripts']:,} ({s['catalogue']['with_word']})"),
    ("images", lambda s: f"{s['catalogue']['image']}, {s['catalogue']['images_mb']} MB"),
)
PHASE_ROWS = (
    ("generate", _generated),
    ("`beeldpost ingest` (derivatives)", _ingested),
    ("cold index build", _indexed),
    ("warm start: `/health` answers", lambda s: fmt_s(s["phases"]["warm_start"]["health_s"])),
    ("warm start: top collection answers 200",
     lambda s: s["phases"]["warm_start"].get("stopped") or fmt_s(s["phases"]["warm_start"]["seconds"])),
    ("server idle after start", _idle),
    ("edit visible in its collection", lambda s: fmt_s(s["phases"]["edit"]["collection_s"])),
    ("edit visible in Change Discovery (an Update)",
     lambda s: fmt_s(s["phases"]["edit"]["discovery_s"])),
    ("RSS per worker after the run", _workers),
    ("whole size", lambda s: f"{fmt_s(s['elapsed_s'])} of {s['budget_s'] / 60:.0f} min"),
)


def markdown(results: dict) -> str:
    meta = results["meta"]
    m = meta["machine"]
    sizes = results["sizes"]
    keys = sorted(sizes, key=int)
    head = " | ".join(f"{int(k):,} items" for k in keys)
    line = "|---|" + "---:|" * len(keys)
    commits = {sizes[k]["meta"]["git"] for k in keys}
    lines = [
        f"# Beeldpost as a catalogue server — {meta['finished']}",
        "",
        f"Machine: {m['cpus']} cores, {m['cpu_model']}, {m['memory_gb']} GB; Python {m['python']}, "
        f"libvips {m['libvips']}, wrk {m['wrk']}. Beeldpost at "
        + (f"{commits.pop()}" if len(commits) == 1 else
           "; ".join(f"{int(k):,}: {sizes[k]['meta']['git']} ({sizes[k]['meta']['date']})" for k in keys))
        + ". `beeldpost serve --workers 2` (gunicorn, production configuration) on 127.0.0.1, "
        f"response cache off; wrk -t{THREADS} -c{CONNECTIONS} with bench/urls.lua, "
        f"{meta['duration_s']:g} s per URL set (up to {MAX_WRK_SECONDS:g} s for slow ones), every "
        f"request timed out after {REQUEST_TIMEOUT:g} s. Catalogue recipe `{RECIPE}` "
        f"(seed {SEED}), generated by bench/catalogue.py into bench/work/catalogue-N/.",
        "",
        "## The catalogue",
        "",
        f"| | {head} |",
        line,
    ]

    def table_row(name: str, cell) -> None:
        cells = []
        for k in keys:
            try:
                cells.append(str(cell(sizes[k])))
            except (KeyError, TypeError):  # a phase the size never reached
                cells.append("not measured" if sizes[k].get("not_measured") else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    for name, cell in CATALOGUE_ROWS:
        table_row(name, cell)
    lines += ["", "## Phases (wall time)", "", f"| phase | {head} |", line]
    for name, cell in PHASE_ROWS:
        table_row(name, cell)

    lines += ["", "## Requests: p50 / p99 ms at c=8", "",
              f"| request | {head} |", line]
    for key in ROW_ORDER:
        title = next((sizes[k]["requests"][key]["title"] for k in reversed(keys)
                      if key in sizes[k].get("requests", {})), key)
        cells = [request_cell(sizes[k].get("requests", {}).get(key)) if sizes[k].get("requests")
                 else "not measured" for k in keys]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines += ["", "Details (status, size, first request, requests at c=8, CPU per request, notes):", ""]
    for k in keys:
        entry = sizes[k]
        if not entry.get("requests"):
            continue
        lines.append(f"- **{int(k):,} items**")
        for key in ROW_ORDER:
            result = entry["requests"].get(key)
            if not result:
                continue
            parts = []
            if result.get("status") is not None:
                parts.append(f"HTTP {result['status']}")
            if result.get("kb") is not None:
                parts.append(f"{result['kb']:,.1f} KB")
            if result.get("first_request_ms") is not None:
                parts.append(f"first request {result['first_request_ms']:,.0f} ms")
            if result.get("wrk"):
                w = result["wrk"]
                parts.append(f"{w['requests']} answers in {w['seconds']:.0f} s ({w['rps']:.1f}/s)")
                if w.get("cpu_ms_per_request") is not None:
                    parts.append(f"{w['cpu_ms_per_request']:.1f} CPU ms/request")
            if result.get("note"):
                parts.append(result["note"])
            if result.get("outcome") != "measured" and result.get("detail"):
                parts.append(result["detail"])
            path = (f" `{result['paths'][0]}`" + (" …" if result.get("urls", 0) > 1 else "")
                    if result.get("paths") else "")
            lines.append(f"  - {key}{path}: " + "; ".join(parts))
    lines += ["", f"## Targets at {TARGET_SIZE:,} items (issue 15)", "", "| target | measured | met |",
              "|---|---|---|"]
    for target in results["targets"]:
        mark = {True: "met", False: "**not met**", None: "n/a"}[target["met"]]
        lines.append(f"| {target['target']} | {target['measured']} | {mark} |")
    missing = [(k, reason) for k in keys for reason in sizes[k].get("not_measured", [])]
    not_run = [size for size in DEFAULT_SIZES if str(size) not in sizes]
    if missing or not_run:
        lines += ["", "## Not measured", ""]
        lines += [f"- {int(k):,} items: {reason}" for k, reason in missing]
        lines += [f"- {size:,} items: not run (`make bench-catalogue N={size}`)" for size in not_run]
    problems = [(k, sizes[k].get("log_problems")) for k in keys if sizes[k].get("log_problems")]
    if problems:
        lines += ["", "Server log lines worth a look (bench/work/catalogue-N/logs/): " + "; ".join(
            f"{int(k):,}: " + ", ".join(f"{name} " + ", ".join(f"{a} ×{b}" for a, b in counts.items())
                                        for name, counts in found.items()) for k, found in problems)]
    lines += [
        "", "## Notes", "",
        "- Everything is measured from outside: the CLI for ingest and the index build, HTTP for "
        "the rest, so the harness keeps working as the catalogue's internals change. The cold "
        "index build removes the catalogue state first (the Change Discovery journal, "
        "`BEELDPOST_JOURNAL`, and the cache folder's own files; the derivatives stay) and times "
        "the command named above.",
        "- Warm start: from starting `beeldpost serve`, with derivatives and index built, until "
        f"`/iiif/collection` answers 200 (given up after {WARM_START_LIMIT:g} s); then the harness "
        f"waits until the server's processes are idle (at most {SETTLE_LIMIT:g} s) before measuring.",
        f"- Manifests, info.json and tiles are measured over {SAMPLE_ITEMS} items spread over the "
        "catalogue; the deep collection is found by following the first member of type "
        "Collection from the top collection down; the Change Discovery page by following `last`. "
        "Slow requests get longer wrk runs (for some 40 answers, at most "
        f"{MAX_WRK_SECONDS:g} s). A request that times out alone, or is so slow alone that c=8 "
        f"would not give 8 answers in {MAX_WRK_SECONDS:g} s (\"too slow for c=8\", with its "
        "single-request time), is not loaded at c=8; those heavy rows are measured last, so "
        "the work they leave behind disturbs no other row. A p99 comes from every answer of "
        "the run, so a stall of the server now and then shows there, not in the p50.",
        "- RSS depends on what ran: a worker that built a large page keeps much of that memory.",
        "- The edit: one record's label is changed (a temporary file renamed over it), then its "
        "collection and Change Discovery are polled until the new label and a new Update show; "
        f"given up after {EDIT_TIMEOUT:g} s. The record is put back afterwards.",
        "- RSS per worker is read from /proc after the measurements (PSS beside it counts shared "
        "pages once).",
    ]
    return "\n".join(lines) + "\n"


# =========================================================================== main

def ensure_wrk(allow_install: bool) -> None:
    if shutil.which("wrk"):
        return
    if not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("bench: wrk is missing. Install it with\n    sudo apt-get update && sudo apt-get "
                 "install -y --no-install-recommends wrk\n(Debian/Ubuntu), or run this as root.")
    say("bench: installing wrk from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], check=True,
                   env=env, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated item counts (default 1000,10000,100000)")
    parser.add_argument("--budget", type=float, help="minutes per size (default: 3, 8 and 29 "
                        "for 1,000, 10,000 and 100,000 items)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of wrk per URL set")
    parser.add_argument("--index-command", help="what builds the catalogue state from scratch "
                        "(default: `beeldpost index` if the CLI has it, else `beeldpost journal`)")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the results of sizes not run this time")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument("--rerender", action="store_true",
                        help="only rewrite catalogue.md from catalogue.json")
    args = parser.parse_args(argv)
    output = RESULTS / "catalogue.json"
    if args.rerender:
        results = json.loads(output.read_text())
        results["targets"] = row_targets(results["sizes"]) + phase_targets(results["sizes"])
        (RESULTS / "catalogue.md").write_text(run.without_machine_paths(markdown(results)))
        return 0
    sizes = [int(value) for value in args.sizes.replace(" ", "").split(",") if value]
    ensure_wrk(not args.no_install)
    index_cmd = index_command(args.index_command)
    started = time.monotonic()
    meta = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "git": run.git_description(), "recipe": RECIPE, "seed": SEED,
            "duration_s": args.duration, "connections": CONNECTIONS, "threads": THREADS,
            "request_timeout_s": REQUEST_TIMEOUT, "index_command": command_name(index_cmd)}
    previous: dict = {}
    if output.exists() and not args.fresh:
        try:
            old = json.loads(output.read_text())
            if old.get("meta", {}).get("recipe") == RECIPE:
                previous = old.get("sizes", {})
        except ValueError:
            pass
    results = {"meta": meta, "sizes": {k: v for k, v in previous.items() if int(k) not in sizes}}
    for n in sizes:
        say(f"catalogue {n}: budget {(args.budget or BUDGET_MINUTES.get(n, 0)) or 'scaled'} min")
        results["sizes"][str(n)] = measure_size(n, args, index_cmd)
        RESULTS.mkdir(exist_ok=True)
        write(results, started)
    say(f"bench: wrote bench/results/catalogue.md (and .json) in {time.monotonic() - started:.0f} s")
    print()
    print((RESULTS / "catalogue.md").read_text())
    return 0


def write(results: dict, started: float) -> None:
    results["meta"]["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: int(kv[0])))
    results["targets"] = row_targets(results["sizes"]) + phase_targets(results["sizes"])
    document = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    (RESULTS / "catalogue.json").write_text(run.without_machine_paths(document))
    (RESULTS / "catalogue.md").write_text(run.without_machine_paths(markdown(results)))


if __name__ == "__main__":
    sys.exit(main())
