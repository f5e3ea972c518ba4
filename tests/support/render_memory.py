"""How much memory a render really holds: its peak resident set in a fresh process.

The child opens the image service on the given folders, renders a tile first (libvips
started, the pyramid open), then for each request hands its freed heap back (else the
render would reuse those pages unseen: after the pyramid's build, the first one once
read as -4 KB), resets its peak resident set (`/proc/self/clear_refs`, 5; Linux),
answers the request as the server does, reading a streamed answer through a chunk at a
time, and reports the peak above where it started, the budget admission control gave
it, and the answer's size. bench/render_memory.py does the same on the benchmark's
pyramid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
from pathlib import Path
from beeldpost.settings import Settings
from beeldpost.image.parameters import parse_image_request
from beeldpost.image.service import ImageService
from beeldpost.image.heap import return_freed_memory

images_dir, cache_dir, identifier, buffered = sys.argv[1:5]
images = ImageService(Settings.of(images_dir=Path(images_dir), cache_dir=Path(cache_dir),
                                  response_cache=False, render_timeout=600.0))
resolved = images.resolve(identifier)

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

def plan_of(tail):
    request = parse_image_request(*tail.split("/"), 3)
    ops = images.operations(resolved, request)
    return images.plan(resolved, ops, ops.canonical_path(3))

images.render(plan_of("0,0,512,512/256,/0/default.jpg"))
for tail in sys.argv[5:]:
    plan = plan_of(tail)
    # Freed pages still resident (the pyramid's build, the render before) would be
    # reused unseen, and the render's peak read as nothing: the heap is trimmed first.
    return_freed_memory()
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = status("VmRSS")
    if buffered == "1":
        size = len(images.render(plan))
    else:
        answer, _ = images.answer(plan)
        size = sum(len(chunk) for chunk in ([answer] if isinstance(answer, bytes) else answer))
    print(json.dumps({"tail": tail, "peak": status("VmHWM") - before, "budget": plan.memory,
                      "heavy": plan.heavy, "size": size}), flush=True)
"""


def render_peaks(images_dir: Path, cache_dir: Path, identifier: str, tails: list[str],
                 buffered: bool = False) -> dict[str, dict]:
    """tail -> {"peak", "budget", "heavy", "size"} (bytes), measured in one child process
    with production's libvips and malloc settings; `buffered`: answers kept whole in
    memory (ImageService.render) instead of streamed."""
    env = dict(os.environ, VIPS_CONCURRENCY="1", MALLOC_ARENA_MAX="2")
    done = subprocess.run([sys.executable, "-c", CHILD, str(images_dir), str(cache_dir),
                           identifier, "1" if buffered else "0", *tails],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {entry.pop("tail"): entry for entry in found}
