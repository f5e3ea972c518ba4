"""Soak: 60 s of mixed traffic at 64 connections against a production-configured server.

    python bench/soak.py [--seconds 60] [--connections 64] [--response-cache]

Four wrk streams share the connections, each with its own statuses and latencies:
  tiles     deep-zoom tiles at every scale factor and info.json   (expected: 200)
  heavy     whole-image renders, full/max in both versions          (200, or 503 when throttled)
  thumbs    thumbnails and mid-size derivatives                     (200)
  bad       malformed and hostile URLs                              (400, 404, 501)
Anything else (a 5xx other than the heavy stream's 503, a 503 on a tile, a socket
error or time-out) is counted as unexpected. After a warm-up the RSS of every
worker is recorded, and again at the end. Only 127.0.0.1 is ever contacted.
Prints a report and writes bench/results/soak.json and soak.md. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from procstats import rss_bytes, tree  # noqa: E402

IMAGES = ("wijkpost-leekerhoek", "wijkgericht-werken-1999")
EXPECTED = {"tiles": {200}, "heavy": {200, 503}, "thumbs": {200}, "bad": {400, 404, 501}}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.load(response)


def tile_paths(base: str, identifier: str) -> list[str]:
    info = fetch_json(f"{base}/iiif/3/{identifier}/info.json")
    width, height = info["width"], info["height"]
    tile = info["tiles"][0]["width"]
    paths = [f"/iiif/3/{identifier}/info.json", f"/iiif/2/{identifier}/info.json"]
    for factor in info["tiles"][0]["scaleFactors"]:
        span = tile * factor
        for y in range(0, height, span):
            for x in range(0, width, span):
                w, h = min(span, width - x), min(span, height - y)
                out_w = -(-w // factor)
                paths.append(f"/iiif/3/{identifier}/{x},{y},{w},{h}/{out_w},/0/default.jpg")
    return paths


def stream_paths(base: str) -> dict[str, list[str]]:
    rng = random.Random(1999)
    tiles = [path for identifier in IMAGES for path in tile_paths(base, identifier)]
    rng.shuffle(tiles)
    heavy = [f"/iiif/{version}/{identifier}/full/{size}/0/default.jpg"
             for identifier in IMAGES for version, size in ((3, "max"), (2, "full"))]
    heavy += [f"/iiif/3/{identifier}/full/max/{angle}/default.png"
              for identifier in IMAGES for angle in (90, 33)]
    thumbs = [f"/iiif/3/{identifier}/full/{size}/0/default.jpg"
              for identifier in IMAGES for size in ("!200,200", "90,", "!400,400", "800,", ",300")]
    bad = ["/iiif/3/missing/info.json", "/iiif/3/..%2F..%2Fetc%2Fpasswd/info.json",
           f"/iiif/3/{IMAGES[0]}/full/full/0/default.jpg", f"/iiif/3/{IMAGES[0]}/0,0,0,0/max/0/default.jpg",
           f"/iiif/3/{IMAGES[0]}/full/^100000,/0/default.jpg", f"/iiif/3/{IMAGES[0]}/full/max/361/default.jpg",
           f"/iiif/3/{IMAGES[0]}/full/max/0/default.jp2", "/iiif/3/a%2Fb/full/max/0/default.jpg",
           f"/iiif/3/{IMAGES[0]}/pct:101,0,5,5/max/0/default.jpg", "/wp-login.php"]
    return {"tiles": tiles, "heavy": heavy, "thumbs": thumbs, "bad": bad}


def worker_rss(master: int) -> dict[int, int]:
    return {pid: rss_bytes(pid) for pid in tree(master) if pid != master}


def wait_until_idle(base: str, limit: float = 30.0) -> float:
    """Seconds until no render is in flight (wrk abandons its requests when it stops).

    RSS is compared at rest, after warm-up and after the soak alike: sampled while a
    whole-image render is still running, it measures that render's buffers, not growth.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
        in_flight = [line for line in text.splitlines()
                     if line.startswith("beeldpost_renders_in_flight")]
        if in_flight and all(float(line.split()[-1]) == 0 for line in in_flight):
            break
        time.sleep(0.2)
    time.sleep(0.5)
    return time.monotonic() - started


def run_wrk(base: str, paths_file: Path, connections: int, seconds: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
         "-s", str(BENCH / "soak.lua"), base, "--", str(paths_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("SOAKJSON "):
            return json.loads(line[len("SOAKJSON "):])
    raise RuntimeError(f"wrk printed no result:\n{output}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    # Off by default: with it on, the heavy stream's few URLs are file reads after the
    # first round, and the soak would no longer load renders and admission control.
    parser.add_argument("--response-cache", action="store_true",
                        help="keep the response cache on (production default) instead of off")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="beeldpost-soak-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, BEELDPOST_CACHE=str(BENCH / "work" / "soak-cache"),
               BEELDPOST_IMAGES=str(REPO / "images"), BEELDPOST_MANIFESTS=str(REPO / "manifests"),
               BEELDPOST_RESPONSE_CACHE="on" if arguments.response_cache else "off")
    beeldpost = Path(sys.executable).with_name("beeldpost")
    subprocess.run([str(beeldpost), "ingest", *IMAGES], env=env, check=True)
    log_path = BENCH / "work" / "soak-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    server = subprocess.Popen([str(beeldpost), "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        streams = stream_paths(base)
        share = {"tiles": 0.25, "heavy": 0.25, "thumbs": 0.25, "bad": 0.25}
        files = {}
        for name, paths in streams.items():
            files[name] = work / f"{name}.txt"
            files[name].write_text("\n".join(paths) + "\n")

        print(f"warm-up {arguments.warmup} s …", file=sys.stderr)
        warm = [run_wrk(base, files[name], max(1, int(arguments.connections * share[name])),
                        arguments.warmup) for name in streams]
        for process in warm:
            process.communicate()
        wait_until_idle(base)
        rss_start = worker_rss(server.pid)

        print(f"soak {arguments.seconds} s at {arguments.connections} connections …", file=sys.stderr)
        running = {name: run_wrk(base, files[name], max(1, int(arguments.connections * share[name])),
                                 arguments.seconds) for name in streams}
        results = {name: parse(process.communicate()[0]) for name, process in running.items()}
        # A tile at once, while abandoned heavy renders may still be running.
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}{streams['tiles'][5]}", timeout=10) as response:
            after_status = response.status
        after_ms = (time.perf_counter() - started) * 1000
        idle_after = wait_until_idle(base)
        rss_end = worker_rss(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    unexpected = 0
    rows = ["| stream | requests | statuses | unexpected | p50 ms | p99 ms | max ms |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for name, result in results.items():
        bad_statuses = sum(count for status, count in result["statuses"].items()
                           if int(status) not in EXPECTED[name])
        socket_errors = sum(result["errors"].values())
        stream_unexpected = bad_statuses + socket_errors
        unexpected += stream_unexpected
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result["statuses"].items()))
        latency = result["latency_ms"]
        rows.append(f"| {name} | {result['requests']} | {statuses} | {stream_unexpected} | "
                    f"{latency['p50']:.1f} | {latency['p99']:.1f} | {latency['max']:.1f} |")
    rss_rows = ["| worker | RSS after warm-up MB | RSS at end MB | growth |", "| --- | ---: | ---: | ---: |"]
    growths = []
    for pid, start in sorted(rss_start.items()):
        end = rss_end.get(pid)
        if end is None:
            rss_rows.append(f"| {pid} | {start / 2**20:.0f} | (restarted) | — |")
            unexpected += 1
            continue
        growth = (end - start) / start if start else 0.0
        growths.append(growth)
        rss_rows.append(f"| {pid} | {start / 2**20:.0f} | {end / 2**20:.0f} | {growth:+.1%} |")
    report = "\n".join([
        f"# Soak: {arguments.seconds} s, {arguments.connections} connections, 2 workers, "
        f"response cache {'on' if arguments.response_cache else 'off'}",
        "", *rows, "", *rss_rows, "",
        f"Unexpected answers: **{unexpected}**. Largest worker RSS growth: "
        f"**{max(growths, default=0):+.1%}** (RSS sampled at rest: no render in flight; idle "
        f"{idle_after:.1f} s after the soak). A tile right after: {after_status} in {after_ms:.0f} ms.",
    ])
    print(report)
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "soak.md").write_text(report + "\n")
    (results_dir / "soak.json").write_text(json.dumps({
        "seconds": arguments.seconds, "connections": arguments.connections, "streams": results,
        "rss_start": rss_start, "rss_end": rss_end, "unexpected": unexpected,
        "tile_after_ms": after_ms, "idle_after_seconds": idle_after}, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
