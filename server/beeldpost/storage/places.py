"""Where sources and caches live: a folder, or a bucket and prefix of S3-compatible storage.

`location(value)` turns a setting (a Path, or an `s3://bucket/prefix/` S3Url) into a
Storage: LocalStorage for a folder, S3Storage for a bucket. Both offer what the image
core needs of a place that holds files, and nothing more: stat, read a byte range, read
a small object, download into a local file while hashing it, put (optionally only if
absent, or only over a given version), delete, walk (for the catalogue's scan and the
commands: requests never list) and a cheap reachability check for /ready.

The local hot path does not come through here: a stored tile of a pyramid on disk stays
one os.pread on a kept descriptor (stored_tiles.py). What a bucket adds is kept apart:

- S3Storage speaks to the bucket with obstore (Rust's object_store): a ranged GET of a
  20 KB tile took 2.0 ms and 0.24 ms of CPU against the local SeaweedFS, boto3 3.2 ms and
  1.27 ms. The endpoint, region and credentials come from the standard environment
  variables and, for what they leave out, the AWS config and credentials files
  (`s3_config`). Connecting waits at most 2 s, a read at most `timeout`, a failed call is
  retried once: nothing hangs for minutes.
- A bucket that fails is reported down for a second (DOWN_SECONDS): calls meanwhile fail
  at once with StorageUnavailable (503 + Retry-After) rather than each waiting for their
  own timeout; then one call probes it, and the first that succeeds brings it back. No
  restart is needed when storage returns.
- BlockCache keeps, per worker, bytes read from objects (a stored tile's bytes, the
  aligned blocks the TIFF index reader and libvips read through RangeReader); what it
  holds is served while the bucket is down.
- `open_image` opens an object with libvips through a SourceCustom over a RangeReader:
  headers and the tiles a render needs are read, never the whole object.
"""

from __future__ import annotations

import configparser
import datetime as _datetime
import fcntl
import hashlib
import io
import logging
import os
import re
import shutil
import threading
import time
import zlib
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Iterable, Iterator

from .. import counters
from ..errors import StorageUnavailable
from ..settings import S3Url

log = logging.getLogger(__name__)


class NotAtHand(Exception):
    """An answer needs work that must not hold up an event loop: reading a record,
    hashing a source, building or opening a derivative, decoding, a request to a bucket.
    Raised only by the `at_hand=True` calls, whose callers then do the same call on a
    thread; or, when `fetch` is given (a stored tile in a bucket), await `fetch()` on the
    loop (it brings what was missing) and try at hand again, with no thread at all."""

    def __init__(self, message: str, fetch: Callable[[], Awaitable[None]] | None = None):
        super().__init__(message)
        self.fetch = fetch


@dataclass(frozen=True)
class Stat:
    """What a file's or object's metadata says. For an object, `mtime_ns` is its
    LastModified (whole seconds) with a checksum of its ETag in the nanoseconds, so the
    stamps that compare (size, mtime_ns) also see an object replaced within a second."""

    size: int
    mtime_ns: int
    etag: str = ""


def object_mtime_ns(last_modified: _datetime.datetime, etag: str) -> int:
    return int(last_modified.timestamp()) * 1_000_000_000 + zlib.crc32(etag.encode()) % 1_000_000_000


class Storage:
    """A place holding files by relative path ('fonds/a.jpg', '/' between parts)."""

    remote = False

    def url(self, relative: str) -> Path | S3Url:
        raise NotImplementedError

    def stat(self, relative: str) -> Stat | None:
        raise NotImplementedError

    def read(self, relative: str, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def get(self, relative: str) -> bytes | None:
        """A small object's bytes, None when there is none."""
        raise NotImplementedError

    def download(self, relative: str, target: Path) -> str:
        """Copy into a local file; its SHA-256 (FileNotFoundError when absent)."""
        raise NotImplementedError

    def sha256(self, relative: str) -> str:
        raise NotImplementedError

    def put(self, relative: str, data: bytes | Path, *, if_absent: bool = False,
            if_match: str | None = None, attributes: dict[str, str] | None = None) -> str | None:
        """Write whole (never visible half-written); its ETag, or None when `if_absent`
        and it exists, or `if_match` and it is another version."""
        raise NotImplementedError

    def delete(self, relative: str) -> None:
        raise NotImplementedError

    def walk(self, keep: Callable[[str], bool]) -> dict[str, str]:
        """relative path -> stem of every file whose name `keep` accepts (hidden files
        and folders left out). For the catalogue's scan and the commands only."""
        raise NotImplementedError

    def check(self) -> str | None:
        """None when reachable, else what is wrong, in a sentence (for /ready)."""
        raise NotImplementedError


def walk_files(folder: Path, keep: Callable[[str], bool]) -> dict[str, str]:
    """relative path (with /) -> stem of every file in `folder` and below whose name
    `keep` accepts (hidden files and folders left out; symlinked folders not followed).
    For the catalogue's scan and the commands: requests never walk a folder."""
    found: dict[str, str] = {}
    folder = Path(folder)
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            entries = list(os.scandir(folder / relative if relative else folder))
        except OSError as error:
            log.error("cannot list %s: %s", folder / relative, error)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif keep(entry.name) and entry.is_file():
                found[path] = os.path.splitext(entry.name)[0]
    return found


class LocalStorage(Storage):
    """A folder on this machine's file system."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def __str__(self) -> str:
        return str(self.folder)

    def url(self, relative: str) -> Path:
        return self.folder / relative

    def stat(self, relative: str) -> Stat | None:
        try:
            found = os.stat(self.folder / relative)
        except OSError:
            return None
        return Stat(found.st_size, found.st_mtime_ns)

    def read(self, relative: str, offset: int, length: int) -> bytes:
        with open(self.folder / relative, "rb") as handle:
            return os.pread(handle.fileno(), length, offset)

    def get(self, relative: str) -> bytes | None:
        try:
            return (self.folder / relative).read_bytes()
        except FileNotFoundError:
            return None

    def download(self, relative: str, target: Path) -> str:
        digest = hashlib.sha256()
        with open(self.folder / relative, "rb") as source, open(target, "wb") as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        return digest.hexdigest()

    def sha256(self, relative: str) -> str:
        digest = hashlib.sha256()
        with open(self.folder / relative, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def put(self, relative: str, data: bytes | Path, *, if_absent: bool = False,
            if_match: str | None = None, attributes: dict[str, str] | None = None) -> str | None:
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if isinstance(data, Path):
            shutil.copyfile(data, temporary)
        else:
            temporary.write_bytes(data)
        try:
            if if_absent:
                os.link(temporary, target)  # fails when it exists: nothing is overwritten
            else:
                os.replace(temporary, target)
        except FileExistsError:
            return None
        finally:
            temporary.unlink(missing_ok=True)
        found = os.stat(target)
        return f"{found.st_mtime_ns:x}-{found.st_size:x}"

    def delete(self, relative: str) -> None:
        (self.folder / relative).unlink(missing_ok=True)

    def walk(self, keep: Callable[[str], bool]) -> dict[str, str]:
        return walk_files(self.folder, keep)

    def check(self) -> str | None:
        try:
            os.stat(self.folder)
        except OSError as error:
            return f"folder {self.folder} is not readable: {error.strerror}"
        return None


# ---------------------------------------------------------------------- S3
#
# obstore is imported where it is used: a server on folders never loads it (importing
# it takes 28 ms and 6 MB in each process).

DOWN_SECONDS = 1.0  # a bucket that failed is not asked again for this long
RETRIES = 1  # a failed request is tried once more (obstore backs off in between)
CONNECT_SECONDS = 2.0
READY_SECONDS = 1.0  # /ready's reachability check is kept this long
MULTIPART_BYTES = 256 * 1024 * 1024  # larger uploads go in parts (no conditional write)


def _ini(path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(os.path.expanduser(path), encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as error:
        log.warning("cannot read %s: %s", path, error)
    return parser


def _nested(text: str) -> dict[str, str]:
    """An AWS config value holding `key = value` lines of its own (`s3 =` in a services
    section)."""
    found = {}
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals:
            found[name.strip()] = value.strip()
    return found


def s3_config(environ: dict[str, str] | None = None) -> dict[str, str]:
    """obstore's S3 settings as the AWS tools would find them: the environment first
    (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the profile
    (AWS_PROFILE, else `default`) in AWS_CONFIG_FILE (~/.aws/config: region,
    endpoint_url, a services section's s3 endpoint_url, keys) and
    AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials). Without keys anywhere, obstore
    asks the usual providers itself (web identity, container, instance metadata)."""
    env = os.environ if environ is None else environ
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    config = _ini(env.get("AWS_CONFIG_FILE") or "~/.aws/config")
    credentials = _ini(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
    section_name = profile if profile == "default" else f"profile {profile}"
    section = dict(config[section_name]) if config.has_section(section_name) else {}
    keys = dict(credentials[profile]) if credentials.has_section(profile) else {}
    services = section.get("services")
    service_endpoint = None
    if services and config.has_section(f"services {services}"):
        service_endpoint = _nested(config[f"services {services}"].get("s3", "")).get("endpoint_url")
    found = {
        "endpoint": (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
                     or service_endpoint or section.get("endpoint_url")),
        "region": (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
                   or section.get("region") or "us-east-1"),
    }
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        found.update(access_key_id=env["AWS_ACCESS_KEY_ID"],
                     secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                     session_token=env.get("AWS_SESSION_TOKEN"))
    else:
        for source in (keys, section):
            if source.get("aws_access_key_id") and source.get("aws_secret_access_key"):
                found.update(access_key_id=source["aws_access_key_id"],
                             secret_access_key=source["aws_secret_access_key"],
                             session_token=source.get("aws_session_token"))
                break
    return {name: value for name, value in found.items() if value}


def _reason(error: Exception) -> str:
    """What went wrong, in a few words: the client hears this, the log gets the rest."""
    import obstore.exceptions as failures

    if isinstance(error, failures.PermissionDeniedError):
        return "access denied"
    if isinstance(error, failures.UnauthenticatedError):
        return "the credentials were refused"
    text = str(error).lower()
    status = text.partition("status code: ")[2][:3]
    if status.isdigit():
        return f"it answered {status}"
    if "timed out" in text or isinstance(error, TimeoutError):
        return "it did not answer in time"
    if "error sending request" in text or "connect" in text:
        return "it cannot be connected to"
    return "it answered with an error"


class Bucket:
    """One bucket as this process reaches it: the obstore client, whether it is down,
    and what was asked of it (`requests`, `read_bytes`: for tests and benchmarks)."""

    def __init__(self, name: str, config: dict[str, str], timeout: float, retry_after: int):
        from obstore.store import S3Store

        self.name = name
        self.retry_after = retry_after
        self.timeout = timeout
        endpoint = config.get("endpoint", "")
        self.store = S3Store(
            name, config=config,
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": _datetime.timedelta(seconds=min(CONNECT_SECONDS, timeout)),
                "read_timeout": _datetime.timedelta(seconds=timeout),
                # Whole downloads and uploads of large files take as long as they take;
                # reads that stall are cut off by read_timeout.
                "timeout": _datetime.timedelta(hours=1),
            },
            retry_config={"max_retries": RETRIES,
                          "retry_timeout": _datetime.timedelta(seconds=timeout),
                          "backoff": {"init_backoff": _datetime.timedelta(milliseconds=50),
                                      "max_backoff": _datetime.timedelta(milliseconds=500),
                                      "base": 2}},
        )
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._problem = ""
        self.failed_at = 0.0  # time.monotonic() of the last failure
        self.requests: Counter[str] = Counter()
        self.read_bytes: Counter[str] = Counter()
        self._ready: tuple[float, str | None] | None = None

    def __str__(self) -> str:
        return f"s3://{self.name}/"

    def unavailable(self, reason: str | None = None) -> StorageUnavailable:
        return StorageUnavailable(
            f"the image storage ({self}) cannot be reached: {reason or self._problem}; "
            f"try again in {self.retry_after} s.",
            headers={"Retry-After": str(self.retry_after)})

    def call(self, operation: str, function: Callable, *args, count: int = 1, **options):
        """One request (`count`: how many it makes; 0 for the rest of one, a body being
        read): StorageUnavailable when it fails or the bucket is down; FileNotFoundError
        and the failed conditions of a conditional write as they come."""
        self._before(operation, count)
        try:
            result = function(self.store, *args, **options)
        except Exception as error:  # noqa: BLE001 -- sorted out by _failed
            raise self._failed(operation, count, error) from None
        self._succeeded(operation, count)
        return result

    async def call_async(self, operation: str, function: Callable, *args, count: int = 1,
                         **options):
        """call() for an event loop: `function` is one of obstore's *_async ones."""
        self._before(operation, count)
        try:
            result = await function(self.store, *args, **options)
        except Exception as error:  # noqa: BLE001 -- sorted out by _failed
            raise self._failed(operation, count, error) from None
        self._succeeded(operation, count)
        return result

    def _succeeded(self, operation: str, count: int) -> None:
        self._up()
        if count:
            counters.storage_request(operation, "ok", count)

    def _before(self, operation: str, count: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._down_until:
                counters.storage_request(operation, "skipped", count)
                raise self.unavailable()
            if self._down_until:  # down a moment ago: this call is the one probe
                self._down_until = now + self.timeout + CONNECT_SECONDS
        if count:
            self.requests[operation] += count

    def _failed(self, operation: str, count: int, error: Exception) -> Exception:
        """What a failed call raises: the error itself when the bucket answered (absent,
        a condition not met, a bug of ours), else StorageUnavailable (marked down)."""
        import obstore.exceptions as failures

        if isinstance(error, FileNotFoundError):
            self._up()
            counters.storage_request(operation, "absent", count)
            return error
        if isinstance(error, (failures.AlreadyExistsError, failures.PreconditionError)):
            self._up()
            counters.storage_request(operation, "condition", count)
            return error
        if not isinstance(error, (failures.BaseError, OSError, TimeoutError, RuntimeError)):
            return error
        reason = _reason(error)
        with self._lock:
            first = not self._problem
            self._down_until = time.monotonic() + DOWN_SECONDS
            self._problem = reason
            self.failed_at = time.monotonic()
        counters.storage_request(operation, "failed", count)
        if first:
            log.error("storage %s unavailable (%s): %s", self, operation,
                      str(error).strip().splitlines()[0])
        return self.unavailable(reason)

    def _up(self) -> None:
        if self._down_until or self._problem:
            with self._lock:
                if self._problem:
                    log.warning("storage %s is reachable again", self)
                self._down_until, self._problem = 0.0, ""

    def counted_read(self, operation: str, size: int) -> None:
        self.read_bytes[operation] += size
        counters.storage_read(operation, size)

    def check(self) -> str | None:
        """Reachable and the bucket exists (one GET of a key that is never there, kept
        READY_SECONDS); else what is wrong."""
        import obstore

        kept = self._ready
        if kept is not None and time.monotonic() - kept[0] < READY_SECONDS:
            return kept[1]
        problem = None
        try:
            self.call("check", obstore.get, ".beeldpost-ready-check")
        except FileNotFoundError as error:
            if "NoSuchBucket" in str(error):
                problem = f"storage {self} is reachable but has no bucket {self.name!r}"
        except StorageUnavailable:
            problem = f"storage {self} is unreachable: {self._problem or 'no answer'}"
        self._ready = (time.monotonic(), problem)
        return problem


_buckets: dict[tuple, Bucket] = {}
_buckets_lock = threading.Lock()
_defaults = {"timeout": 5.0, "retry_after": 5}


def bucket(name: str, timeout: float | None = None, retry_after: int | None = None) -> Bucket:
    """The process's client for this bucket as the environment configures it now (made
    once per bucket and configuration: a client costs milliseconds to make)."""
    config = s3_config()
    with _buckets_lock:
        if timeout is not None:
            _defaults["timeout"] = timeout
        if retry_after is not None:
            _defaults["retry_after"] = retry_after
        key = (name, tuple(sorted(config.items())), _defaults["timeout"])
        found = _buckets.get(key)
        if found is None:
            found = _buckets[key] = Bucket(name, config, _defaults["timeout"],
                                          _defaults["retry_after"])
        found.retry_after = _defaults["retry_after"]
        return found


# Object stats a worker keeps: from a HEAD for STAT_SECONDS, from the scan's listing
# until the next listing replaces them (the catalogue knows no more than that listing).
STAT_SECONDS = 10.0
LISTED_SECONDS = 600.0
KEPT_STATS = 100_000


class S3Storage(Storage):
    """A prefix of a bucket ('' for all of it, else ending in '/')."""

    remote = True

    def __init__(self, bucket: Bucket, prefix: str = ""):
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._stats: OrderedDict[str, tuple[float, Stat]] = OrderedDict()
        self._stats_lock = threading.Lock()

    def __str__(self) -> str:
        return f"s3://{self.bucket.name}/{self.prefix}"

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def url(self, relative: str) -> S3Url:
        return S3Url(f"s3://{self.bucket.name}/{self.prefix}{relative}")

    def relative(self, url: S3Url) -> str:
        return url.key[len(self.prefix):]

    @staticmethod
    def _stat_of(meta: dict) -> Stat:
        etag = (meta.get("e_tag") or "").strip('"')
        return Stat(meta["size"], object_mtime_ns(meta["last_modified"], etag), etag)

    def stat(self, relative: str, max_age: float | None = None, at_hand: bool = False,
             stale_ok: bool = False) -> Stat | None:
        """A HEAD, or with `max_age` what this worker learnt of it that recently. With
        `at_hand`, NotAtHand rather than a request; with `stale_ok`, an older stat
        rather than StorageUnavailable while the bucket is down."""
        import obstore

        kept = self._stats.get(relative) if max_age is not None or stale_ok else None
        if kept is not None and max_age is not None and kept[0] > time.monotonic() - max_age:
            return kept[1]
        if at_hand:
            raise NotAtHand(f"{self.url(relative)} must be asked for")
        try:
            meta = self.bucket.call("head", obstore.head, self.key(relative))
        except FileNotFoundError:
            with self._stats_lock:
                self._stats.pop(relative, None)
            return None
        except StorageUnavailable:
            if stale_ok and kept is not None:
                return kept[1]
            raise
        found = self._stat_of(meta)
        self._keep_stat(relative, found, time.monotonic())
        return found

    def _keep_stat(self, relative: str, found: Stat, learnt: float) -> None:
        with self._stats_lock:
            self._stats[relative] = (learnt, found)
            self._stats.move_to_end(relative)
            while len(self._stats) > KEPT_STATS:
                self._stats.popitem(last=False)

    def read(self, relative: str, offset: int, length: int) -> bytes:
        import obstore

        if length <= 0:
            return b""
        data = self.bucket.call("get_range", obstore.get_range, self.key(relative),
                                start=offset, length=length).to_bytes()
        self.bucket.counted_read("get_range", len(data))
        return data

    async def read_async(self, relative: str, offset: int, length: int) -> bytes:
        """read() on an event loop (obstore's own runtime does the request)."""
        import obstore

        data = (await self.bucket.call_async("get_range", obstore.get_range_async,
                                             self.key(relative), start=offset,
                                             length=length)).to_bytes()
        self.bucket.counted_read("get_range", len(data))
        return data

    def read_ranges(self, relative: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Several (offset, length) ranges at once, concurrently (one request each)."""
        import obstore

        if not ranges:
            return []
        if len(ranges) == 1:
            return [self.read(relative, *ranges[0])]
        # One ranged GET per range (coalesce=0), up to ten at a time: counted as such.
        found = self.bucket.call("get_range", obstore.get_ranges, self.key(relative),
                                 starts=[start for start, _ in ranges],
                                 lengths=[length for _, length in ranges], coalesce=0,
                                 count=len(ranges))
        data = [piece.to_bytes() for piece in found]
        self.bucket.counted_read("get_range", sum(len(piece) for piece in data))
        return data

    def get(self, relative: str) -> bytes | None:
        import obstore

        try:
            result = self.bucket.call("get", obstore.get, self.key(relative))
            data = self.bucket.call("get", lambda _store: result.bytes().to_bytes(), count=0)
        except FileNotFoundError:
            return None
        self.bucket.counted_read("get", len(data))
        return data

    def _stream(self, relative: str) -> Iterator[bytes]:
        import obstore

        result = self.bucket.call("get", obstore.get, self.key(relative))
        stream = iter(result.stream(min_chunk_size=1 << 20))
        while True:
            chunk = self.bucket.call("get", lambda _store: next(stream, None), count=0)
            if chunk is None:
                return
            self.bucket.counted_read("get", len(chunk))
            yield chunk

    def download(self, relative: str, target: Path) -> str:
        digest = hashlib.sha256()
        with open(target, "wb") as out:
            for chunk in self._stream(relative):
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest()

    def sha256(self, relative: str) -> str:
        digest = hashlib.sha256()
        for chunk in self._stream(relative):
            digest.update(chunk)
        return digest.hexdigest()

    def put(self, relative: str, data: bytes | Path, *, if_absent: bool = False,
            if_match: str | None = None, attributes: dict[str, str] | None = None) -> str | None:
        import obstore
        import obstore.exceptions as failures

        mode = "overwrite"
        if if_absent:
            mode = "create"
        elif if_match is not None:
            mode = {"e_tag": f'"{if_match.strip(chr(34))}"'}
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        # A conditional write is one PUT (S3 has no condition on a multipart upload
        # everywhere); a larger file goes in parts, which are invisible until complete.
        multipart = size > MULTIPART_BYTES
        if multipart and mode != "overwrite":
            log.warning("%s is %d MB: uploaded in parts, without its write condition",
                        relative, size >> 20)
            mode = "overwrite"
        try:
            written = self.bucket.call("put", obstore.put, self.key(relative), data,
                                       mode=mode, attributes=attributes,
                                       use_multipart=multipart)
        except (failures.AlreadyExistsError, failures.PreconditionError):
            return None
        with self._stats_lock:
            self._stats.pop(relative, None)
        return (written.get("e_tag") or "").strip('"')

    def delete(self, relative: str) -> None:
        import obstore

        try:
            self.bucket.call("delete", obstore.delete, self.key(relative))
        except FileNotFoundError:
            pass
        with self._stats_lock:
            self._stats.pop(relative, None)

    def walk(self, keep: Callable[[str], bool]) -> dict[str, str]:
        """ListObjectsV2, a page at a time (StorageUnavailable when the bucket is down:
        an unreachable bucket is not an empty one). The stats listed are kept, so the
        scan that follows asks for none of them again."""
        import obstore

        found: dict[str, str] = {}
        learnt = time.monotonic() - STAT_SECONDS + LISTED_SECONDS
        pages = iter(obstore.list(self.bucket.store, self.prefix.rstrip("/") or None,
                                  chunk_size=1000))
        while True:
            page = self.bucket.call("list", lambda _store: next(pages, None))  # a page each
            if page is None:
                return found
            for meta in page:
                relative = meta["path"][len(self.prefix):]
                parts = relative.split("/")
                if any(part.startswith(".") or not part for part in parts):
                    continue
                if keep(parts[-1]):
                    found[relative] = os.path.splitext(parts[-1])[0]
                    self._keep_stat(relative, self._stat_of(meta), learnt)

    def check(self) -> str | None:
        return self.bucket.check()

    @property
    def failed_at(self) -> float:
        return self.bucket.failed_at


_prefixes: dict[tuple[int, str], S3Storage] = {}


def location(value: Path | S3Url | str, timeout: float | None = None,
             retry_after: int | None = None) -> Storage:
    """The Storage a setting names: a folder, or a bucket's prefix (one per process, so
    that what the scan's listing learnt serves the lookups that follow)."""
    if isinstance(value, S3Url) or (isinstance(value, str) and value.startswith("s3://")):
        url = S3Url.folder(value)
        client = bucket(url.bucket, timeout, retry_after)
        with _buckets_lock:
            found = _prefixes.get((id(client), url.key))
            if found is None or found.bucket is not client:
                found = _prefixes[(id(client), url.key)] = S3Storage(client, url.key)
        return found
    return LocalStorage(Path(value))


def object_at(url: S3Url) -> tuple[S3Storage, str]:
    """The bucket-wide storage holding this object, and its key."""
    whole = location(S3Url(f"s3://{url.bucket}/"))
    return whole, url.key


# ---------------------------------------------------------------------- reading

class BlockCache:
    """Bytes read from objects, kept by each worker: least recently used out first,
    at most `max_bytes` in all."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def forget(self, owner: str) -> None:
        """Everything of one object (keys start with its URL)."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == owner]:
                self._bytes -= len(self._entries.pop(key))

    @property
    def size(self) -> int:
        return self._bytes


BLOCK_BYTES = 64 * 1024


class RangeReader:
    """One object read as a file: any range, through BLOCK_BYTES-aligned blocks kept in
    a BlockCache (missing neighbouring blocks come in one ranged GET)."""

    def __init__(self, storage: S3Storage, relative: str, size: int, cache: BlockCache,
                 tag: str | None = None, block: int = BLOCK_BYTES):
        self.storage, self.relative, self.size = storage, relative, size
        self.cache, self.block = cache, block
        self.tag = tag or str(storage.url(relative))  # the cache keys' first part
        self.failure: StorageUnavailable | None = None  # the last, for libvips' callers

    def _blocks(self, first: int, last: int) -> dict[int, bytes]:
        found, missing = {}, []
        for index in range(first, last + 1):
            data = self.cache.get((self.tag, index))
            if data is None:
                missing.append(index)
            else:
                found[index] = data
        found.update(self._fetch(missing))
        return found

    def _fetch(self, missing: list[int]) -> dict[int, bytes]:
        """Read these blocks (sorted indexes) from storage, each run of adjacent blocks as
        one ranged read and the runs side by side; keep them in the cache."""
        runs: list[list[int]] = []
        for index in missing:
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        ranges = [(run[0] * self.block,
                   min(self.size, (run[-1] + 1) * self.block) - run[0] * self.block)
                  for run in runs]
        fetched: dict[int, bytes] = {}
        for run, data in zip(runs, self.storage.read_ranges(self.relative, ranges)):
            for position, index in enumerate(run):
                piece = data[position * self.block:(position + 1) * self.block]
                self.cache.put((self.tag, index), piece)
                fetched[index] = piece
        return fetched

    def read(self, offset: int, length: int) -> bytes:
        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        first, last = offset // self.block, (end - 1) // self.block
        blocks = self._blocks(first, last)
        data = b"".join(blocks[index] for index in range(first, last + 1))
        start = offset - first * self.block
        return data[start:start + end - offset]

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch the blocks under these (offset, length) ranges now, concurrently."""
        wanted = sorted({index for offset, length in ranges if length > 0
                         for index in range(offset // self.block,
                                            (min(self.size, offset + length) - 1) // self.block + 1)})
        if not wanted:
            return
        # One _blocks call per run of wanted blocks would be sequential: gather all the
        # missing ones and let read_ranges fetch them side by side.
        self._fetch([index for index in wanted if self.cache.get((self.tag, index)) is None])

    def file(self) -> "ReaderFile":
        return ReaderFile(self)


class ReaderFile(io.RawIOBase):
    """A RangeReader as a read-only, seekable file object (for Pillow)."""

    def __init__(self, reader: RangeReader):
        self.reader, self.position = reader, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.reader.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        data = self.reader.read(self.position, len(buffer))
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def open_image(reader: RangeReader, **options):
    """A pyvips image of the object, read through ranged reads as libvips asks for them
    (a header-only open reads the header; a render, the tiles it needs). A read that
    fails ends the read (libvips raises) and leaves the error in `reader.failure`."""
    import pyvips

    position = [0]
    source = pyvips.SourceCustom()

    def on_read(size: int) -> bytes:
        try:
            data = reader.read(position[0], size)
        except StorageUnavailable as error:
            reader.failure = error
            return b""
        position[0] += len(data)
        return data

    def on_seek(offset: int, whence: int) -> int:
        base = {0: 0, 1: position[0], 2: reader.size}.get(whence)
        if base is None:
            return -1
        position[0] = max(0, base + offset)
        return position[0]

    source.on_read(on_read)
    source.on_seek(on_seek)
    # pyvips keeps the source (and so these callbacks) alive as long as the image.
    return pyvips.Image.new_from_source(source, "", **options)


@contextmanager
def scratch_file(folder: Path, name: str) -> Iterator[Path]:
    """A file in the scratch folder, removed afterwards whatever happens."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{os.getpid()}-{threading.get_ident()}-{name}"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# Files in the scratch folder that belong to one process: `{pid}-…` (builds/) and
# `.{pid}-{thread}-…` (sources/, storage.scratch_file) and their temporaries.
_OF_A_PROCESS = re.compile(r"\.*(\d+)-")


def sweep_scratch(scratch: Path) -> list[str]:
    """Remove what processes that are gone left in the scratch folder (a server killed
    mid-build: its download of the source, its half-built pyramid, its build's lock
    file). Local folders of a few files: listed only when a process starts. The names
    removed."""
    removed = []
    for folder in (scratch / "builds", scratch / "sources"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            found = _OF_A_PROCESS.match(name)
            if found is None or process_running(int(found[1])):
                continue
            try:
                (folder / name).unlink()
                removed.append(name)
            except OSError:
                pass
    try:
        locks = os.listdir(scratch / "locks")
    except OSError:
        locks = []
    for name in locks:  # a build's flock file, left by a build that never finished
        try:
            with open(scratch / "locks" / name, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it
                (scratch / "locks" / name).unlink()
                removed.append(name)
        except OSError:
            continue  # held: a build running now
    if removed:
        log.warning("removed %d file(s) that a stopped build left in %s", len(removed), scratch)
    return removed


def process_running(pid: int) -> bool:
    """Whether a process of this machine has this id (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
