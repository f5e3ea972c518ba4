"""Where the repository's own items, images and test data are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
IMAGES = REPO / "images"
MANIFESTS = REPO / "manifests"
PHOTO = "wijkgericht-werken-1999"
