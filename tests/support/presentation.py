"""Helpers for the Presentation API tests: the official schema, the iiif-prezi3 models,
walking documents, and writing temporary records and images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import iiif_prezi3
import jsonschema
import yaml
from PIL import Image

from .paths import MANIFESTS, PHOTO, REPO, TESTS  # noqa: F401 - tests import them from here
# The source the photo's record was written from (a copy of the seed text).
SEED = MANIFESTS / "sources" / "wijkgericht-werken-lelystad.txt"
SCHEMA_PATH = TESTS / "schemas" / "iiif_3_0.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text("utf-8"))
CONTEXT = "http://iiif.io/api/presentation/3/context.json"
LANGUAGES = {"nl", "en"}

# The schema is a oneOf over the top-level types (manifest, collection, annotation
# page, …). A document must pass it as a whole; when it does not, its own type's
# class is checked too, to say which field is wrong. Canvases served on their own
# are checked against the canvas class.
SCHEMA_CLASSES = {"Manifest": "manifest", "Collection": "collection", "Canvas": "canvas",
                  "AnnotationPage": "annotationPage", "Annotation": "annotation"}
MODELS = {
    "Manifest": iiif_prezi3.Manifest,
    "Collection": iiif_prezi3.Collection,
    "Canvas": iiif_prezi3.Canvas,
    "AnnotationPage": iiif_prezi3.AnnotationPage,
    "Annotation": iiif_prezi3.Annotation,
}


def _class_schema(type_name: str) -> dict:
    return {**SCHEMA, "oneOf": [{"$ref": f"#/classes/{SCHEMA_CLASSES[type_name]}"}]}


def schema_errors(document: dict) -> list[str]:
    type_name = document.get("type")
    whole = SCHEMA if type_name != "Canvas" else _class_schema("Canvas")
    if jsonschema.Draft7Validator(whole).is_valid(document):
        return []
    specific = jsonschema.Draft7Validator(_class_schema(type_name)) if type_name in SCHEMA_CLASSES \
        else jsonschema.Draft7Validator(whole)
    errors = [f"at {'/'.join(str(p) for p in leaf.absolute_path)}: {leaf.message[:200]}"
              for error in specific.iter_errors(document) for leaf in _leaves(error)]
    return errors or [f"not valid against the Presentation 3 schema as a {type_name}"]


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The innermost failures under a oneOf/anyOf/allOf, deepest place in the document first."""
    if not error.context:
        return [error]
    leaves = [leaf for child in error.context for leaf in _leaves(child)]
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    return [leaf for leaf in leaves if len(leaf.absolute_path) == depth]


def assert_valid(document: dict) -> None:
    """Valid against the official schema AND loads into iiif-prezi3's models losslessly."""
    assert document.get("@context") == CONTEXT
    errors = schema_errors(document)
    assert not errors, "\n".join(errors)
    model = MODELS[document["type"]](**document)
    reloaded = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    # Equal after the round trip: nothing was dropped or reshaped by the models.
    # (Only some models keep @context, which is checked above.)
    reloaded.pop("@context", None)
    assert reloaded == {key: value for key, value in document.items() if key != "@context"}


def walk(value: Any) -> Iterator[tuple[str | None, dict]]:
    """Every object in a document with the key it sits under."""
    def inner(node: Any, key: str | None):
        if isinstance(node, dict):
            yield key, node
            for child_key, child in node.items():
                yield from inner(child, child_key)
        elif isinstance(node, list):
            for child in node:
                yield from inner(child, key)
    yield from inner(value, None)


def ids(document: dict) -> list[tuple[str, dict]]:
    return [(node.get("id") or node.get("@id"), node) for _key, node in walk(document)
            if isinstance(node.get("id") or node.get("@id"), str)]


def language_maps(document: dict) -> list[dict]:
    """Every language map: label, summary, and metadata/requiredStatement values."""
    return [node for key, node in walk(document) if key in ("label", "summary", "value")
            and isinstance(node, dict)]


def assert_languages_explicit(document: dict) -> None:
    maps = language_maps(document)
    assert maps
    for language_map in maps:
        assert set(language_map) == LANGUAGES, language_map
        assert all(isinstance(v, list) and v and all(s.strip() for s in v)
                   for v in language_map.values()), language_map
    for _key, node in walk(document):
        if node.get("type") == "TextualBody":
            assert node.get("language") in LANGUAGES, node


# Keys the official presentation-validator does not search for duplicate ids.
VALIDATOR_SKIPS = {"target", "lookAt", "range", "structures", "first", "last", "start",
                   "source", "body", "scope", "thumbnail"}


def assert_ids_unique(document: dict) -> None:
    """One id, one resource: an id seen twice must be the very same object (a shared
    image service); canvases, pages and annotations are never repeated at all. And
    the presentation-validator's own rule: no id twice where it looks."""
    seen: dict[str, dict] = {}
    for identifier, node in ids(document):
        if identifier in seen:
            assert node == seen[identifier], f"two different resources share {identifier}"
            assert node.get("type") not in ("Canvas", "AnnotationPage", "Annotation", "Manifest")
        seen[identifier] = node
    validator_seen: list[str] = []
    stack = [document]
    while stack:  # as the validator walks: into lists of objects, skipping VALIDATOR_SKIPS
        node = stack.pop()
        for key, value in node.items():
            if key in VALIDATOR_SKIPS:
                continue
            if key == "id":
                assert value not in validator_seen, f"duplicate id {value}"
                validator_seen.append(value)
            elif isinstance(value, list):
                stack.extend(item for item in value if isinstance(item, dict))


def seed_blocks() -> list[str]:
    return SEED.read_text("utf-8").split("\n\n")


def seed_interview() -> list[str]:
    """The interview as the seed text has it: after the first 'Alle rechten
    voorbehouden', up to the 'Bron: …' citation."""
    blocks = seed_blocks()
    start = blocks.index("Alle rechten voorbehouden") + 1
    end = next(i for i, block in enumerate(blocks) if block.startswith("Bron: "))
    return blocks[start:end]


def xywh(target: str) -> tuple[str, tuple[int, int, int, int]]:
    source, _, fragment = target.partition("#xywh=")
    x, y, w, h = (int(n) for n in fragment.split(","))
    return source, (x, y, w, h)


# --------------------------------------------------------------------------- temporary data


def make_jpeg(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (width, height), (128, 110, 90)).save(path, quality=80)
    return path


def record_data(item: str, image: str | None = None, **overrides: Any) -> dict:
    """A complete, valid record (before overrides) for a temporary manifests folder."""
    data: dict[str, Any] = {
        "id": item,
        "image": image or item,
        "language": "nl",
        "label": {"nl": f"Proefstuk {item}", "en": f"Test item {item}"},
        "summary": {"nl": "Links: Anna de Vries. Rechts: Piet Jansen",
                    "en": "Left: Anna de Vries. Right: Piet Jansen"},
        "date": 1999,
        "photographer": "Jan Proef",
        "source": "Proefarchief",
        "place": "Lelystad",
        "credit": {"nl": "foto Jan Proef, bron Proefarchief",
                   "en": "photo Jan Proef, source Proefarchief"},
        "rights": "http://rightsstatements.org/vocab/InC/1.0/",
        "provider": {"id": "https://archief.example.nl/#organisatie",
                     "label": {"nl": "Proefarchief", "en": "Test archive"},
                     "homepage": "https://archief.example.nl/"},
        "people": [
            {"name": "Anna de Vries", "position": {"nl": "links", "en": "left"},
             "xywh": [10, 20, 300, 500]},
            {"name": "Piet Jansen", "position": {"nl": "rechts", "en": "right"},
             "xywh": [800, 100, 350, 650]},
        ],
        "transcript": {"file": f"{item}.transcript.txt",
                       "title": {"nl": "Een gesprek", "en": "A conversation"},
                       "citation": {"nl": "Bron: proefinterview.", "en": "Source: test interview."}},
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


TRANSCRIPT = "Eerste alinea, met “aanhalingstekens”…\n\nTweede – alinea.\n\nDerde alinea.\n"


def write_record(folder: Path, item: str, data: dict | None = None, *,
                 transcript: str | None = TRANSCRIPT) -> Path:
    data = record_data(item) if data is None else data
    path = folder / f"{item}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    if transcript is not None and isinstance(data.get("transcript"), dict):
        (folder / data["transcript"]["file"]).write_text(transcript, "utf-8")
    return path
