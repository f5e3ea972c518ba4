"""All settings in one place.

Every setting comes from an environment variable with a documented default, so the
same code runs under `make run`, gunicorn in production and the test suite. The
README's configuration table is generated from SETTINGS_DOC below, keep them together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _optional_int(value: str | None) -> int | None:
    if value is None or value.strip() in ("", "0", "none", "off"):
        return None
    number = int(value)
    if number <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    images_dir: Path = PROJECT_ROOT / "images"
    manifests_dir: Path = PROJECT_ROOT / "manifests"
    cache_dir: Path = PROJECT_ROOT / "var" / "cache"
    # Built viewer assets (Mirador, Universal Viewer): `make viewers` writes them here.
    viewers_dir: Path = PROJECT_ROOT / "var" / "viewers"
    # Public base URL (scheme://host[:port][/prefix]) for ids in info.json and manifests
    # when the server sits behind a proxy; None builds them from each request's own host.
    public_base_url: str | None = None
    tile_size: int = 256
    # JPEG quality of the tiles stored in the pyramidal TIFF derivatives. Below 90
    # libvips stores YCbCr with 4:2:0 chroma, a third of the size of its Q 90+ RGB
    # tiles and faster to decode, with no visible loss at this quality.
    derivative_quality: int = 88
    # JPEG quality of rendered images.
    jpeg_quality: int = 85
    # Size limits, advertised in info.json and enforced; None means no limit.
    max_width: int | None = None
    max_height: int | None = None
    # A default area limit keeps `^` upscales and huge renders bounded in memory.
    max_area: int | None = 100_000_000
    # Sources above this many pixels are refused before decoding (decompression bombs).
    max_source_pixels: int = 1_000_000_000
    # A render that decodes more pixels than this counts as heavy: whole-image renders,
    # huge crops. Heavy renders get `heavy_slots` slots shared by all workers, and at
    # most `heavy_queue` may wait per worker, so tiles keep flowing.
    heavy_pixels: int = 4_000_000
    heavy_slots: int = 1
    heavy_queue: int = 2
    # Seconds a render may run before it is cut off (heavy renders only).
    render_timeout: float = 20.0
    retry_after: int = 5
    cache_max_age: int = 86400
    info_max_age: int = 3600
    # Rendered images kept on disk (in the cache folder) for repeated requests, up to
    # this many megabytes, least recently used out first. Off for cold measurements.
    response_cache: bool = True
    response_cache_mb: int = 1024
    # Number of opened pyramid levels each worker keeps (file handles, headers).
    open_images: int = 64
    # Change Discovery: the SQLite activity journal (None: journal.sqlite3 in the cache
    # folder), how often discovery requests look for changed records (seconds; 0: on
    # every request) and activities per page.
    journal_file: Path | None = None
    journal_interval: float = 5.0
    discovery_page_size: int = 100
    # Content Search: hits (1.0) or annotations (2.0) per page of results.
    search_page_size: int = 50
    debug: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, (variable, convert, _doc) in SETTINGS_DOC.items():
            if variable in env:
                try:
                    values[name] = convert(env[variable])
                except ValueError as error:
                    raise ValueError(f"{variable}: {error}") from None
        return cls(**values)

    def with_overrides(self, **overrides: object) -> "Settings":
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        converted = {
            key: Path(value) if key.endswith("_dir") and value is not None else value
            for key, value in overrides.items()
        }
        return replace(self, **converted)


def _optional_path(value: str) -> Path | None:
    value = value.strip()
    return Path(value) if value else None


def _base_url(value: str) -> str | None:
    value = value.strip().rstrip("/")
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value


# setting name -> (environment variable, converter, description for the README)
SETTINGS_DOC: dict[str, tuple[str, object, str]] = {
    "images_dir": ("BEELDPOST_IMAGES", Path, "folder of source images (default `images/`)"),
    "manifests_dir": ("BEELDPOST_MANIFESTS", Path, "folder of item records (default `manifests/`)"),
    "cache_dir": ("BEELDPOST_CACHE", Path, "folder for derivatives, outside git (default `var/cache/`)"),
    "viewers_dir": ("BEELDPOST_VIEWERS", Path, "folder of the built viewer assets (default `var/viewers/`)"),
    "public_base_url": ("BEELDPOST_PUBLIC_URL", _base_url, "public base URL behind a proxy (default: the request's host)"),
    "tile_size": ("BEELDPOST_TILE_SIZE", int, "tile size of derivatives and info.json (default 256)"),
    "derivative_quality": ("BEELDPOST_DERIVATIVE_QUALITY", int, "JPEG quality of stored tiles (default 88)"),
    "jpeg_quality": ("BEELDPOST_JPEG_QUALITY", int, "JPEG quality of served images (default 85)"),
    "max_width": ("BEELDPOST_MAX_WIDTH", _optional_int, "maxWidth advertised and enforced (default none)"),
    "max_height": ("BEELDPOST_MAX_HEIGHT", _optional_int, "maxHeight advertised and enforced (default none)"),
    "max_area": ("BEELDPOST_MAX_AREA", _optional_int, "maxArea in pixels (default 100000000; 0 for none)"),
    "max_source_pixels": ("BEELDPOST_MAX_SOURCE_PIXELS", int, "sources above this many pixels are refused (default 1000000000)"),
    "heavy_pixels": ("BEELDPOST_HEAVY_PIXELS", int, "decoded pixels above which a render is heavy (default 4000000)"),
    "heavy_slots": ("BEELDPOST_HEAVY_SLOTS", int, "heavy renders running at once, shared by all workers (default 1)"),
    "heavy_queue": ("BEELDPOST_HEAVY_QUEUE", int, "heavy renders waiting per worker before 503 (default 2)"),
    "render_timeout": ("BEELDPOST_RENDER_TIMEOUT", float, "seconds from its arrival (waiting included) before a heavy render is cut off (default 20)"),
    "retry_after": ("BEELDPOST_RETRY_AFTER", int, "Retry-After seconds on 503 (default 5)"),
    "cache_max_age": ("BEELDPOST_CACHE_MAX_AGE", int, "Cache-Control max-age of images, seconds (default 86400)"),
    "info_max_age": ("BEELDPOST_INFO_MAX_AGE", int, "Cache-Control max-age of info.json, seconds (default 3600)"),
    "response_cache": ("BEELDPOST_RESPONSE_CACHE", _bool, "keep rendered images on disk for repeated requests: `on`/`off` (default on)"),
    "response_cache_mb": ("BEELDPOST_RESPONSE_CACHE_MB", int, "size cap of the response cache in MB, least recently used out first (default 1024)"),
    "open_images": ("BEELDPOST_OPEN_IMAGES", int, "opened pyramid levels kept per worker (default 64)"),
    "journal_file": ("BEELDPOST_JOURNAL", _optional_path, "Change Discovery activity journal, SQLite (default `journal.sqlite3` in the cache folder)"),
    "journal_interval": ("BEELDPOST_JOURNAL_INTERVAL", float, "seconds between checks for changed records on discovery requests (default 5; 0: every request)"),
    "discovery_page_size": ("BEELDPOST_DISCOVERY_PAGE_SIZE", int, "activities per Change Discovery page (default 100)"),
    "search_page_size": ("BEELDPOST_SEARCH_PAGE_SIZE", int, "search hits per page of results (default 50)"),
    "debug": ("BEELDPOST_DEBUG", _bool, "Flask debug mode (default off)"),
}

assert set(SETTINGS_DOC) == {f.name for f in fields(Settings)}, "document every setting"
