"""Peak memory and time of building one derivative from a large EXIF-oriented JPEG.

A JPEG stored turned or flipped (EXIF Orientation 3–8) cannot be turned upright while
it is decoded top to bottom, so its derivative is built in two passes (see
beeldpost/image/derivatives.py). This measures what that costs against the one-pass build of an
upright JPEG of the same pixels: each build runs in a fresh child process, whose peak
RSS (ru_maxrss) and wall time are reported, with the most temporary disk it used.

    python bench/orientation_memory.py                       # 12000×8400, orientations 1 and 6
    python bench/orientation_memory.py --size 6000x4000 --orientations 1,3,6 --runs 3

The source images are drawn once into bench/work/orientation/ (outside git).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "orientation"


def source_image(width: int, height: int, orientation: int) -> Path:
    """The benchmark's photo-like picture, stored as it is and tagged with `orientation`."""
    import pyvips

    sys.path.insert(0, str(HERE))
    import testimage

    path = WORK / f"photo-{width}x{height}-o{orientation}.jpg"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    plain = WORK / f"photo-{width}x{height}.jpg"
    if not plain.exists():
        temporary = plain.with_name(f".{plain.name}.tmp.jpg")
        testimage.draw(width, height).jpegsave(str(temporary), Q=90, keep="none")
        os.replace(temporary, plain)
    # Same compressed pixels for every orientation; only the EXIF tag differs.
    tagged = pyvips.Image.new_from_file(str(plain), access="sequential").copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    temporary = path.with_name(f".{path.name}.tmp.jpg")
    tagged.jpegsave(str(temporary), Q=90)
    os.replace(temporary, path)
    return path


def build(source_path: Path, cache_dir: Path) -> dict:
    """In the child: build the derivative exactly as the server does."""
    from beeldpost.image.derivatives import DerivativeStore
    from beeldpost.image.sources import SourceCatalog

    catalog = SourceCatalog(source_path.parent)
    source = catalog.lookup(source_path.stem)
    content_hash = catalog.content_hash(source)
    store = DerivativeStore(cache_dir)
    started = time.perf_counter()
    target = store.ensure(source, content_hash)
    seconds = time.perf_counter() - started
    recorded = json.loads(store.sidecar(target).read_text())
    return {"seconds": seconds, "width": recorded["width"], "height": recorded["height"]}


def disk_use(folders: list[Path]) -> int:
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    pass  # renamed or removed while we looked
    return total


def measure(source_path: Path, env_extra: dict[str, str]) -> dict:
    """One build in a fresh child: its peak RSS, wall time and most temporary disk use."""
    with tempfile.TemporaryDirectory(prefix="orientation-bench-", dir=WORK) as scratch:
        cache, tmp = Path(scratch) / "cache", Path(scratch) / "tmp"
        tmp.mkdir()
        # libvips puts its own temporary files in TMPDIR: a private one shows them all.
        env = dict(os.environ, TMPDIR=str(tmp), **env_extra)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, __file__, "--child", str(source_path), str(cache)],
                                 env=env, stdout=subprocess.PIPE, text=True)
        peak_disk, done = 0, threading.Event()

        def sample() -> None:
            nonlocal peak_disk
            while not done.wait(0.05):
                peak_disk = max(peak_disk, disk_use([cache, tmp]))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) != 0:
            return {"failed": f"the build of {source_path.name} failed "
                              f"(exit status {os.waitstatus_to_exitcode(status)})"}
        result = json.loads(output)
        final = disk_use([cache])
        leftovers = sorted(p.name for p in tmp.iterdir())
        leftovers += sorted(p.name for p in cache.rglob("*")
                            if p.is_file() and p.suffix not in (".tif", ".json", ".lock"))
        return {
            "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
            "wall_s": wall,
            "build_s": result["seconds"],
            "upright": f"{result['width']}×{result['height']}",
            # disk in use at the busiest moment beyond the finished derivative itself
            "temporary_disk_mb": max(0, peak_disk - final) / 2**20,
            "leftovers": leftovers,
        }


def baseline(env_extra: dict[str, str]) -> float:
    """Peak RSS of a child that only imports the server: what every build starts from."""
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    child = subprocess.Popen([sys.executable, "-c", "import beeldpost.image.derivatives"], env=env)
    _, _, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="12000x8400", help="stored width×height (default 12000x8400)")
    parser.add_argument("--orientations", default="1,6", help="EXIF orientations, comma-separated")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrency", help="VIPS_CONCURRENCY for the child (default: libvips')")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "CACHE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(build(Path(arguments.child[0]), Path(arguments.child[1]))))
        return

    width, height = (int(n) for n in arguments.size.lower().split("x"))
    env_extra = {"VIPS_CONCURRENCY": arguments.concurrency} if arguments.concurrency else {}
    print(f"{width}×{height} = {width * height / 1e6:.0f} MP stored; "
          f"decoded RGB {width * height * 3 / 2**20:.0f} MB; "
          f"import-only child {baseline(env_extra):.0f} MB RSS; "
          f"load average {os.getloadavg()[0]:.2f} (other load makes the times noisy)")
    print(f"{'orientation':>11} {'upright':>12} {'peak RSS':>9} {'wall':>7} {'build':>7} "
          f"{'temp disk':>10}  leftovers")
    for orientation in (int(n) for n in arguments.orientations.split(",")):
        path = source_image(width, height, orientation)
        for _ in range(arguments.runs):
            r = measure(path, env_extra)
            if "failed" in r:
                print(f"{orientation:>11}  {r['failed']}")
                continue
            print(f"{orientation:>11} {r['upright']:>12} {r['peak_rss_mb']:>6.0f} MB "
                  f"{r['wall_s']:>6.1f}s {r['build_s']:>6.1f}s {r['temporary_disk_mb']:>7.0f} MB  "
                  f"{', '.join(r['leftovers']) or 'none'}")


if __name__ == "__main__":
    main()
