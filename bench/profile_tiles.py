"""Where does a tile's time go in Beeldpost? `python bench/profile_tiles.py [--seconds 10]`

Three views, written to bench/results/profile.md (and printed):

1. Live: Beeldpost in its production configuration (gunicorn, 2 workers) under
   the W1 tile workload at c=8, with
   - CPU ms per request of the whole process tree (from /proc),
   - `perf` (if installed): the split of that CPU by library: libvips (with its
     bundled libjpeg and GLib), the Python interpreter, libc (malloc, memcpy), kernel,
   - `py-spy` (if installed: pip install py-spy): the split of the Python threads'
     active time by what they were doing (gunicorn, Flask, Beeldpost's own code,
     waiting on libvips).
2. In-process microbenchmarks, one thread, of the pieces of a tile: libvips crop +
   JPEG encode as processor.py does it, decode and encode alone, reopening per
   request, the same tile through Pillow (libjpeg-turbo without a libvips
   pipeline: the codec floor IIPImage works at), and the stored tile's bytes
   read straight from the TIFF (bench/rawtiles.py, the pass-through option).
3. The Flask app called in-process (no gunicorn) for tile and info.json URLs,
   with the render replaced by a constant, so the Python cost around a render
   shows alone; plus cProfile's top functions for a real tile request.

Profiling is measurement, not a test; nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import procstats  # noqa: E402
import rawtiles  # noqa: E402
import run  # noqa: E402
import servers  # noqa: E402
import workloads  # noqa: E402

# py-spy stack → category; first rule whose marker occurs in the stack wins.
CATEGORIES = [
    ("gunicorn access log", ("glogging.py", "Logger.access")),
    ("libvips pixel work waited on in jpegsave_buffer (decode+crop/resize+encode)",
     ("jpegsave_buffer", "encode (beeldpost/image/processor.py")),
    ("pyvips calls building the pipeline (open/crop/resize: cffi, GObject)", ("pyvips/",)),
    ("ETag / hashing (sha256)", ("strong_etag", "hashlib")),
    ("resolve: listing/stat/content hash/derivative check", ("ImageService.resolve",)),
    ("IIIF parse + operations + canonical path", ("parse_image_request", "operations.py",
                                                  "parameters.py", "canonical_path")),
    ("raw path segments", ("environ_path_segments",)),
    ("response building, dates, conditional checks, CORS",
     ("cached_response", "http_date", "current_tag", "add_cors", "json_ld_response",
      "format_datetime", "base_url", "service_id")),
    ("Flask/werkzeug (routing, request/response objects, contexts)", ("flask/", "werkzeug/")),
    ("gunicorn: socket writes (send syscall, then re-taking the GIL)",
     ("Response.send_headers", "Response._emit_body", "Response.write (gunicorn")),
    ("gunicorn: event loop handing connections to pool threads (epoll, queue, GIL)",
     ("wait_for_and_dispatch_events", "enqueue_req", "PollableMethodQueue")),
    ("gunicorn: other (HTTP parsing, keep-alive, heartbeat)", ("gunicorn/",)),
]


IDLE = "idle: threads waiting for work (py-spy counts them as active; not CPU)"
# Leaf frames of a thread that only waits: gthread's pool threads on their queue, the
# main thread in epoll, a render queued in admission control.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "Arbiter.wait_for_signals",
               "wait (threading.py", "acquire (threading.py")


def categorise(stack: str) -> str:
    leaf = stack.rsplit(";", 1)[-1]
    if any(marker in leaf for marker in IDLE_LEAVES):
        return IDLE
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return "other Python"


def read_pyspy(path: Path) -> Counter:
    counts: Counter = Counter()
    if not path.exists():
        return counts
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if number.isdigit():
            counts[categorise(stack)] += int(number)
    return counts


def perf_split(data: Path) -> list[tuple[float, str]]:
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso"],
                            capture_output=True, text=True)
    rows = []
    for line in report.stdout.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(\S.*)$", line)
        if match:
            rows.append((float(match.group(1)), match.group(2).strip()))
    return rows


def live(seconds: float, lines: list[str]) -> None:
    run.prepare_image()
    plan = workloads.build(6000, 4000)
    logs = run.WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = servers.beeldpost(run.REPO, run.WORK, response_cache=False, logs=logs)
    server.start("info.json")
    profile_dir = run.WORK / "profile"
    profile_dir.mkdir(exist_ok=True)
    spy_out, perf_out = profile_dir / "pyspy.txt", profile_dir / "perf.data"
    for stale in (spy_out, perf_out):
        if stale.exists():
            stale.unlink()
    py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    perf = shutil.which("perf")
    try:
        workload = plan["W1"]
        paths = run.write_paths(server, workload)
        run.warm_up(server, workload, count=16)
        pids = procstats.tree(server.pid)
        profilers = []
        if py_spy:
            profilers.append(subprocess.Popen(
                [py_spy, "record", "--pid", str(server.pid), "--subprocesses", "--rate", "250",
                 "--format", "raw", "--nonblocking", "--duration", str(int(seconds) + 1),
                 "-o", str(spy_out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if perf:
            profilers.append(subprocess.Popen(
                [perf, "record", "-F", "499", "-o", str(perf_out), "-p", ",".join(map(str, pids)),
                 "--", "sleep", str(seconds + 0.5)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        result = run.run_wrk(server, paths, seconds, 8, 2, timeout=60)
        for profiler in profilers:
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.terminate()
    finally:
        server.stop()

    requests = result["requests"]
    cpu = result["cpu_ms_per_request"]
    lines += [
        "## 1. Live: production gunicorn, W1 tiles at c=8 (profilers attached)", "",
        f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"**{cpu:.2f} ms CPU per request** (whole process tree), {requests} requests; "
        f"other load on the machine meanwhile {result['other_load_cores']:.2f} cores.", "",
    ]
    python_share = None
    if perf and perf_out.exists():
        rows = perf_split(perf_out)
        python_share = sum(share for share, dso in rows
                           if not dso.startswith("libvips") and dso != "[kernel.kallsyms]") / 100
        lines += ["CPU by library (perf, all threads of both workers):", "",
                  "| share | ms per request | library |", "|---:|---:|---|"]
        for share, dso in rows[:8]:
            label = {"[kernel.kallsyms]": "kernel (syscalls, TCP, futex, page faults)"}.get(dso, dso)
            if dso.startswith("libvips"):
                label = f"{dso} (libvips + its bundled libjpeg, GLib)"
            elif dso.startswith("libpython"):
                label = f"{dso} (the Python interpreter)"
            lines.append(f"| {share:.1f}% | {cpu * share / 100:.2f} | {label} |")
        lines.append("")
    else:
        lines += ["(perf not installed: no split by library)", ""]
    counts = read_pyspy(spy_out)
    idle = counts.pop(IDLE, 0)
    if counts:
        total = sum(counts.values())
        # py-spy counts a thread waiting for the GIL as active, so its sample count
        # overstates CPU; its shares are scaled to the CPU perf saw outside libvips
        # and the kernel (or to all CPU without perf).
        python_ms = cpu * (python_share if python_share is not None else 1.0)
        lines += [f"Python threads (py-spy, {total} busy samples; {idle} more of threads only "
                  "waiting for work left out), shares scaled to the "
                  f"{python_ms:.2f} ms/request of CPU spent outside libvips and the kernel:", "",
                  "| share | ≈ ms CPU per request | doing |", "|---:|---:|---|"]
        for name, count in counts.most_common():
            lines.append(f"| {100 * count / total:.1f}% | {python_ms * count / total:.2f} | {name} |")
        lines.append("")
    else:
        lines += ["(py-spy not installed: `pip install py-spy` for the Python-side split)", ""]


def tiff_photometric(path: Path) -> int | None:
    """Photometric of the first directory (2 RGB, 6 YCbCr), via tiffinfo-free parsing."""
    import struct

    with open(path, "rb") as handle:
        header = handle.read(16)
        order = "<" if header[:2] == b"II" else ">"
        if struct.unpack(order + "H", header[2:4])[0] != 42:
            return None  # BigTIFF: not needed here
        handle.seek(struct.unpack(order + "I", header[4:8])[0])
        count = struct.unpack(order + "H", handle.read(2))[0]
        for _ in range(count):
            tag, kind, _n, value = struct.unpack(order + "HHI4s", handle.read(12))
            if tag == 262:
                return struct.unpack(order + "H", value[:2])[0]
    return None


def timed(function, repeat: int) -> tuple[float, float]:
    function(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for index in range(repeat):
        function(index)
    return ((time.perf_counter() - wall) / repeat * 1000, (time.process_time() - cpu) / repeat * 1000)


def micro(lines: list[str], repeat: int) -> None:
    import pyvips
    from PIL import Image

    derivative, _, _ = run.prepare_image()
    tiff = rawtiles.TiledTiff(str(derivative))
    level = pyvips.Image.new_from_file(str(derivative), access="random")
    stored = tiff.levels[0]
    columns, rows = stored.width // 256, stored.height // 256  # interior tiles only
    spots = [((i * 7) % columns, (i * 5) % rows) for i in range(repeat)]
    memory = [level.crop(c * 256, r * 256, 256, 256).copy_memory() for c, r in spots[:16]]
    raw = [tiff.tile_jpeg(0, c, r) for c, r in spots[:16]]
    pillow = [Image.open(io.BytesIO(b)) for b in raw]
    for picture in pillow:
        picture.load()

    def pillow_tile(i):
        column, row = spots[i % len(spots)]
        picture = Image.open(io.BytesIO(tiff.tile_jpeg(0, column, row)))
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=85)

    def pillow_encode(i):
        out = io.BytesIO()
        pillow[i % 16].save(out, "JPEG", quality=85)

    cases = [
        ("libvips: crop stored tile + jpegsave_buffer Q85 (processor.py's path)",
         lambda i: level.crop(spots[i % len(spots)][0] * 256, spots[i % len(spots)][1] * 256,
                              256, 256).jpegsave_buffer(Q=85, keep="none")),
        ("libvips: same, reopening the TIFF per request",
         lambda i: pyvips.Image.new_from_file(str(derivative), access="random").crop(
             spots[i % len(spots)][0] * 256, spots[i % len(spots)][1] * 256, 256, 256
         ).jpegsave_buffer(Q=85, keep="none")),
        ("libvips: decode only (crop → copy_memory)",
         lambda i: level.crop(spots[i % len(spots)][0] * 256, spots[i % len(spots)][1] * 256,
                              256, 256).copy_memory()),
        ("libvips: encode only (256² from memory, Q85)",
         lambda i: memory[i % 16].jpegsave_buffer(Q=85, keep="none")),
        ("libvips: 8×8 image → JPEG (fixed per-pipeline cost)",
         lambda i: pyvips.Image.black(8, 8).jpegsave_buffer(Q=85)),
        ("Pillow: stored tile bytes → decode → encode Q85 (codec floor, like iipsrv)", pillow_tile),
        ("Pillow: decode only", lambda i: Image.open(io.BytesIO(raw[i % 16])).load()),
        ("Pillow: encode only", pillow_encode),
        ("pass-through: stored tile's bytes as a JPEG (pread + splice tables)",
         lambda i: tiff.tile_jpeg(0, *spots[i % len(spots)])),
    ]
    concurrency = pyvips.vips_lib.vips_concurrency_get()
    lines += ["## 2. In-process microbenchmarks (one thread, interior 256² tiles of level 0)", "",
              f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} (pyvips-binary), "
              f"libvips concurrency {concurrency}; stored tiles average "
              f"{statistics.mean(len(b) for b in raw) / 1024:.1f} KB ({derivative.name}: "
              f"{'YCbCr' if tiff_photometric(derivative) == 6 else 'RGB'} JPEG tiles).", "",
              "| operation | wall ms | CPU ms |", "|---|---:|---:|"]
    for label, function in cases:
        wall, cpu = timed(function, repeat)
        lines.append(f"| {label} | {wall:.3f} | {cpu:.3f} |")
    lines.append("")
    tiff.close()


def app_overhead(lines: list[str], repeat: int) -> None:
    from werkzeug.test import EnvironBuilder

    from beeldpost import create_app

    app = create_app({"images_dir": run.WORK / "images", "cache_dir": run.WORK / "cache"})
    service = app.extensions["beeldpost.images"]
    plan = workloads.build(6000, 4000)
    tiles = [r.tail for r in plan["W1"].requests if r.tail.endswith("/256,/0/default.jpg")][:64]

    def environ(path: str) -> dict:
        built = EnvironBuilder(path=path, base_url="http://127.0.0.1:8000").get_environ()
        built["RAW_URI"] = path
        return built

    tile_environs = [environ(f"/iiif/2/bench/{tail}") for tail in tiles]
    info_environ = environ("/iiif/2/bench/info.json")

    def call(env: dict) -> None:
        chunks = app(dict(env), lambda status, headers, exc_info=None: None)
        for _ in chunks:
            pass
        if hasattr(chunks, "close"):
            chunks.close()

    # The app logs one JSON line per request to stdout: keep it (its cost is part of a
    # request) but send it to /dev/null so it does not drown the report.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        real, stubbed, info, profiler = _app_timings(call, service, tile_environs, info_environ,
                                                     repeat)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
        os.close(null)
    lines += ["## 3. The Flask app in-process (no gunicorn, no sockets)", "",
              "| request | wall ms | CPU ms |", "|---|---:|---:|",
              f"| tile, real render | {real[0]:.3f} | {real[1]:.3f} |",
              f"| tile, render replaced by constant bytes (Python around the render) | "
              f"{stubbed[0]:.3f} | {stubbed[1]:.3f} |",
              f"| info.json | {info[0]:.3f} | {info[1]:.3f} |", ""]
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(18)
    table = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(table) if line.lstrip().startswith("ncalls")), 0)
    lines += [f"cProfile, {repeat} real tile requests, top functions by own time "
              "(cProfile inflates Python-heavy code):", "", "```",
              *[line[:150] for line in table[start:start + 19]], "```", ""]


def _app_timings(call, service, tile_environs, info_environ, repeat):
    real_render = service.render
    real = timed(lambda i: call(tile_environs[i % len(tile_environs)]), repeat)
    body = b"\xff\xd8" + b"\0" * 19000
    service.render = lambda image, ops: body  # instance attribute: only this process
    stubbed = timed(lambda i: call(tile_environs[i % len(tile_environs)]), repeat * 4)
    info = timed(lambda i: call(info_environ), repeat * 4)
    service.render = real_render
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(repeat):
        call(tile_environs[index % len(tile_environs)])
    profiler.disable()
    return real, stubbed, info, profiler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="live profile duration")
    parser.add_argument("--repeat", type=int, default=300, help="iterations per microbenchmark")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args(argv)

    lines = [f"# Beeldpost tile path profile — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
             "", f"Beeldpost at {run.git_description()}; {os.cpu_count()} cores "
             f"({run.cpu_model()}). Shared machine: absolute numbers are noisy, shares less so.", ""]
    if not args.skip_live:
        live(args.seconds, lines)
    micro(lines, args.repeat)
    app_overhead(lines, args.repeat)
    text = "\n".join(lines) + "\n"
    print(text)
    run.RESULTS.mkdir(exist_ok=True)
    (run.RESULTS / "profile.md").write_text(run.without_machine_paths(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
