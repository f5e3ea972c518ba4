"""What the Python around a request costs at the least: `python bench/floor.py --iipsrv PATH`.

Issue 23 asks for W1 (viewer tiles) at 2× IIPImage's rate and CPU per request, and W2
(`info.json`) at 1.5×. This runs W1 and W2 (workloads.py, the same URLs and wrk settings
as run.py) against three servers, interleaved round by round:

- **Beeldpost** as run.py starts it (`beeldpost serve --workers 2`, response cache off);
- **IIPImage**, the iipsrv given with `--iipsrv` (else Debian's), as run.py starts it;
- **Floor** (floor_server.py): two Python processes on uvloop with httptools, the parser
  and event loop Beeldpost's workers use, answering each URL with the very bytes Beeldpost
  answered to it (fetched from it first), made beforehand. No routing, file read, log or
  metrics: the least a request costs a Python server on this stack, socket included.

If the floor itself is not below half of IIPImage's CPU per tile, no amount of cutting in
Beeldpost's own code makes W1 2×: the rest is the kernel, the event loop and the parser.
Writes bench/results/floor.{json,md} (with the processor's name). Measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
import servers  # noqa: E402
import workloads  # noqa: E402

WORK = run.WORK


def floor_server(answers: Path, logs: Path, prefix: str) -> servers.Server:
    port = servers.free_port()
    return servers.Server("Floor", port, prefix,
                          [sys.executable, str(BENCH / "floor_server.py"), str(port), str(answers)],
                          dict(os.environ), logs / "floor.log")


def capture(server: servers.Server, keys: list[str], plan: dict) -> dict[str, tuple[str, bytes]]:
    """Beeldpost's answer to every URL of the workloads: (content type, body) by path."""
    answers = {}
    for key in keys:
        for request in plan[key].requests:
            path = server.url(request.tail)
            status, headers, body = servers.get(server.port, path)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}")
            answers[path] = (headers.get("content-type", "application/octet-stream"), body)
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--only", default="W1,W2")
    parser.add_argument("--iipsrv", metavar="PATH", default=os.environ.get("BENCH_IIPSRV") or None)
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args(argv)
    keys = args.only.split(",")
    iipsrv = Path(args.iipsrv).resolve() if args.iipsrv else None
    run.ensure_tools(not args.no_install, iipsrv)
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _, width, height = run.prepare_image()
    plan = workloads.build(width, height)

    beeldpost = servers.beeldpost(run.REPO, WORK, response_cache=False, logs=logs)
    iipimage = servers.iipimage(WORK, WORK / "iip" / "images", logs, run.JPEG_QUALITY,
                                binary=iipsrv or servers.IIPSRV,
                                label="iipsrv given with --iipsrv" if iipsrv else None)
    answers = WORK / "floor-answers.pickle"
    started = []
    results: dict = {"meta": {
        "processor": run.cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "git": run.git_description(),
        "rounds": args.rounds, "duration_s": args.duration, "connections": 8, "threads": 2,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "iipimage": ("own build given with --iipsrv, sha256 " + run.sha256_of(iipsrv)
                     if iipsrv else "Debian iipimage-server"),
    }, "runs": {}}
    try:
        for server in (beeldpost, iipimage):
            server.start("info.json")
            started.append(server)
        results["meta"]["iipimage_version"] = servers.iipsrv_version(iipimage)
        with open(answers, "wb") as handle:
            pickle.dump(capture(beeldpost, keys, plan), handle)
        floor = floor_server(answers, logs, beeldpost.prefix)
        floor.start("info.json")
        started.append(floor)
        trio = [beeldpost, iipimage, floor]
        paths = {key: {s.name: run.write_paths(s, plan[key]) for s in trio} for key in keys}
        for key in keys:
            for server in trio:
                run.warm_up(server, plan[key], count=8)
        for number in range(args.rounds):
            for index, key in enumerate(keys):
                order = trio[number % 3:] + trio[:number % 3]
                for server in order:
                    result = run.run_wrk(server, paths[key][server.name], args.duration, 8, 2,
                                         timeout=run.TIMEOUT_S)
                    results["runs"].setdefault(key, {}).setdefault(server.name, []).append(result)
                    run.say(f"  {key} round {number + 1} {server.name:9} {result['rps']:9.1f} req/s "
                            f"cpu {result['cpu_ms_per_request']} ms/req  errors {result['errors']}  "
                            f"other load {result['other_load_cores']}")
    finally:
        for server in started:
            server.stop()
    results["summary"] = {
        key: {name: {"rps": statistics.median(r["rps"] for r in runs),
                     "cpu_ms_per_request": statistics.median(r["cpu_ms_per_request"] for r in runs),
                     "other_load_cores": statistics.median(r["other_load_cores"] for r in runs)}
              for name, runs in by_server.items()}
        for key, by_server in results["runs"].items()}
    (run.RESULTS / "floor.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (run.RESULTS / "floor.md").write_text(text)
    print(text)
    return 0


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [
        "# The floor of a Python server on this stack (`bench/floor.py`)", "",
        f"Measured at {meta['git']} on {meta['cpus']} cores, {meta['processor']}, "
        f"{meta['started']}: {meta['rounds']} rounds of {meta['duration_s']:g} s, `wrk -t2 -c8`, "
        f"interleaved. IIPImage: {meta.get('iipimage_version') or '?'} ({meta['iipimage']}). "
        "Medians of the rounds; raw runs in `floor.json`.", "",
        "| workload | server | req/s | CPU ms/req | ratio to IIPImage by rate | by CPU | other load |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, by_server in results["summary"].items():
        iip = by_server["IIPImage"]
        for name in ("Beeldpost", "IIPImage", "Floor"):
            row = by_server[name]
            lines.append(f"| {key} | {name} | {row['rps']:.0f} | {row['cpu_ms_per_request']:.3f} | "
                         f"{row['rps'] / iip['rps']:.2f}× | "
                         f"{iip['cpu_ms_per_request'] / row['cpu_ms_per_request']:.2f}× | "
                         f"{row['other_load_cores']:.2f} |")
    lines += ["", "Floor: two Python processes on uvloop and httptools answering each URL with "
              "Beeldpost's own answer to it, made beforehand (`bench/floor_server.py`): the least a "
              "request costs in Python on this stack. Beeldpost's code can at best close the gap "
              "between its row and the floor's.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
