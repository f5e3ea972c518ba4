"""CPU per request of the worker's own code, with no socket: `python bench/hot_path.py`.

Drives the production worker's HTTP protocol (gunicorn_worker.BoundedHttpToolsProtocol,
uvicorn's llhttp parser) and the ASGI front (http/asgi.py) with the bench's W1 tile URLs
and its info.json, on one event loop, through a transport that only counts the bytes
written. What it reports is the Python (and libvips) cost of a request from the bytes
read off the socket to the bytes handed back, without the kernel's share: the part
issue 23 asks to cut. Measurement, not a test.
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
        self._closing = False

    def write(self, data) -> None:
        self.written += len(data)
        if data.startswith(b"HTTP/1.1 "):
            self.answers += 1

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
    args = parser.parse_args()
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(run.WORK / "hot-path-metrics"))
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ["BEELDPOST_RESPONSE_CACHE"] = "off"

    import uvicorn
    from uvicorn.server import ServerState

    from beeldpost import create_app
    from beeldpost.http.asgi import AsgiFront
    from beeldpost.http.gunicorn_worker import BeeldpostWorker

    app = create_app({"images_dir": run.WORK / "images", "cache_dir": run.WORK / "cache"})
    app.extensions["beeldpost.catalogue"].check_on_request = False
    front = AsgiFront(app, threads=4)
    kwargs = dict(BeeldpostWorker.CONFIG_KWARGS)
    protocol_class = kwargs.pop("http")
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
        started = time.process_time()
        for index in range(count):
            expected = transport.answers + 1
            protocol.data_received(requests[index % len(requests)])
            while transport.answers < expected:
                await asyncio.sleep(0)
        spent = time.process_time() - started
        protocol.connection_lost(None)
        return spent, transport.written

    async def measure() -> None:
        for key, requests in heads.items():
            await drive(requests, len(requests) * 2)  # warm: opened levels, kept documents
            if args.profile:
                import cProfile
                import pstats
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(requests, args.requests // 4)
                profiler.disable()
                pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(int(os.environ.get("BENCH_TOP", "25")))
                continue
            per = []
            for _ in range(args.rounds):
                spent, written = await drive(requests, args.requests)
                per.append(spent / args.requests * 1e6)
            print(f"{key}: {statistics.median(per):.1f} µs CPU/request "
                  f"(min {min(per):.1f}, rounds {', '.join(f'{p:.0f}' for p in per)}), "
                  f"{written / args.requests / 1024:.1f} KB/answer")

    import uvloop
    uvloop.run(measure())


if __name__ == "__main__":
    main()
