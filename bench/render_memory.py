"""What a heavy render really holds in memory, against what admission control budgets.

    python bench/render_memory.py [--only full/max/0/default.jpg,...] [--buffered]

Writes bench/results/render-memory.md when run on the whole list.

Each request (Image API 3.0 tails on run.py's 6000×4000 bench pyramid) is answered in a
fresh child process by ImageService as the server does (response cache off: the answer
spooled to a nameless file and read back a chunk at a time). The child opens the
pyramid and renders a tile first, resets its peak resident set (`/proc/self/clear_refs`,
5), answers the request, reads the answer through, and reports the peak above where it
started (VmHWM − VmRSS), its CPU time, and the render's budget (`plan.memory`,
processor.render_memory). `--buffered` adds the same renders kept whole in memory, as
before streaming (ImageService.render).

The budget's constants in processor.py come from these figures. A benchmark, not a
test: tests/image/test_admission.py holds the estimate above what a few renders take.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

REQUESTS = (
    "full/max/0/default.jpg", "full/max/0/default.png", "full/max/0/default.tif",
    "full/max/0/default.webp", "full/max/0/default.gif",
    "full/max/90/default.jpg", "full/max/180/default.jpg", "full/max/33/default.jpg",
    "full/max/0/gray.jpg", "full/3000,/0/default.jpg", "full/1500,/0/default.jpg",
    "0,0,4000,4000/max/0/default.jpg", "0,0,1000,4000/max/0/default.jpg",
    "0,0,2000,2000/max/0/default.jpg",
)

CHILD = r"""
import json, os, resource, sys, time
from beeldpost.settings import Settings
from beeldpost.image.service import ImageService
from beeldpost.image.heap import return_freed_memory
from beeldpost.image.parameters import parse_image_request

tail, buffered = sys.argv[1], sys.argv[2] == "1"
images = ImageService(Settings.from_env())
resolved = images.resolve("bench")

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

def plan_of(tail):
    region, size, rotation, quality_format = tail.split("/")
    request = parse_image_request(region, size, rotation, quality_format, 3)
    ops = images.operations(resolved, request)
    return images.plan(resolved, ops, ops.canonical_path(3))

images.render(plan_of("0,0,512,512/256,/0/default.jpg"))  # libvips started, pyramid open
plan = plan_of(tail)
return_freed_memory()  # freed pages still resident would be reused unseen
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = status("VmRSS")
started = time.process_time()
if buffered:
    size = len(images.render(plan))
else:
    answer, _ = images.answer(plan)
    size = 0
    for chunk in [answer] if isinstance(answer, bytes) else answer:
        size += len(chunk)
cpu = time.process_time() - started
print(json.dumps({"peak_mb": round((status("VmHWM") - before) / 2**20, 1),
                  "budget_mb": round(plan.memory / 2**20, 1), "heavy": plan.heavy,
                  "cpu_ms": round(cpu * 1000), "out_mb": round(size / 2**20, 2),
                  "out_px": plan.ops.width * plan.ops.height}))
"""


def measure(tail: str, buffered: bool, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, tail, "1" if buffered else "0"],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated request tails (default: a list of 14)")
    parser.add_argument("--buffered", action="store_true",
                        help="also each render kept whole in memory, as before streaming")
    args = parser.parse_args(argv)
    import run

    run.prepare_image()
    env = dict(os.environ, BEELDPOST_IMAGES=str(run.WORK / "images"),
               BEELDPOST_CACHE=str(run.WORK / "cache"), BEELDPOST_RESPONSE_CACHE="off",
               BEELDPOST_RENDER_TIMEOUT="600", VIPS_CONCURRENCY="1", MALLOC_ARENA_MAX="2")
    tails = args.only.split(",") if args.only else REQUESTS
    lines = [f"# What heavy renders hold in memory — {run.git_description()}", "",
             "Image API 3.0 requests of the 6000×4000 bench pyramid, each "
             "answered in a fresh process as the server does; peak resident set above where "
             "it started (VmHWM after clear_refs), against the budget admission control gives "
             f"the render. Machine: {run.cpu_model()}; libvips "
             f"{'.'.join(str(pyvips_version(i)) for i in range(3))}.", "",
             f"| request | output | peak MB streamed{' / buffered' if args.buffered else ''} "
             "| budget MB | CPU ms |", "|---|---:|---:|---:|---:|"]
    print("\n".join(lines))
    for tail in tails:
        streamed = measure(tail, False, env)
        peak = f"{streamed['peak_mb']}"
        if args.buffered:
            peak += f" / {measure(tail, True, env)['peak_mb']}"
        lines.append(f"| `{tail}` | {streamed['out_px'] / 1e6:.1f} MP, {streamed['out_mb']} MB "
                     f"| {peak} | {streamed['budget_mb'] if streamed['heavy'] else 'not heavy'} "
                     f"| {streamed['cpu_ms']} |")
        print(lines[-1], flush=True)
    if not args.only:
        (run.RESULTS / "render-memory.md").write_text("\n".join(lines) + "\n")
    return 0


def pyvips_version(part: int) -> int:
    import pyvips

    return pyvips.version(part)


if __name__ == "__main__":
    sys.exit(main())
