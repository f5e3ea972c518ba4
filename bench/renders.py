"""The render alone, one thread: `python bench/renders.py [--only W3a,W3b,W3d] [--rounds 5]`

Plans every URL of the chosen workloads (workloads.py) on the bench's pyramid, as the
server would, and times ImageService.render for each (no HTTP, no response cache):
CPU ms per render (utime+stime of the process, so libvips' own threads count), the
fastest and the median of the rounds, the mean answer size, and which renderer took
the URLs (plan.py). With `--callgrind`, also the instructions per render counted by
valgrind (two runs, one with an extra round; their difference over the renders of a
round): on a machine shared with other work the one figure that does not move.

Needs bench/work/ from a run of run.py (the picture and its pyramid); builds them if
missing. Measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("VIPS_CONCURRENCY", "1")  # as in production (settings.vips_concurrency)

import workloads  # noqa: E402

WORK = BENCH / "work"


def service_and_plans(keys: list[str]):
    from beeldpost.image.parameters import parse_image_request
    from beeldpost.image.service import ImageService
    from beeldpost.settings import Settings

    if not (WORK / "images" / "bench.jpg").exists():
        import run  # draws the picture and builds its pyramid

        run.prepare_image()
    service = ImageService(Settings.of(images_dir=WORK / "images", cache_dir=WORK / "cache"))
    image = service.resolve("bench")
    built = workloads.build(image.width, image.height)
    plans = {}
    for key in keys:
        plans[key] = []
        for request in built[key].requests:
            region, size, rotation, quality_format = request.tail.split("/")
            ops = service.operations(image, parse_image_request(region, size, rotation,
                                                                quality_format, 2))
            plans[key].append(service.plan(image, ops, ops.canonical_path(2)))
    return service, plans


def time_renders(rounds: int, keys: list[str]) -> None:
    service, plans = service_and_plans(keys)
    print(f"{'workload':8} {'URLs':>5} {'CPU ms/render: min':>19} {'median':>8} {'KB':>7}  renderers")
    for key in keys:
        batch = plans[key]
        sizes = [len(service.render(plan)) for plan in batch]  # warm: levels opened
        times = []
        for _ in range(rounds):
            started = time.process_time()
            for plan in batch:
                service.render(plan)
            times.append((time.process_time() - started) * 1000 / len(batch))
        renderers = {}
        for plan in batch:
            renderers[plan.renderer] = renderers.get(plan.renderer, 0) + 1
        print(f"{key:8} {len(batch):5} {min(times):19.2f} {statistics.median(times):8.2f} "
              f"{sum(sizes) / len(sizes) / 1024:7.1f}  "
              + ", ".join(f"{name} {count}" for name, count in sorted(renderers.items())))


def render_rounds(key: str, rounds: int, limit: int) -> None:
    """What --callgrind runs under valgrind: `rounds` rounds of the first `limit` URLs."""
    service, plans = service_and_plans([key])
    batch = plans[key][:limit]
    for _ in range(rounds):
        for plan in batch:
            service.render(plan)


def instructions(key: str, limit: int) -> float | None:
    """Instructions per render: valgrind runs with 1 and 2 rounds, the difference."""
    if shutil.which("valgrind") is None:
        return None
    counts = []
    for rounds in (1, 2):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, __file__, "--rounds-of", key, str(rounds), str(limit)],
            capture_output=True, text=True, env=dict(os.environ))
        found = re.search(r"Collected : ([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            return None
        counts.append(int(found.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="W3a,W3b,W3d", help="workloads (default W3a,W3b,W3d)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per workload")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions per render with valgrind (slow)")
    parser.add_argument("--callgrind-urls", type=int, default=10,
                        help="URLs per workload under valgrind (default 10)")
    parser.add_argument("--rounds-of", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds_of:
        key, rounds, limit = args.rounds_of
        render_rounds(key, int(rounds), int(limit))
        return 0
    keys = args.only.split(",")
    time_renders(args.rounds, keys)
    if args.callgrind:
        for key in keys:
            count = instructions(key, args.callgrind_urls)
            shown = "valgrind missing or failed" if count is None else f"{count / 1e6:.1f} M"
            print(f"{key}: instructions per render (first {args.callgrind_urls} URLs): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
