"""Every setting, declared once: its environment variable, its default and its help text.

Settings come from environment variables, read by pydantic-settings, so the same code
runs under `make run`, gunicorn in production and the test suite. `beeldpost settings`
lists them with the values in effect, and the README's configuration table is
`beeldpost settings --markdown` (a test holds the two together).

Folders default to paths relative to the directory the server starts in (`images/`,
`manifests/`, `var/cache/`), so an installed server runs anywhere its folders are named.
The images and the cache may instead be a bucket and prefix of S3-compatible storage
(`s3://archief-bron/`): such a value is kept as an S3Url, never made into a Path.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Mapping

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _optional_positive(value: Any) -> Any:
    """`0`, `none`, `off` or empty mean no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "0", "none", "off")):
        return None
    if value == 0:
        return None
    return value


def _optional_text(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _default_viewers() -> Path:
    """The viewers a wheel carries (setup.py copies a build in), else `var/viewers`."""
    bundled = Path(__file__).resolve().parent / "pages" / "viewers"
    return bundled if (bundled / "build-id").is_file() else Path("var/viewers")


class S3Url(str):
    """A place in S3-compatible storage, `s3://bucket/key`: a folder when the key is empty
    or ends in `/` (a prefix), else one object. A str, so it prints and compares as
    written; joined with `/` like a Path (`images / "fonds/a.jpg"`)."""

    __slots__ = ()
    SCHEME = "s3://"

    def __new__(cls, value: str) -> "S3Url":
        text = str(value).strip()
        if not text.lower().startswith(cls.SCHEME):
            raise ValueError(f"not an s3:// URL: {text!r}")
        bucket, _, key = text[len(cls.SCHEME):].partition("/")
        # Bucket names as S3 allows them (3 to 63 of a-z, 0-9, '.', '-').
        if not (3 <= len(bucket) <= 63 and all(c.islower() or c.isdigit() or c in ".-"
                                               for c in bucket)):
            raise ValueError(f"{text!r} needs a bucket name of 3 to 63 lower-case letters, "
                             "digits, dots or hyphens after s3://")
        if any(part in ("", ".", "..") for part in key.rstrip("/").split("/")) and key.strip("/"):
            raise ValueError(f"{text!r} has an empty, '.' or '..' part in its key")
        return super().__new__(cls, f"{cls.SCHEME}{bucket}/{key.lstrip('/')}")

    @classmethod
    def folder(cls, value: str) -> "S3Url":
        """The URL as a prefix (a trailing `/` added)."""
        url = cls(value)
        return url if url.endswith("/") else cls(url + "/")

    @property
    def bucket(self) -> str:
        return self[len(self.SCHEME):].partition("/")[0]

    @property
    def key(self) -> str:
        """The object's key, or the prefix (with its `/`; empty for the whole bucket)."""
        return self[len(self.SCHEME):].partition("/")[2]

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0]

    def __truediv__(self, relative: str) -> "S3Url":
        return S3Url(f"{self}{'' if self.endswith('/') else '/'}{str(relative).lstrip('/')}")


def _location(value: Any) -> Path | S3Url:
    """A folder (made absolute against the directory the server starts in) or, for
    `s3://bucket/prefix/`, a bucket's prefix."""
    if isinstance(value, S3Url):
        return S3Url.folder(value)
    if isinstance(value, str) and value.strip().lower().startswith(S3Url.SCHEME):
        return S3Url.folder(value)
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError("must be a folder or an s3://bucket/prefix/ URL")
    return Path(os.path.abspath(value))


_SIZE = re.compile(r"(\d+(?:\.\d+)?)([kmgt]?)(?:i?b)?")
_BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _optional_bytes(value: Any) -> Any:
    """`536870912`, `512M`, `512MB`, `512MiB`, `1.5G` (units of 1024); `auto` or empty:
    None, worked out for the machine."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text in ("", "auto"):
        return None
    found = _SIZE.fullmatch(text)
    if not found:
        raise ValueError(f"{value!r} is not a size like 512M or 2G")
    return int(float(found.group(1)) * _BYTE_UNITS[found.group(2)])


def _optional_count(value: Any) -> Any:
    """`auto` (or `0`, empty): None, worked out for the machine."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    return _optional_positive(value)


OptionalLimit = Annotated[Annotated[int, Field(gt=0)] | None, BeforeValidator(_optional_positive)]
# Bytes, written with a unit or without; None: worked out for the machine.
OptionalBytes = Annotated[Annotated[int, Field(ge=1 << 20)] | None, BeforeValidator(_optional_bytes)]
# A count, or None: worked out for the machine (`auto`, `0` or empty).
OptionalCount = Annotated[Annotated[int, Field(gt=0)] | None, BeforeValidator(_optional_count)]
OptionalPath = Annotated[Path | None, BeforeValidator(_optional_text)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | None) -> tuple[IpNetwork, ...]:
    """`10.20.0.0/16, 192.0.2.7, 2001:db8::/32`: networks, an address being a network of
    one (commas or spaces between them). ValueError names the entry that is none."""
    if isinstance(text, tuple):
        return text
    found = []
    for entry in (text or "").replace(",", " ").split():
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or a network like 10.20.0.0/16") \
                from None
    return tuple(found)


Networks = Annotated[tuple, NoDecode, PlainValidator(parse_networks)]
# A folder, or a bucket and prefix: BEELDPOST_IMAGES, BEELDPOST_CACHE.
Location = Annotated[Path | S3Url, PlainValidator(_location)]


def setting(default: Any, variable: str, help: str, shown: str | None = None, **rules: Any) -> Any:
    """A setting read from `variable`; `shown` is the default as the README writes it."""
    extra = {"shown": shown} if shown is not None else {}
    return Field(default, validation_alias=variable, description=help,
                 json_schema_extra=extra, **rules)


class _Declared(BaseSettings):
    """Reading, overriding and listing, shared by the two groups of settings below."""

    # Read by variable name only (not by field name too): `images_dir=…` in the
    # environment is not a setting.
    # Unknown names are refused rather than dropped in silence (`Settings(images_dir=…)`
    # is a mistake: settings are made with from_env / with_overrides / of).
    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        """The settings from `environ` (the process environment when None); a bad value
        raises ValueError naming its variable."""
        try:
            if environ is None:
                return cls()
            variables = {field.validation_alias for field in cls.model_fields.values()}
            return cls.model_validate({k: v for k, v in environ.items() if k in variables})
        except ValidationError as error:
            raise ValueError(_explain(cls, error)) from None

    @classmethod
    def of(cls, **values: object):
        """The defaults with some settings given by name, the environment left out."""
        return cls.from_env({}).with_overrides(**values)

    def with_overrides(self, **overrides: object):
        """A copy with some settings changed, by name (as create_app's mapping gives them)."""
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        variables = {name: field.validation_alias for name, field in type(self).model_fields.items()}
        derived = getattr(self, "_derived", None) or set()
        values = {**self.model_dump(exclude=derived - set(overrides)), **overrides}
        try:
            return type(self).model_validate({variables[name]: value for name, value in values.items()})
        except ValidationError as error:
            raise ValueError(_explain(type(self), error)) from None

    @classmethod
    def documented(cls) -> list[tuple[str, str, str, str]]:
        """(name, environment variable, default as written, help) of every setting."""
        rows = []
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra or {}
            shown = extra.get("shown") if isinstance(extra, dict) else None
            if shown is None:
                shown = "none" if field.default is None else _written(field.default)
            rows.append((name, field.validation_alias, shown, field.description or ""))
        return rows


def _written(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _explain(cls: type[_Declared], error: ValidationError) -> str:
    variables = {name: field.validation_alias for name, field in cls.model_fields.items()}
    parts = []
    for problem in error.errors():
        where = str(problem["loc"][0]) if problem["loc"] else "?"
        parts.append(f"{variables.get(where, where)}: {problem['msg']} (got {problem.get('input')!r})")
    return "; ".join(parts)


class Settings(_Declared):
    """What the application does: folders, images, limits, caching, harvesting."""

    images_dir: Location = setting(
        Path("images"), "BEELDPOST_IMAGES",
        "folder of source images, or a bucket and prefix of S3-compatible storage "
        "(`s3://archief-bron/`; endpoint and credentials from `AWS_ENDPOINT_URL`, "
        "`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `~/.aws/config`)",
        shown="`images/`")
    manifests_dir: Path = setting(Path("manifests"), "BEELDPOST_MANIFESTS", "folder of item records",
                                  shown="`manifests/`")
    cache_dir: Location = setting(
        Path("var/cache"), "BEELDPOST_CACHE",
        "folder for derivatives (outside git), or a bucket and prefix (`s3://archief-cache/`) "
        "that several servers share: pyramids, and rendered answers beside the local ones",
        shown="`var/cache/`")
    scratch_dir: Path = setting(
        Path("var/scratch"), "BEELDPOST_SCRATCH",
        "local folder for work on the way to and from a bucket (a source being built into a "
        "pyramid); when `BEELDPOST_CACHE` is a bucket, also the journal, the locks and the "
        "local response cache", shown="`var/scratch/`")
    storage_timeout: float = setting(
        5.0, "BEELDPOST_STORAGE_TIMEOUT",
        "seconds a request to a bucket may take (connecting: at most 2) before it is given up; "
        "a request that needs an unreachable bucket gets a `503` with `Retry-After`", gt=0)
    storage_cache_mb: int = setting(
        64, "BEELDPOST_STORAGE_CACHE_MB",
        "MB of pyramid bytes from a bucket each worker keeps in memory (stored tiles, the "
        "blocks renders read); what it holds is still served while the bucket is unreachable",
        ge=0)
    build_wait: float = setting(
        15.0, "BEELDPOST_BUILD_WAIT",
        "seconds a request waits for a pyramid being built in the bucket (by this server or "
        "another) before a `503` with `Retry-After` (the build goes on); keep it well under "
        "the proxy's read timeout", gt=0)
    viewers_dir: Path = Field(
        default_factory=_default_viewers, validation_alias="BEELDPOST_VIEWERS",
        description="folder of the built Mirador and Universal Viewer assets (`make viewers`; "
                    "outside git)",
        json_schema_extra={"shown": "`var/viewers/`, or the build inside an installed wheel"})
    public_base_url: OptionalText = setting(
        None, "BEELDPOST_PUBLIC_URL",
        "public base URL, e.g. `https://beeld.archief.nl`, when behind a proxy; otherwise ids "
        "use the request's own host")
    secret: OptionalText = setting(
        None, "BEELDPOST_SECRET",
        "the key that signs sign-in sessions and access tokens, at least 32 characters: give "
        "every server of a cluster the same one, and keep it out of git; none: a random key "
        "made once and kept in `secret` in the local cache folder (one server)",
        min_length=32)
    trusted_proxies: Networks = setting(
        (), "BEELDPOST_TRUSTED_PROXIES",
        "addresses or networks of the proxies in front (`127.0.0.1, 10.0.0.0/8`): from them "
        "alone `X-Forwarded-For` and the sign-on header are believed", shown="none")
    reading_room: Networks = setting(
        (), "BEELDPOST_READING_ROOM",
        "the reading room's networks (`192.0.2.0/24`): requests from them see `capped`, "
        "`clickthrough` and `reading-room` items in full, with no sign-in", shown="none")
    sign_on_header: str = setting(
        "Remote-User", "BEELDPOST_SIGN_ON_HEADER",
        "the header in which a trusted proxy's single sign-on (oauth2-proxy, Shibboleth, "
        "`mod_auth_openidc`) names the staff member signed on", shown="`Remote-User`")
    session_hours: float = setting(
        8.0, "BEELDPOST_SESSION_HOURS",
        "hours a sign-in (or accepted terms) lasts in a browser", gt=0)
    terms_nl: str = setting(
        "Deze afbeelding is auteursrechtelijk beschermd. U mag haar bekijken voor eigen "
        "studie en onderzoek; voor publicatie of ander gebruik is toestemming van de "
        "rechthebbende nodig.", "BEELDPOST_TERMS_NL",
        "the terms of use a `clickthrough` item shows in Dutch, when its record gives none",
        shown="(a short text on study use)")
    terms_en: str = setting(
        "This image is protected by copyright. You may view it for your own study and "
        "research; publication or any other use needs the permission of the rights holder.",
        "BEELDPOST_TERMS_EN",
        "the terms of use a `clickthrough` item shows in English, when its record gives none",
        shown="(a short text on study use)")
    tile_size: int = setting(256, "BEELDPOST_TILE_SIZE", "tile size of derivatives and `info.json`",
                             ge=64, le=4096)
    # Below 90 libvips stores YCbCr with 4:2:0 chroma, a third of the size of its Q 90+
    # RGB tiles and faster to decode, with no visible loss at this quality.
    derivative_quality: int = setting(
        88, "BEELDPOST_DERIVATIVE_QUALITY",
        "JPEG quality of the stored tiles (below 90 libvips stores compact YCbCr 4:2:0 tiles)",
        ge=1, le=100)
    jpeg_quality: int = setting(85, "BEELDPOST_JPEG_QUALITY",
                                "JPEG (and WebP) quality of served images", ge=1, le=100)
    max_width: OptionalLimit = setting(None, "BEELDPOST_MAX_WIDTH", "`maxWidth`, advertised and enforced")
    max_height: OptionalLimit = setting(None, "BEELDPOST_MAX_HEIGHT",
                                        "`maxHeight`, advertised and enforced")
    # A default area limit keeps `^` upscales and huge renders bounded in memory.
    max_area: OptionalLimit = setting(100_000_000, "BEELDPOST_MAX_AREA",
                                      "`maxArea` in pixels; `0` for none")
    max_source_pixels: int = setting(
        1_000_000_000, "BEELDPOST_MAX_SOURCE_PIXELS",
        "sources above this many pixels are refused (checked on the header, before decoding)", gt=0)
    heavy_pixels: int = setting(
        4_000_000, "BEELDPOST_HEAVY_PIXELS",
        "a render decoding more pixels than this is \"heavy\" (whole images, huge crops)", gt=0)
    render_memory: OptionalBytes = setting(
        None, "BEELDPOST_RENDER_MEMORY",
        "memory heavy renders may take at once, all workers together (`512M`, `2G`); each "
        "takes what it will need, the rest wait (`BEELDPOST_RENDER_WAIT`)",
        shown="a quarter of the machine's (or container's) memory")
    heavy_slots: OptionalCount = setting(
        None, "BEELDPOST_HEAVY_SLOTS",
        "most heavy renders running at once, all workers together, memory allowing",
        shown="one per core")
    renders_per_worker: OptionalCount = setting(
        None, "BEELDPOST_RENDERS_PER_WORKER",
        "most renders of more than a few tiles a worker runs at once besides heavy ones; the "
        "rest wait for one to end", shown="the cores ÷ `WEB_CONCURRENCY`, at least 1")
    heavy_queue: int = setting(
        8, "BEELDPOST_HEAVY_QUEUE",
        "most heavy renders waiting for memory or a slot, per worker; beyond that `503` with "
        "`Retry-After`", ge=0)
    render_wait: float = setting(
        1.5, "BEELDPOST_RENDER_WAIT",
        "seconds in which a heavy request should be answered, waiting for memory or a slot "
        "included (or three more renders' time, when renders take longer): one the line ahead "
        "would keep longer, going by recent render times, gets `503` with `Retry-After` at "
        "once, and none waits longer", ge=0)
    render_timeout: float = setting(
        20.0, "BEELDPOST_RENDER_TIMEOUT",
        "seconds after its arrival (waiting included) before a heavy render is cut off (`503`)",
        gt=0)
    keep_freed_mb: int = setting(
        64, "BEELDPOST_KEEP_FREED_MB",
        "MB of memory its renders freed that a busy worker keeps for the next ones (not faulted in "
        "again); past it, and a second after the worker comes to rest, it goes back to the system",
        ge=0)
    retry_after: int = setting(5, "BEELDPOST_RETRY_AFTER", "`Retry-After` seconds on a `503`", ge=0)
    cache_max_age: int = setting(86400, "BEELDPOST_CACHE_MAX_AGE",
                                 "`Cache-Control: max-age` of images, seconds", ge=0)
    info_max_age: int = setting(3600, "BEELDPOST_INFO_MAX_AGE",
                                "`Cache-Control: max-age` of `info.json`, seconds", ge=0)
    shared_max_age: int = setting(
        86400, "BEELDPOST_SHARED_MAX_AGE",
        "`Cache-Control: s-maxage` of images and `info.json`: how long a shared cache (a CDN, "
        "nginx) keeps them; purge one image or item by its `Surrogate-Key` / `Cache-Tag`", ge=0)
    response_cache: bool = setting(
        True, "BEELDPOST_RESPONSE_CACHE",
        "keep rendered images on disk (`responses/` in the cache folder, or in the scratch folder "
        "and the bucket when the cache is a bucket) so a repeated request is one file read; "
        "`off` for cold measurements", shown="`on`")
    response_cache_mb: int = setting(
        1024, "BEELDPOST_RESPONSE_CACHE_MB",
        "size cap of the response cache on disk in MB; least recently used answers are deleted "
        "first (in a bucket, a lifecycle rule on `responses/` bounds them)", ge=0)
    open_images: int = setting(64, "BEELDPOST_OPEN_IMAGES", "opened pyramid levels each worker keeps",
                               ge=1)
    journal_file: OptionalPath = setting(
        None, "BEELDPOST_JOURNAL",
        "the Change Discovery activity journal (SQLite); keep it when clearing derivatives",
        shown="`journal.sqlite3` in the cache folder (the scratch folder when that is a bucket)")
    database_url: OptionalText = setting(
        None, "BEELDPOST_DATABASE_URL",
        "PostgreSQL for the catalogue index, the Change Discovery journal and the image facts, "
        "shared by several servers: `postgresql://user@host:5432/beeldpost` (its tables are "
        "made on first use); none: the SQLite file `BEELDPOST_JOURNAL`")
    database_connections: int = setting(
        3, "BEELDPOST_DATABASE_CONNECTIONS",
        "connections to PostgreSQL for reading, per worker process, that its threads borrow "
        "one per read (waiting up to 5 s, then `503`); its event loop keeps one more: keep "
        "servers × workers × (this + 1), plus 4 for the watcher (its readers and its "
        "writer), under the server's `max_connections`", ge=1)
    journal_interval: float = setting(
        5.0, "BEELDPOST_JOURNAL_INTERVAL",
        "in an app no watcher keeps current (made with `create_app()` and served by another "
        "WSGI server): seconds between checks for changed records on request (`0`: every "
        "request); `beeldpost serve` never checks on request", ge=0)
    watch: bool = setting(
        True, "BEELDPOST_WATCH",
        "keep the catalogue current from file events (inotify), in one process of the server",
        shown="`on`")
    scan_interval: float = setting(
        30.0, "BEELDPOST_SCAN_INTERVAL",
        "seconds between full scans of the records and images folders besides file events "
        "(for network file systems, which send none); while events arrive, at least ten "
        "times as long as the last full scan took", gt=0)
    home_page_size: int = setting(20, "BEELDPOST_HOME_PAGE_SIZE",
                                  "items per page of the home page and of search results", ge=1)
    collection_size: int = setting(
        1000, "BEELDPOST_COLLECTION_SIZE",
        "members a Collection document lists at most; a larger level of the archive is split "
        "into child Collections by year or in runs (`1–1000`, …)", ge=2)
    discovery_page_size: int = setting(100, "BEELDPOST_DISCOVERY_PAGE_SIZE",
                                       "activities per Change Discovery page", ge=1)
    sitemap_urls: int = setting(
        5_000, "BEELDPOST_SITEMAP_URLS",
        "URLs per sitemap listed in the sitemap index `/sitemap.xml` (at most 50,000, the "
        "protocol's limit; smaller ones are quicker to serve and their `lastmod` says more)",
        ge=4, le=50_000)
    search_page_size: int = setting(
        50, "BEELDPOST_SEARCH_PAGE_SIZE",
        "search hits (Search 1.0) or annotations (2.0) per page of results", ge=1)
    debug: bool = setting(False, "BEELDPOST_DEBUG", "Flask debug mode")

    # Settings worked out from others (not given): with_overrides works them out again.
    _derived: set = PrivateAttr(default_factory=set)

    @field_validator("manifests_dir", "scratch_dir", "viewers_dir", "journal_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Made absolute once, against the directory the server starts in (the images and
        # cache locations are, by _location).
        return None if value is None else Path(os.path.abspath(value))

    @model_validator(mode="after")
    def _local_homes(self) -> "Settings":
        # The journal is a local SQLite file: with the cache in a bucket it lives in the
        # scratch folder, as do the other local files (local_cache_dir).
        if self.journal_file is None and isinstance(self.cache_dir, S3Url):
            object.__setattr__(self, "journal_file", self.scratch_dir / "journal.sqlite3")
            self._derived.add("journal_file")
        return self

    @property
    def local_cache_dir(self) -> Path:
        """Where the files that must be local live (locks, the journal's default, the
        on-disk response cache, admission slots): the cache folder, or the scratch folder
        when the cache is a bucket."""
        return self.cache_dir if isinstance(self.cache_dir, Path) else self.scratch_dir

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must start with postgresql:// (or postgresql+psycopg://)")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class ServerSettings(_Declared):
    """How `beeldpost serve` runs gunicorn (http/gunicorn_conf.py reads these)."""

    host: str = setting("127.0.0.1", "HOST", "where `beeldpost serve` listens (address)")
    port: int = setting(8000, "PORT", "where `beeldpost serve` listens (port)", ge=0, le=65535)
    workers: int = setting(2, "WEB_CONCURRENCY", "gunicorn worker processes", ge=1)
    threads: int = setting(
        24, "BEELDPOST_THREADS",
        "threads per worker for renders and pages (enough that slow renders never hold them all)", ge=1)
    malloc_arena_max: int = setting(
        2, "MALLOC_ARENA_MAX",
        "glibc malloc arenas per process (set by `beeldpost serve`; keeps RSS flat)", ge=1)
    vips_concurrency: int = setting(
        1, "VIPS_CONCURRENCY",
        "libvips threads per render (parallelism comes from workers and threads)", ge=1)
    timeout: int = setting(60, "BEELDPOST_TIMEOUT", "gunicorn worker timeout, seconds", ge=1)
    access_log: OptionalText = setting(
        None, "BEELDPOST_ACCESS_LOG",
        "gunicorn's own access log (`-` for stdout); the app always logs one JSON line per request "
        "to stderr")
    log_level: str = setting("info", "BEELDPOST_LOG_LEVEL", "gunicorn log level")


def markdown_table() -> str:
    """The README's configuration table, from the declarations above."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for group in (Settings, ServerSettings):
        for _name, variable, shown, description in group.documented():
            lines.append(f"| `{variable}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"
