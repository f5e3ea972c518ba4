"""What the browser tests share: finding and starting Debian's chromium, and the CI rule."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]


def unavailable(reason: str):
    """Skip with the reason locally; fail in CI, where the browser tests must run."""
    if CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_executable() -> str | None:
    for candidate in (os.environ.get("BEELDPOST_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def built_viewers() -> Path:
    """The folder of the built Mirador and UV (BEELDPOST_VIEWERS); skip or fail without it."""
    from beeldpost.settings import Settings
    from beeldpost.pages.views import ViewerAssets

    folder = Settings.from_env().viewers_dir
    if ViewerAssets(folder).build_id() is None:
        unavailable(f"the viewer assets are not built in {folder}: run `make viewers` "
                    "(needs Node.js 20+ and npm)")
    return folder


def launched_chromium() -> Iterator[object]:
    """For a fixture: `yield from launched_chromium()` gives a Playwright browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed: `pip install -e '.[test]'`")
    executable = chromium_executable()
    if executable is None:
        unavailable("chromium is not installed: `apt-get install chromium` (Debian), "
                    "or set BEELDPOST_CHROMIUM to a Chromium binary")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as error:  # noqa: BLE001 - any launch failure means no browser
        playwright.stop()
        unavailable(f"chromium ({executable}) does not start: {error}")
    yield chromium
    chromium.close()
    playwright.stop()
