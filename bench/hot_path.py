"""CPU per request of the worker's own code, with no socket: `python bench/hot_path.py`.

Drives the production worker's HTTP protocol (gunicorn_worker.BoundedHttpToolsProtocol,
uvicorn's llhttp parser) and the ASGI front (http/asgi.py) with the bench's W1 tile URLs
and its info.json, on one event loop, through a transport that only counts the bytes
written. What it reports is the Python (and libvips) cost of a request from the bytes
read off the socket to the bytes handed back, without the kernel's share: the part
issue 23 asks to cut. Measurement, not a test.

With `--bucket cold` (or `kept`) the image and its pyramid are in buckets of a SeaweedFS
started here (the suite's tests/support/object_store.py), with a 1 MB (64 MB) block
cache: the CPU of a stored tile that is a ranged GET, all of this process's threads
counted (the loop's, the reader threads', obstore's tokio workers'), reported per thread
beside the garbage collections and the GETs per request. One request at a time, so each
waits for the store: a loop that sleeps and wakes for each, unlike a loaded server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
import workloads  # noqa: E402


class CountingTransport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.written = 0
        self.answers = 0
        self.statuses: dict[bytes, int] = {}
        self.answered: asyncio.Event | None = None  # set at each answer (bucket mode)
        self._closing = False

    def write(self, data) -> None:
        self.written += len(data)
        if data.startswith(b"HTTP/1.1 "):
            self.answers += 1
            status = data[9:12]
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if self.answered is not None:
                self.answered.set()

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_write_buffer_limits(self, high=None, low=None) -> None: ...
    def get_write_buffer_size(self) -> int:
        return 0
    def can_write_eof(self) -> bool:
        return True
    def write_eof(self) -> None: ...


def _whole_tile(tail: str) -> bool:
    region, size = tail.split("/")[:2]
    if region == "full":
        return False
    _x, _y, w, h = (int(part) for part in region.split(","))
    return w == h and size == "256," and w % 256 == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one round")
    parser.add_argument("--workloads", default="W1,stored,W2")
    parser.add_argument("--sort", default="tottime", help="cProfile's order (--profile)")
    parser.add_argument("--lines", type=int, default=25, help="cProfile's lines (--profile)")
    parser.add_argument("--per-thread", action="store_true",
                        help="CPU by thread id rather than by thread name")
    parser.add_argument("--bucket", choices=("cold", "kept"), default=None,
                        help="images and pyramids in buckets of a SeaweedFS started here; "
                             "cold: a 1 MB block cache (a ranged GET per stored tile), kept: 64 MB")
    args = parser.parse_args()
    store = None
    if args.bucket:
        store = _bucket_environment(args.bucket)
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(run.WORK / "hot-path-metrics"))
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ["BEELDPOST_RESPONSE_CACHE"] = "off"

    import uvicorn
    from uvicorn.server import ServerState

    from beeldpost import create_app
    from beeldpost.http.asgi import AsgiFront
    from beeldpost.http.gunicorn_worker import BeeldpostWorker
    from beeldpost.http.protocol import WorkerProtocol

    app = create_app(None if store else {"images_dir": run.WORK / "images",
                                         "cache_dir": run.WORK / "cache"})
    app.extensions["beeldpost.journal"].scan()  # the catalogue learns of the image
    app.extensions["beeldpost.catalogue"].check_on_request = False
    front = AsgiFront(app, threads=4)
    kwargs = dict(BeeldpostWorker.CONFIG_KWARGS)
    kwargs.pop("http")
    protocol_class = WorkerProtocol  # as the worker sets it when it loads the app
    config = uvicorn.Config(front, **kwargs, access_log=False, log_level="warning")
    config.load()
    plan = workloads.build(6000, 4000)
    def head(tail: str) -> bytes:
        return f"GET /iiif/2/bench/{tail} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n".encode()

    tiles = plan["W1"].requests
    heads = {
        "W1": [head(r.tail) for r in tiles],
        # W1's tiles that are a stored tile's own bytes: whole tiles, none at an edge.
        "stored": [head(r.tail) for r in tiles if _whole_tile(r.tail)],
        "W2": [head("info.json")],
    }
    heads = {key: value for key, value in heads.items() if key in args.workloads.split(",")}

    async def drive(requests: list[bytes], count: int) -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={},
                                  _loop=loop)
        transport = CountingTransport()
        protocol.connection_made(transport)
        if store is not None:  # answers wait for the bucket: no busy wait for them
            transport.answered = asyncio.Event()
        started = time.process_time()
        for index in range(count):
            expected = transport.answers + 1
            protocol.data_received(requests[index % len(requests)])
            while transport.answers < expected:
                if transport.answered is None:
                    await asyncio.sleep(0)
                else:
                    await transport.answered.wait()
                    transport.answered.clear()
        spent = time.process_time() - started
        for status, number in transport.statuses.items():
            statuses[status] = statuses.get(status, 0) + number
        protocol.connection_lost(None)
        return spent, transport.written

    statuses: dict[bytes, int] = {}

    async def measure() -> None:
        for _ in range(120):  # the first request builds the pyramid (a bucket's: 503 meanwhile)
            statuses.clear()
            await drive([head("info.json")], 1)
            if b"200" in statuses:
                break
            await asyncio.sleep(1)
        for key, requests in heads.items():
            await drive(requests, len(requests) * 2)  # warm: opened levels, kept documents
            if args.profile:
                import cProfile
                import pstats
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(requests, args.requests // 4)
                profiler.disable()
                pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
                continue
            per = []
            collections = _gc_watch()
            gets = _gets()
            threads = _thread_cpu()
            statuses.clear()
            for _ in range(args.rounds):
                spent, written = await drive(requests, args.requests)
                per.append(spent / args.requests * 1e6)
            spent_by = _thread_cpu()
            print(f"{key}: garbage collections per 1000 requests (ms each): " + ", ".join(
                f"gen{gen} {number * 1000 / args.requests / args.rounds:.1f} "
                f"({seconds / max(number, 1) * 1e3:.2f})"
                for gen, (number, seconds) in sorted(collections.items())))
            by_name: dict[str, float] = {}
            for (tid, name), seconds in spent_by.items():
                label = f"{name}#{tid}" if args.per_thread else name
                by_name[label] = by_name.get(label, 0.0) + seconds - threads.get((tid, name), 0.0)
            print(f"{key}: CPU µs/request by thread: " + ", ".join(
                f"{name} {seconds / args.requests / args.rounds * 1e6:.0f}"
                for name, seconds in sorted(by_name.items(), key=lambda item: -item[1])
                if seconds > 0))
            print(f"{key}: {(_gets() - gets) / args.requests / args.rounds:.2f} GETs/request, "
                  f"statuses {({k.decode(): v for k, v in statuses.items()})}")
            print(f"{key}: {statistics.median(per):.1f} µs CPU/request "
                  f"(min {min(per):.1f}, rounds {', '.join(f'{p:.0f}' for p in per)}), "
                  f"{written / args.requests / 1024:.1f} KB/answer")

    import uvloop
    try:
        uvloop.run(measure())
    finally:
        if store is not None:
            store.stop()


def _gc_watch() -> dict[int, list]:
    """generation -> [collections, seconds], counted from now on."""
    import gc

    found: dict[int, list] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    started = [0.0]

    def watch(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            found[info["generation"]][0] += 1
            found[info["generation"]][1] += time.perf_counter() - started[0]

    gc.callbacks[:] = [callback for callback in gc.callbacks
                       if getattr(callback, "__name__", "") != "watch"] + [watch]
    return found


def _thread_cpu() -> dict[tuple[int, str], float]:
    """(thread id, name) -> CPU seconds so far, of every thread of this process."""
    found = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[(int(task.name), name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _gets() -> int:
    """Ranged GETs this process made so far (all buckets)."""
    from beeldpost.storage import places

    return sum(client.requests["get_range"] for client in places._buckets.values())


def _bucket_environment(mode: str):
    """A SeaweedFS (the suite's tests/support/object_store.py) with the bench image in one
    bucket and an empty cache bucket, and the environment that points Beeldpost at them."""
    import shutil

    sys.path.insert(0, str(BENCH.parent / "tests"))
    from support.object_store import ObjectStore, find_weed

    import testimage

    work = run.WORK / "hot-path-s3"
    shutil.rmtree(work, ignore_errors=True)
    store = ObjectStore(work / "seaweedfs", find_weed()).start()
    images, cache = store.new_bucket("bron"), store.new_bucket("cache")
    images.put("bench.jpg", testimage.ensure(BENCH / "work" / "images" / "bench.jpg"))
    os.environ.update(store.environment())
    os.environ.update({"BEELDPOST_IMAGES": images.url, "BEELDPOST_CACHE": cache.url,
                       "BEELDPOST_SCRATCH": str(work / "scratch"),
                       "BEELDPOST_MANIFESTS": str(work / "manifests"),
                       "BEELDPOST_STORAGE_CACHE_MB": "1" if mode == "cold" else "64"})
    (work / "manifests").mkdir(parents=True)
    return store


if __name__ == "__main__":
    main()
