"""Full-size downloads under load: what admission control answers, and what it costs.

    python bench/heavy_load.py [--connections 8,32] [--duration 8] [--timeout 2]
                               [--tiles 4] [--beeldpost-env NAME=VALUE ...] [--output heavy-load]

Beeldpost alone (`beeldpost serve --workers 2`, response cache off, as bench/run.py
starts it) on run.py's 6000×4000 pyramid, W3c's `full/full/0/default.jpg` from
`wrk -t2 -cN` with wrk's own default time-out of 2 s (run.py's W3c32 allows 30 s): every
answer counted by status (urls.lua's `statuses`), 503s without `Retry-After` apart,
time-outs (late answers, and requests left unanswered longer than the time-out) and
socket errors; full-size answers per second, CPU ms per full-size answer (the server
tree's, 503s included), the tree's peak RSS.

`--tiles C` also runs W1's tiles from `wrk -t1 -cC` alongside each heavy run, and
once alone before them, so the tiles' rate and latency with and without the heavy
load show what heavy renders leave to viewers (the reason for admission control); the
heavy runs' own figures are then under the tiles' load too (and their CPU includes it).

Writes bench/results/{output}.md and .json. A benchmark, not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import procstats  # noqa: E402
import run  # noqa: E402
import servers  # noqa: E402
import workloads  # noqa: E402

LUA = BENCH / "urls.lua"


def wrk(server: servers.Server, paths: Path, connections: int, threads: int, duration: float,
        timeout: float, statuses: bool) -> subprocess.Popen:
    threads = min(threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
               "--timeout", f"{timeout:g}s", "--latency", "-s", str(LUA),
               f"http://{servers.HOST}:{server.port}", "--", str(paths), str(threads)]
    if statuses:
        command += ["statuses", f"{timeout:g}"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def parsed(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    line = next((l for l in out.splitlines() if l.startswith("BENCHJSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.strip()}\n{out[-2000:]}")
    return json.loads(line[len("BENCHJSON "):])


def latency(data: dict) -> dict:
    return {key: round(data["latency_us"][key] / 1000, 1) for key in ("p50", "p99", "max")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="8,32", help="comma-separated, e.g. 8,32")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=2.0, help="wrk's time-out (its default 2)")
    parser.add_argument("--tiles", type=int, default=0, metavar="C",
                        help="also W1 tiles at this many connections, alone and alongside")
    parser.add_argument("--beeldpost-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--output", default="heavy-load")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk)")

    logs = run.WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    derivative, width, height = run.prepare_image()
    plan = workloads.build(width, height)
    extra_env = dict(item.split("=", 1) for item in args.beeldpost_env)
    server = servers.beeldpost(run.REPO, run.WORK, response_cache=False, logs=logs,
                               extra_env=extra_env)
    server.start("info.json")
    results: dict = {
        "meta": {"cpu_model": run.cpu_model(), "cpus": os.cpu_count(),
                 "git": run.git_description(), "duration_s": args.duration,
                 "wrk_timeout_s": args.timeout, "beeldpost_extra_env": extra_env,
                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "image": {"width": width, "height": height}},
        "runs": [],
    }
    try:
        heavy_paths = run.write_paths(server, plan["W3c"])
        tile_paths = run.write_paths(server, plan["W1"])
        run.warm_up(server, plan["W3c"], count=2)
        if args.tiles:
            run.warm_up(server, plan["W1"])
            process = wrk(server, tile_paths, args.tiles, 1, args.duration, args.timeout, False)
            alone = parsed(process)
            results["tiles_alone"] = {"connections": args.tiles,
                                      "rps": round(alone["requests"] / (alone["duration_us"] / 1e6), 1),
                                      "errors": sum(alone["errors"].values()), **latency(alone)}
            run.wait_quiet(server)
        for connections in (int(c) for c in args.connections.split(",")):
            with procstats.TreeMonitor(server.pid) as monitor:
                heavy = wrk(server, heavy_paths, connections, 2, args.duration, args.timeout, True)
                tiles = (wrk(server, tile_paths, args.tiles, 1, args.duration, args.timeout, False)
                         if args.tiles else None)
                data = parsed(heavy)
                tile_data = parsed(tiles) if tiles else None
            run.wait_quiet(server)
            usage = monitor.usage
            seconds = data["duration_us"] / 1e6
            counted = data["statuses"]
            ok = counted["counts"].get("200", 0)
            entry = {
                "connections": connections,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "statuses": counted["counts"],
                "unhinted_503": counted["503_without_retry_after"],
                "timeouts": data["errors"]["timeout"] + counted["unanswered_late"],
                "socket_errors": sum(data["errors"][k] for k in ("connect", "read", "write")),
                "ok_per_s": round(ok / seconds, 2),
                "cpu_ms_per_ok": round(usage.cpu_seconds * 1000 / ok, 1) if ok else None,
                "server_cores": round(usage.cpu_seconds / seconds, 2),
                "peak_rss_mb": round(usage.peak_rss_sum / 2**20, 1),
                "peak_rss_largest_process_mb": round(usage.peak_rss_max / 2**20, 1),
                "kb_per_ok": round(data["bytes"] / max(1, data["requests"]) / 1024, 1),
                **latency(data),
            }
            if tile_data:
                entry["tiles"] = {
                    "connections": args.tiles,
                    "rps": round(tile_data["requests"] / (tile_data["duration_us"] / 1e6), 1),
                    "errors": sum(tile_data["errors"].values()), **latency(tile_data)}
            results["runs"].append(entry)
            print(json.dumps(entry), flush=True)
    finally:
        server.stop()
    out = run.RESULTS / f"{args.output}.json"
    out.write_text(run.without_machine_paths(json.dumps(results, indent=2)) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [
        f"# Full-size downloads under load — {meta['started']}", "",
        f"Beeldpost alone at {meta['git']}, `full/full/0/default.jpg` of the "
        f"{meta['image']['width']}×{meta['image']['height']} bench pyramid, response cache off, "
        f"wrk -t2, {meta['duration_s']:g} s per run, wrk time-out {meta['wrk_timeout_s']:g} s. "
        f"Machine: {meta['cpus']} cores, {meta['cpu_model']} (shared: the load average says how "
        "busy it was besides; full-size rates and time-outs depend on it, CPU per answer less)."
        + (f" Extra environment: {meta['beeldpost_extra_env']}." if meta["beeldpost_extra_env"]
           else ""), "",
        "| connections | 200/s | CPU ms per 200 | answers by status | 503 without Retry-After "
        "| time-outs | socket errors | p50 / p99 / max ms | peak RSS MB (tree / largest) "
        "| machine load (1 min) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["runs"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(entry["statuses"].items()))
        lines.append(
            f"| {entry['connections']} | {entry['ok_per_s']} | {entry['cpu_ms_per_ok']} | "
            f"{statuses} | {entry['unhinted_503']} | {entry['timeouts']} | "
            f"{entry['socket_errors']} | {entry['p50']} / {entry['p99']} / {entry['max']} | "
            f"{entry['peak_rss_mb']} / {entry['peak_rss_largest_process_mb']} | "
            f"{entry.get('load_average_1min', '')} |")
    if results.get("tiles_alone"):
        alone = results["tiles_alone"]
        lines += ["", "Tiles ran alongside each row above: its rates, latencies and time-outs are "
                  "under that load too, and its CPU per full-size answer includes the tiles'.", "",
                  f"W1 tiles at c={alone['connections']} (wrk -t1), alone and alongside:", "",
                  "| alongside | tiles/s | p50 / p99 / max ms | errors |", "|---|---:|---:|---:|",
                  f"| nothing | {alone['rps']} | {alone['p50']} / {alone['p99']} / {alone['max']} "
                  f"| {alone['errors']} |"]
        for entry in results["runs"]:
            tiles = entry.get("tiles")
            if tiles:
                lines.append(f"| full/full at c={entry['connections']} | {tiles['rps']} | "
                             f"{tiles['p50']} / {tiles['p99']} / {tiles['max']} | {tiles['errors']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
