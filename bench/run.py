"""Beeldpost against IIPImage, side by side: `make bench` (or `make bench QUICK=1`).

    python bench/run.py [--quick] [--rounds N] [--duration S] [--only W1,W2] [--no-install]
                        [--iipsrv PATH]

See bench/README.md for what is measured and how to read the table. Benchmarks
are not tests: nothing here asserts a timing, the table only reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import procstats  # noqa: E402
import servers  # noqa: E402
import workloads  # noqa: E402

WORK = BENCH / "work"
RESULTS = BENCH / "results"
LUA = BENCH / "urls.lua"
APT_PACKAGES = ("iipimage-server", "lighttpd", "wrk")
# The order the workloads are measured and shown in.
ORDER = ("W1", "W2", "W3a", "W3b", "W3c", "W3c32", "W3d", "W3c2", "W1warm")
# Workloads that ask exactly the URLs of another one (only the load differs): their
# answers are checked once, under the other's key.
CHECKED_AS = {"W3c32": "W3c"}
# Workloads run on a Beeldpost restarted with other settings, compared with IIPImage's
# run of another workload: key -> (compared with, response cache, extra environment).
RESTARTED = {
    # Production admission control gave whole-image renders one slot until issue 23 (a
    # core kept for tiles, issue #6): W3c2 shows two slots, now the default on 2 cores.
    "W3c2": ("W3c", False, {"BEELDPOST_HEAVY_SLOTS": "2", "BEELDPOST_HEAVY_QUEUE": "8"}),
    "W1warm": ("W1", True, {}),
}
JPEG_QUALITY = 85  # Beeldpost's default BEELDPOST_JPEG_QUALITY; IIPImage is set to the same
# A request not answered within this many seconds counts as a timeout (wrk --timeout;
# wrk's own default of 2 s would count a queued full-size download as one).
TIMEOUT_S = 30
# Issue 23's targets, Beeldpost ÷ IIPImage in one run: each by rate and by CPU per
# request, with bytes per answer no more than IIPImage's (images only) and no errors.
SPEED_TARGETS = (("W1", 2.0), ("W2", 1.5), ("W3a", 1.5), ("W3b", 1.5), ("W3d", 1.5))
W3C_RATE = 1.5  # W3c: successful answers/s at c=8, with no errors at all
W3C_RSS_MB = 300  # peak RSS of Beeldpost's whole process tree under W3c (c=8 and c=32)


def say(message: str) -> None:
    print(message, flush=True)


# --- tools ---------------------------------------------------------------------------------

def missing_tools(iipsrv: Path | None = None) -> list[str]:
    """Debian packages the run lacks; iipimage-server only when no --iipsrv is given."""
    missing = []
    if iipsrv is None and not servers.IIPSRV.exists():
        missing.append("iipimage-server")
    if not (shutil.which("lighttpd") or Path("/usr/sbin/lighttpd").exists()):
        missing.append("lighttpd")
    if not shutil.which("wrk"):
        missing.append("wrk")
    return missing


def ensure_tools(allow_install: bool, iipsrv: Path | None = None) -> None:
    if iipsrv is not None and not os.access(iipsrv, os.X_OK):
        sys.exit(f"bench: --iipsrv {iipsrv} is not an executable file")
    missing = missing_tools(iipsrv)
    if not missing:
        return
    packages = [name for name in APT_PACKAGES if name != "iipimage-server" or iipsrv is None]
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"bench: missing {', '.join(missing)}. Install them with\n"
                 f"    sudo apt-get update && sudo {' '.join(command)}\n"
                 "(Debian/Ubuntu), or run this as root and it installs them itself.")
    say(f"bench: installing {', '.join(missing)} from Debian: {' '.join(command)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    # On a systemd machine the packages enable services of their own (lighttpd on
    # port 80, iipsrv on 0.0.0.0:9000). The benchmark starts its own private
    # instances, so switch off those that this install just brought.
    if Path("/run/systemd/system").exists() and shutil.which("systemctl"):
        units = {"iipimage-server": "iipsrv", "lighttpd": "lighttpd"}
        for package in missing:
            if package in units:
                subprocess.run(["systemctl", "disable", "--now", units[package]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    still = missing_tools(iipsrv)
    if still:
        sys.exit(f"bench: still missing after apt-get: {', '.join(still)}")


def package_version(name: str) -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- the image both servers read -----------------------------------------------------------

def prepare_image() -> tuple[Path, int, int]:
    """Draw the source, let Beeldpost build its pyramid, and show that file to IIPImage."""
    import testimage

    source = testimage.ensure(WORK / "images" / "bench.jpg")
    env = dict(os.environ, BEELDPOST_IMAGES=str(WORK / "images"), BEELDPOST_CACHE=str(WORK / "cache"))
    subprocess.run([sys.executable, "-m", "beeldpost.cli", "ingest", "bench"], cwd=REPO, env=env,
                   check=True, stderr=subprocess.DEVNULL)
    # The derivative's path, as Beeldpost itself computes it.
    from beeldpost.settings import Settings
    from beeldpost.image.service import ImageService

    service = ImageService(Settings.from_env(env))
    resolved = service.resolve("bench")
    derivative = resolved.pyramid.path
    levels = resolved.pyramid.levels
    # IIPImage reads the very same bytes through a hard link named bench.tif (same inode;
    # a hard link, not a symlink, so the file stays even if Beeldpost discards and
    # rebuilds its derivative during the run). A copy where hard links are impossible.
    iip_images = WORK / "iip" / "images"
    iip_images.mkdir(parents=True, exist_ok=True)
    link = iip_images / "bench.tif"
    if link.is_symlink() or link.exists():
        link.unlink()
    try:
        os.link(derivative, link)
    except OSError:
        shutil.copyfile(derivative, link)
    say(f"bench: source {source.relative_to(REPO)} → pyramid {derivative.relative_to(REPO)} "
        f"({derivative.stat().st_size / 1e6:.1f} MB, levels "
        f"{', '.join(f'{w}×{h}' for w, h in levels)}), linked as {link.relative_to(REPO)}")
    return derivative, resolved.width, resolved.height


# --- checking what the servers answer --------------------------------------------------------

def jpeg_size(body: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's SOF marker; None when it is not a JPEG."""
    if not body.startswith(b"\xff\xd8"):
        return None
    index = 2
    while index + 9 < len(body):
        if body[index] != 0xFF:
            return None
        marker = body[index + 1]
        length = int.from_bytes(body[index + 2:index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(body[index + 5:index + 7], "big")
            width = int.from_bytes(body[index + 7:index + 9], "big")
            return width, height
        index += 2 + length
    return None


def pixel_difference(a: bytes, b: bytes) -> float | None:
    """Mean absolute difference (0–255) of two same-sized JPEGs."""
    try:
        import pyvips

        first, second = pyvips.Image.new_from_buffer(a, ""), pyvips.Image.new_from_buffer(b, "")
        if (first.width, first.height) != (second.width, second.height):
            return None
        return round((first - second).abs().avg(), 2)
    except Exception:  # noqa: BLE001 - a check, never fatal
        return None


def verify(workload: workloads.Workload, pair: list[servers.Server],
           samples: int | None = None) -> dict:
    """Fetch the workload's URLs (all, or the first `samples`) from both servers and check
    what comes back:
    HTTP 200, a real JPEG (or an info.json) of the expected pixel size, the mean pixel
    difference between the two answers, and each server's mean body size over the URLs
    both answered (the bytes compared by the targets: same URLs, bodies without headers)."""
    samples = len(workload.requests) if samples is None else samples
    picked = workload.requests[:samples]
    # Also the whole-image requests in the tile list (the level that fits in one tile).
    picked += [r for r in workload.requests[samples:] if r.tail.startswith("full/")
               and workload.key.startswith("W1")]
    report = {server.name: {"checked": 0, "ok": 0, "problems": []} for server in pair}
    differences: list[float] = []
    worst = ""
    body_bytes: dict[str, list[int]] = {server.name: [] for server in pair}
    for request in picked:
        bodies = {}
        for server in pair:
            entry = report[server.name]
            entry["checked"] += 1
            try:
                status, headers, body = servers.get(server.port, server.url(request.tail))
            except OSError as error:
                entry["problems"].append(f"{request.tail}: {error}")
                continue
            if status != 200:
                entry["problems"].append(f"{request.tail}: HTTP {status}")
                continue
            if workload.json:
                try:
                    document = json.loads(body)
                    assert document.get("width") and document.get("height")
                    entry["ok"] += 1
                    bodies[server.name] = body
                except (ValueError, AssertionError):
                    entry["problems"].append(f"{request.tail}: not an info.json")
                continue
            size = jpeg_size(body)
            if size is None:
                entry["problems"].append(f"{request.tail}: not a JPEG "
                                         f"({headers.get('content-type')})")
                continue
            if size != request.size:
                entry["problems"].append(f"{request.tail}: {size[0]}×{size[1]}, "
                                         f"expected {request.size[0]}×{request.size[1]}")
            else:
                entry["ok"] += 1
            bodies[server.name] = body
        if len(bodies) == 2:
            for name, body in bodies.items():
                body_bytes[name].append(len(body))
            if not workload.json:
                difference = pixel_difference(*bodies.values())
                if difference is not None:
                    differences.append(difference)
                    if difference >= max(differences):
                        worst = request.tail
    result = {"servers": report}
    if differences:
        result["mean_abs_pixel_difference"] = round(statistics.mean(differences), 2)
        result["max_abs_pixel_difference"] = round(max(differences), 2)
        result["max_abs_pixel_difference_url"] = worst
    counted = len(next(iter(body_bytes.values())))
    if counted:
        result["body_bytes"] = {name: round(statistics.mean(sizes), 1)
                                for name, sizes in body_bytes.items()}
        result["body_urls"] = counted
    return result


# --- load ----------------------------------------------------------------------------------

def write_paths(server: servers.Server, workload: workloads.Workload) -> Path:
    folder = WORK / "paths"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{server.name.lower()}-{workload.key}.txt"
    path.write_text("".join(server.url(r.tail) + "\n" for r in workload.requests))
    return path


def wait_quiet(server: servers.Server, limit: float = 90.0) -> None:
    """Wait until the server stops working on requests the last run abandoned."""
    deadline = time.monotonic() + limit
    previous = procstats.cpu_seconds(procstats.tree(server.pid))
    while time.monotonic() < deadline:
        time.sleep(0.25)
        current = procstats.cpu_seconds(procstats.tree(server.pid))
        if current - previous < 0.02:
            return
        previous = current


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(server: servers.Server, paths: Path, duration: float, connections: int,
            threads: int, timeout: int, statuses: bool = False) -> dict:
    """One wrk run against `server`. `statuses`: count every answer's status (urls.lua)."""
    threads = min(threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
               "--timeout", f"{timeout}s", "--latency", "-s", str(LUA),
               f"http://{servers.HOST}:{server.port}", "--", str(paths), str(threads)]
    if statuses:
        command += ["statuses", str(timeout)]
    busy_before, own_before, wrk_before = (procstats.machine_busy_seconds(), procstats.own_cpu(),
                                           children_cpu())
    started = time.monotonic()
    with procstats.TreeMonitor(server.pid) as monitor:
        finished = subprocess.run(command, capture_output=True, text=True,
                                  timeout=duration + timeout + 60)
    wall = time.monotonic() - started
    busy = procstats.machine_busy_seconds() - busy_before
    own = procstats.own_cpu() - own_before
    wrk_cpu = children_cpu() - wrk_before
    wait_quiet(server)
    line = next((l for l in finished.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if finished.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}\n"
                           f"{finished.stdout[-2000:]}")
    data = json.loads(line[len("BENCHJSON "):])
    requests = data["requests"]
    seconds = data["duration_us"] / 1e6
    usage = monitor.usage
    counted = data.get("statuses")
    # wrk counts an answer that came later than the timeout both as an answer and as a
    # timeout: a successful answer is one with a 2xx status (without status counts:
    # below 400) that came in time. Late answers are taken to be successes, which they
    # nearly always are (a refusal is quick); where not, this undercounts a little.
    late = data["errors"]["timeout"]
    if counted:
        # Requests that had waited longer than the timeout without any answer by the
        # end of the run are timeouts too (wrk only counts answers that came late).
        data["errors"]["unanswered"] = counted["unanswered_late"]
        ok = sum(n for status, n in counted["counts"].items() if status.startswith("2"))
    else:
        ok = requests - data["errors"]["status"]
    ok = max(0, ok - late)
    errors = sum(data["errors"].values())
    return {
        "requests": requests,
        "ok": ok,
        "seconds": round(seconds, 3),
        # Successful answers per second: an error (e.g. a 503 from admission control) is
        # not throughput. rps_all counts every answer.
        "rps": round(ok / seconds, 2) if seconds else 0.0,
        "rps_all": round(requests / seconds, 2) if seconds else 0.0,
        "p50_ms": round(data["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(data["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(data["latency_us"]["p99"] / 1000, 2),
        "mean_ms": round(data["latency_us"]["mean"] / 1000, 2),
        "max_ms": round(data["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_detail": data["errors"],
        "statuses": counted,
        "connections": connections,
        "timeout_s": timeout,
        "kb_per_response": round(data["bytes"] / requests / 1024, 1) if requests else None,
        # Per successful answer, like rps: refused requests' CPU is charged to the served ones.
        "cpu_ms_per_request": round(usage.cpu_seconds * 1000 / ok, 3) if ok else None,
        "server_cpu_cores": round(usage.cpu_seconds / wall, 2),
        "peak_rss_mb": round(usage.peak_rss_sum / 2**20, 1),
        "peak_rss_largest_process_mb": round(usage.peak_rss_max / 2**20, 1),
        "processes": usage.processes,
        "processes_exited": usage.exited,
        "wrk_cpu_cores": round(wrk_cpu / wall, 2),
        # CPU the rest of the machine used meanwhile (other people's tests, etc.): noise.
        "other_load_cores": round(max(0.0, busy - usage.cpu_seconds - wrk_cpu - own) / wall, 2),
    }


def log_problems(logs: Path) -> dict[str, dict[str, int]]:
    """Counts of worrying lines in the servers' logs (a clean run has none)."""
    patterns = {"traceback": "Traceback", "derivative discarded": "discarding its derivative",
                "error": "ERROR", "worker timeout": "WORKER TIMEOUT", "http 5xx": '"status": 5'}
    found: dict[str, dict[str, int]] = {}
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        counts = {name: text.count(needle) for name, needle in patterns.items() if needle in text}
        if counts:
            found[path.name] = counts
    return found


def summarise(runs: list[dict]) -> dict:
    if not runs:
        return {}

    def median(key):
        values = [run[key] for run in runs if run.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    summary = {key: median(key) for key in (
        "rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "cpu_ms_per_request", "kb_per_response",
        "server_cpu_cores", "wrk_cpu_cores", "other_load_cores")}
    summary["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    summary["peak_rss_largest_process_mb"] = max(run["peak_rss_largest_process_mb"] for run in runs)
    summary["errors"] = sum(run["errors"] for run in runs)
    detail: dict[str, int] = {}
    for run in runs:
        for kind, n in run.get("error_detail", {}).items():
            detail[kind] = detail.get(kind, 0) + n
    summary["error_detail"] = detail
    summary["timeout_s"] = runs[0].get("timeout_s")
    counted = [run["statuses"] for run in runs if run.get("statuses")]
    if counted:
        totals: dict[str, int] = {}
        for one in counted:
            for status, n in one["counts"].items():
                totals[status] = totals.get(status, 0) + n
        summary["statuses"] = {
            "counts": dict(sorted(totals.items())),
            **{key: sum(one.get(key, 0) for one in counted) for key in (
                "503_with_retry_after", "503_without_retry_after", "unanswered",
                "unanswered_late")}}
    summary["processes_exited"] = sum(run.get("processes_exited", 0) for run in runs)
    summary["requests"] = sum(run["requests"] for run in runs)
    summary["runs"] = len(runs)
    return summary


def warm_up(server: servers.Server, workload: workloads.Workload, count: int | None = None) -> dict:
    """Request URLs one by one (opens files, fills caches); returns the cache headers seen."""
    seen: dict[str, int] = {}
    requests = workload.requests if count is None else workload.requests[:count]
    for request in requests:
        try:
            _, headers, _ = servers.get(server.port, server.url(request.tail))
        except OSError:
            continue
        value = headers.get("x-beeldpost-cache")
        if value is not None:
            seen[value] = seen.get(value, 0) + 1
    return seen


# --- report --------------------------------------------------------------------------------

def fmt(value, digits=1, suffix=""):
    if value is None:
        return "n/a"
    if isinstance(value, float) and value >= 100:
        digits = 0
    return f"{value:.{digits}f}{suffix}"


def cpu_ratio(entry: dict) -> float | None:
    """IIPImage's CPU per request ÷ Beeldpost's: the ratio a CPU-bound server reaches on an
    otherwise idle machine, and much less sensitive to other load than req/s."""
    b = entry.get("beeldpost", {}).get("cpu_ms_per_request")
    i = entry.get("iipimage", {}).get("cpu_ms_per_request")
    return round(i / b, 3) if b and i and b > 0 else None


def errors_text(summary: dict) -> str:
    if not summary:
        return "n/a"
    text = str(summary.get("errors", "n/a"))
    if summary.get("processes_exited"):
        text += f" ({summary['processes_exited']} worker exits)"
    return text


def status_text(summary: dict) -> str:
    """What the answers were: '200 ×n, 503 ×n (n with Retry-After), n timeouts, …'."""
    counted = summary.get("statuses")
    detail = summary.get("error_detail", {})
    parts = []
    if counted:
        for status, n in counted["counts"].items():
            text = f"{status} ×{n}"
            if status == "503":
                text += f" ({counted['503_with_retry_after']} with Retry-After)"
            parts.append(text)
    limit = summary.get("timeout_s") or "the timeout's"
    if detail.get("timeout"):
        parts.append(f"{detail['timeout']} answered after more than {limit} s (timeouts)")
    if detail.get("unanswered"):
        parts.append(f"{detail['unanswered']} without an answer after {limit} s (timeouts)")
    sockets = sum(detail.get(kind, 0) for kind in ("connect", "read", "write"))
    if sockets:
        parts.append(f"{sockets} socket errors")
    if not counted and detail.get("status"):
        parts.append(f"{detail['status']} answers ≥ 400")
    return ", ".join(parts) or "n/a"


def targets(results: dict) -> list[dict]:
    """Issue 23's targets, each marked met (True), not met (False) or n/a (None)."""
    w = results["workloads"]
    checks = results.get("checks", {})

    def bytes_of(key):
        sizes = checks.get(key, {}).get("body_bytes", {})
        return sizes.get("Beeldpost"), sizes.get("IIPImage"), checks.get(key, {}).get("body_urls")

    out = []
    for key, threshold in SPEED_TARGETS:
        entry = w.get(key, {})
        rate, cpu = entry.get("ratio"), cpu_ratio(entry)
        errors = entry.get("beeldpost", {}).get("errors")
        name = f"{key} ≥ {threshold:g}× by rate and by CPU" + (
            "" if key == "W2" else ", bytes ≤ IIPImage's")
        if rate is None or cpu is None:
            out.append({"target": name, "measured": "n/a (not measured)", "met": None})
            continue
        met = rate >= threshold and cpu >= threshold and not errors
        text = f"rate {fmt(rate, 2, '×')}, CPU {fmt(cpu, 2, '×')}"
        if key != "W2":  # an info.json has no image quality to compare bytes at
            b_bytes, i_bytes, urls = bytes_of(key)
            if b_bytes is None or i_bytes is None:
                text += ", bytes n/a"
                met = None if met else met
            else:
                text += (f", body {b_bytes / 1024:.2f} / {i_bytes / 1024:.2f} KB "
                         f"({b_bytes - i_bytes:+.0f} B, same {urls} URLs)")
                met = met and b_bytes <= i_bytes
        if errors:
            text += f", {errors} errors"
        out.append({"target": name, "measured": text, "met": met})

    w3c, w3c32 = w.get("W3c", {}), w.get("W3c32", {})
    b8 = w3c.get("beeldpost", {})
    rate, rss, errors = w3c.get("ratio"), b8.get("peak_rss_mb"), b8.get("errors")
    name = f"W3c c=8: ≥ {W3C_RATE:g}× by rate, 0 errors, peak RSS ≤ {W3C_RSS_MB} MB"
    if rate is None or rss is None:
        out.append({"target": name, "measured": "n/a (not measured)", "met": None})
    else:
        text = f"rate {fmt(rate, 2, '×')}, {errors} errors, {fmt(rss, 0, ' MB')}"
        if errors:
            text += f" ({status_text(b8)})"
        w3c2 = w.get("W3c2", {})
        if w3c2.get("ratio") is not None:
            text += (f" (with 2 heavy slots, W3c2: {fmt(w3c2['ratio'], 2, '×')}, "
                     f"{fmt(w3c2.get('beeldpost', {}).get('peak_rss_mb'), 0, ' MB')})")
        out.append({"target": name, "measured": text,
                    "met": rate >= W3C_RATE and not errors and rss <= W3C_RSS_MB})
    b32 = w3c32.get("beeldpost", {})
    name = ("W3c c=32: beyond what runs and queues only 503 with Retry-After; no timeout, "
            f"no other error; peak RSS ≤ {W3C_RSS_MB} MB")
    counted = b32.get("statuses")
    if not counted:
        out.append({"target": name, "measured": "n/a (not measured)", "met": None})
    else:
        detail = b32.get("error_detail", {})
        bad_status = sum(n for status, n in counted["counts"].items()
                         if not status.startswith("2") and status != "503")
        bad = (bad_status + counted["503_without_retry_after"] + detail.get("timeout", 0)
               + detail.get("unanswered", 0)
               + sum(detail.get(kind, 0) for kind in ("connect", "read", "write")))
        rss32 = b32.get("peak_rss_mb")
        text = f"{status_text(b32)}; {fmt(rss32, 0, ' MB')}"
        met = bad == 0 and rss32 is not None and rss32 <= W3C_RSS_MB and b32.get("requests", 0) > 0
        meta = results["meta"]
        if met and meta.get("w3c32_duration_s", 0) <= meta.get("timeout_s", 0):
            met = None  # a request never answered could not have shown as a timeout
            text += " (runs no longer than the timeout: timeouts could not show)"
        out.append({"target": name, "measured": text, "met": met})
    return out


def iipimage_text(meta: dict) -> str:
    """Which IIPImage ran, e.g. 'iipsrv 1.3 (own build given with --iipsrv, codec passthrough
    true by its log)' or 'iipsrv 1.1 (Debian iipimage-server 1.1-3+b2)'."""
    iip = meta.get("iipimage")
    if not iip:  # results of older harness versions
        return f"iipimage-server {meta['versions'].get('iipimage-server', 'unknown')}"
    text = f"iipsrv {iip.get('version') or 'of unknown version'} ({iip['source']}"
    if iip.get("codec_passthrough"):
        text += f", codec passthrough {iip['codec_passthrough']} by its log"
    return text + ")"


def markdown(results: dict) -> str:
    meta = results["meta"]
    rounds = meta.get("rounds", meta.get("runs"))
    interleaved = meta.get("interleaved", False)
    lines = [
        f"# Beeldpost vs IIPImage — {meta['mode']} run, {meta['finished']}",
        "",
        f"Machine: {meta['cpus']} cores, **{meta['cpu_model']}**. IIPImage: {iipimage_text(meta)}.",
        "",
        (f"{rounds} round(s): in each, every workload on each server in turn (who goes first "
         "alternates), " if interleaved else f"{rounds} run(s) per workload and server, ")
        + f"{meta['duration_s']:g} s each "
        f"(W3c: {meta['w3c_duration_s']:g} s"
        + (f", W3c32: {meta['w3c32_duration_s']:g} s" if meta.get("w3c32_duration_s") else "")
        + (" — no longer than the timeout, so a request left without an answer would not "
           "show as one" if meta.get("w3c32_duration_s", 1e9) <= meta.get("timeout_s", 0) else "")
        + f"), wrk -t{meta['threads']} -c{meta['connections']}"
        + (f" --timeout {meta['timeout_s']}s" if meta.get("timeout_s") else "") + "; "
        "req/s, latency and CPU are medians over runs, RSS is the peak; 'ratio' is Beeldpost's "
        "req/s ÷ IIPImage's (successful answers only), 'ratio by CPU' IIPImage's CPU ms/request ÷ "
        "Beeldpost's (the less noise-sensitive figure on a shared machine). "
        f"lighttpd {meta['versions']['lighttpd']}, wrk {meta['versions']['wrk']}, libvips "
        f"{meta['versions']['libvips']}; Beeldpost at {meta['git']}.",
        "",
        "| workload | Beeldpost req/s | IIPImage req/s | ratio | ratio by CPU | p50 / p99 ms Beeldpost | "
        "p50 / p99 ms IIPImage | CPU ms/req Beeldpost / IIPImage | peak RSS MB Beeldpost / "
        "IIPImage | KB/response B / I | errors B / I | other load (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in ORDER:
        entry = results["workloads"].get(key)
        if entry is None:
            continue
        if entry.get("skipped"):
            lines.append(f"| {entry['title']} | n/a | ({RESTARTED.get(key, ('W1',))[0]}) | n/a "
                         "| | | | | | | | |")
            continue
        b, i = entry.get("beeldpost", {}), entry.get("iipimage", {})
        if not b:
            lines.append(f"| {entry['title']} | n/a | {fmt(i.get('rps'))} | n/a | n/a | n/a | "
                         f"{fmt(i.get('p50_ms'))} / {fmt(i.get('p99_ms'))} | n/a / "
                         f"{fmt(i.get('cpu_ms_per_request'), 2)} | n/a / {fmt(i.get('peak_rss_mb'), 0)} "
                         f"| n/a / {fmt(i.get('kb_per_response'))} | n/a / {i.get('errors', 'n/a')} | — |")
            continue
        lines.append(
            f"| {entry['title']} | {fmt(b.get('rps'))} | {fmt(i.get('rps'))} | "
            f"**{fmt(entry.get('ratio'), 2, '×')}** | {fmt(cpu_ratio(entry), 2, '×')} | "
            f"{fmt(b.get('p50_ms'))} / {fmt(b.get('p99_ms'))} | "
            f"{fmt(i.get('p50_ms'))} / {fmt(i.get('p99_ms'))} | "
            f"{fmt(b.get('cpu_ms_per_request'), 2)} / {fmt(i.get('cpu_ms_per_request'), 2)} | "
            f"{fmt(b.get('peak_rss_mb'), 0)} / {fmt(i.get('peak_rss_mb'), 0)} | "
            f"{fmt(b.get('kb_per_response'))} / {fmt(i.get('kb_per_response'))} | "
            f"{errors_text(b)} / {errors_text(i)} | "
            f"{fmt(b.get('other_load_cores'), 2)} / {fmt(i.get('other_load_cores'), 2)} |")
    lines += ["", "Single request (c=1): p50 / p99 ms", "",
              "| workload | Beeldpost | IIPImage | p99 at c=8 ÷ c=1 p50: Beeldpost | IIPImage |",
              "|---|---:|---:|---:|---:|"]
    for key, entry in results.get("single_request", {}).items():
        b, i = entry.get("beeldpost", {}), entry.get("iipimage", {})
        factors = []
        for name, single in (("beeldpost", b), ("iipimage", i)):
            c8 = results["workloads"].get(key, {}).get(name, {}).get("p99_ms")
            factors.append(f"{c8 / single['p50_ms']:.1f}×" if c8 and single.get("p50_ms") else "n/a")
        lines.append(f"| {key} | {fmt(b.get('p50_ms'), 2)} / {fmt(b.get('p99_ms'), 2)} | "
                     f"{fmt(i.get('p50_ms'), 2)} / {fmt(i.get('p99_ms'), 2)} | {factors[0]} | "
                     f"{factors[1]} |")
    counted = [(key, entry) for key in ORDER
               if (entry := results["workloads"].get(key)) and (
                   entry.get("beeldpost", {}).get("statuses")
                   or entry.get("iipimage", {}).get("statuses"))]
    if counted:
        lines += ["", "Answers by status, summed over runs (a timeout: no answer within "
                  f"{meta.get('timeout_s', 'wrk --timeout')} s)", "",
                  "| workload | Beeldpost | IIPImage |", "|---|---|---|"]
        for key, entry in counted:
            own = key in RESTARTED  # IIPImage's figures there are another workload's
            lines.append(f"| {entry['title']} | {status_text(entry.get('beeldpost', {}))} | "
                         + (f"(see {RESTARTED[key][0]})" if own else
                            status_text(entry.get("iipimage", {}))) + " |")
    lines += ["", "Targets of issue 23 (Beeldpost ÷ IIPImage in this run; 'by CPU' is IIPImage's CPU "
              "ms/request ÷ Beeldpost's; bytes are mean body sizes over the checked URLs)", "",
              "| target | measured | met |", "|---|---|---|"]
    for target in results["targets"]:
        mark = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
        lines.append(f"| {target['target']} | {target['measured']} | {mark} |")
    lines += ["", "Output checks (URLs of each workload fetched from both servers, one by one, "
              "before the load)", ""]
    for key in ORDER:
        check = results["checks"].get(key)
        if not check:
            continue
        parts = []
        for name, entry in check["servers"].items():
            text = f"{name} {entry['ok']}/{entry['checked']} as expected"
            if entry["problems"]:
                text += " (" + "; ".join(entry["problems"][:3]) + ")"
            parts.append(text)
        if "mean_abs_pixel_difference" in check:
            parts.append(f"mean |Δpixel| between them {check['mean_abs_pixel_difference']}"
                         + (f" (at most {check['max_abs_pixel_difference']}, "
                            f"`{check.get('max_abs_pixel_difference_url', '?')}`)"
                            if "max_abs_pixel_difference" in check else ""))
        if "body_bytes" in check:
            parts.append("mean body KB " + " / ".join(
                f"{name} {size / 1024:.2f}" for name, size in check["body_bytes"].items()))
        lines.append(f"- {key}: " + ", ".join(parts))
    if results.get("failures"):
        lines += ["", "Workloads that failed: " + "; ".join(
            f"{key}: {text}" for key, text in results["failures"].items())]
    if results.get("log_problems"):
        lines += ["", "Server log lines worth a look (bench/work/logs/): " + "; ".join(
            f"{name}: " + ", ".join(f"{k} ×{v}" for k, v in counts.items())
            for name, counts in results["log_problems"].items())]
    if meta.get("beeldpost_extra_env"):
        lines += ["", f"Beeldpost ran with extra environment {meta['beeldpost_extra_env']}."]
    lines += ["", "Notes", "",
              "- Both servers read the same pyramidal TIFF (Beeldpost's own derivative, tiled "
              f"256 px JPEG, {meta.get('derivative', '')}; IIPImage through a hard link), both "
              "encode at JPEG quality 85 (a tile Beeldpost serves from the stored bytes keeps "
              "the derivative's quality: see KB/response), both run 2 worker processes on "
              "127.0.0.1. IIPImage: iipsrv under lighttpd mod_fastcgi, MAX_IMAGE_CACHE_SIZE=0, "
              "no memcached, IIIF_VERSION=2 and CODEC_PASSTHROUGH=1 (both ignored by 1.1); "
              "iipsrv 1.1 speaks Image API 2 only, so both servers get 2.1 URLs.",
              "- CPU ms/req is utime+stime of the server's whole process tree (gunicorn master and "
              "workers; lighttpd and iipsrv) during the run, divided by completed requests. RSS "
              "is the peak of the tree's summed resident sets (shared pages counted per process).",
              "- 'other load' is CPU the rest of the machine used during the run (neither server "
              "nor wrk nor this harness), in cores out of "
              f"{meta['cpus']}: above ~0.1 the numbers of that row are disturbed.",
              "- wrk itself runs on the same cores as the server it drives, for both servers alike."]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------

def git_description() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "server"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return commit + ("+uncommitted server/ changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def without_machine_paths(text: str, iipsrv: Path | None = None) -> str:
    """Reports are committed: paths of this machine become repository-relative or a tag."""
    pairs = [(str(REPO) + "/", ""), (sys.prefix + "/", "<venv>/"),
             (sys.base_prefix + "/", "<python>/")]
    if iipsrv is not None:
        pairs.insert(0, (str(iipsrv), "<iipsrv given with --iipsrv>"))
    for prefix, tag in pairs:
        text = text.replace(prefix, tag)
    return text


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s per workload, W3c 8 s (≈2 minutes)")
    parser.add_argument("--rounds", "--runs", dest="rounds", type=int,
                        help="rounds (default 3; quick 1): in each, every workload runs once on each "
                             "server, interleaved")
    parser.add_argument("--duration", type=float, help="seconds per run (default 10; quick 3)")
    parser.add_argument("--w3c-duration", type=float, help="seconds per W3c run (default the "
                        "larger of --duration and 20; quick 8): one full/full takes seconds")
    parser.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds after which a "
                        f"request without an answer counts as a timeout (default {TIMEOUT_S})")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W2 (default all)")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument("--iipsrv", metavar="PATH", default=os.environ.get("BENCH_IIPSRV") or None,
                        help="the iipsrv FastCGI binary to compare with, e.g. one built from the "
                             "IIPImage 1.3 source release (default: env BENCH_IIPSRV, else Debian's "
                             "iipimage-server, iipsrv 1.1)")
    parser.add_argument("--beeldpost-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for Beeldpost, e.g. BEELDPOST_THREADS=1 or "
                             "GUNICORN_CMD_ARGS=--worker-class=sync (repeatable; recorded)")
    parser.add_argument("--output", default=None, help="result file stem in bench/results "
                        "(default latest; a full run also writes full-run)")
    parser.add_argument("--rerender", metavar="JSON", help="only rewrite the Markdown of a "
                        "results JSON (e.g. after changing the report format)")
    args = parser.parse_args(argv)
    if args.rerender:
        source = Path(args.rerender)
        results = json.loads(source.read_text())
        for key, entry in results["workloads"].items():  # recompute from the raw runs
            for name, runs_of in entry.get("raw", {}).items():
                for one in runs_of:
                    ok = one.get("ok", one["requests"] - one["error_detail"]["status"])
                    if one["seconds"]:
                        one["rps"] = round(ok / one["seconds"], 2)
                    if "rps_all" not in one and one.get("cpu_ms_per_request") is not None:
                        total = one["cpu_ms_per_request"] * one["requests"]  # older files
                        one["cpu_ms_per_request"] = round(total / ok, 3) if ok else None
                        one["rps_all"] = round(one["requests"] / one["seconds"], 2)
                if runs_of:
                    entry[name] = summarise(runs_of)
            if key in RESTARTED and "raw" in entry:
                entry["iipimage"] = results["workloads"].get(RESTARTED[key][0], {}).get("iipimage", {})
            b, i = entry.get("beeldpost", {}).get("rps"), entry.get("iipimage", {}).get("rps")
            if "raw" in entry:
                entry["ratio"] = round(b / i, 3) if b and i else None
        results["targets"] = targets(results)
        source.with_suffix(".md").write_text(markdown(results))
        print(markdown(results))
        return 0

    rounds = args.rounds or (1 if args.quick else 3)
    duration = args.duration or (3.0 if args.quick else 10.0)
    # A full/full takes seconds: W3c runs are longer than the others.
    w3c_duration = args.w3c_duration or max(duration, 8.0 if args.quick else 20.0)
    # At c=32 a run must outlast the timeout, or a request left without an answer for
    # longer than that could not show up as a timeout at all (urls.lua); quick mode
    # keeps it short and says so in the report.
    w3c32_duration = w3c_duration if args.quick else max(w3c_duration, args.timeout + 10.0)
    single_duration = 2.0 if args.quick else 5.0
    selected = ORDER if not args.only else tuple(k for k in ORDER if k in args.only.split(","))
    mode = "quick" if args.quick else "full"
    iipsrv = Path(args.iipsrv).resolve() if args.iipsrv else None

    ensure_tools(not args.no_install, iipsrv)
    WORK.mkdir(parents=True, exist_ok=True)
    logs = WORK / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    derivative, width, height = prepare_image()
    plan = workloads.build(width, height)

    import pyvips

    apt_packages = [name for name in APT_PACKAGES if name != "iipimage-server" or iipsrv is None]
    meta = {
        "mode": mode, "rounds": rounds, "interleaved": True, "duration_s": duration,
        "w3c_duration_s": w3c_duration, "w3c32_duration_s": w3c32_duration,
        "timeout_s": args.timeout,
        "single_request_duration_s": single_duration, "connections": args.connections,
        "threads": args.threads, "cpus": os.cpu_count(), "cpu_model": cpu_model(),
        "kernel": platform.release(), "python": platform.python_version(), "git": git_description(),
        "versions": {name: package_version(name) for name in apt_packages}
        | {"libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"},
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "image": {"width": width, "height": height},
        "derivative": derivative.name,
    }
    if iipsrv is None:
        meta["iipimage"] = {"source": f"Debian iipimage-server {meta['versions']['iipimage-server']}",
                            "binary": str(servers.IIPSRV)}
    else:  # a path of this machine stays out of the (committed) report
        meta["iipimage"] = {"source": "own build given with --iipsrv",
                            "binary_sha256": sha256_of(iipsrv)}
    results: dict = {"meta": meta, "workloads": {}, "single_request": {}, "checks": {}, "servers": {}}
    measured: dict[str, dict[str, list]] = {}
    single: dict[str, dict[str, dict]] = {}
    failures: dict[str, str] = {}

    extra_env = dict(item.split("=", 1) for item in args.beeldpost_env)
    meta["beeldpost_extra_env"] = extra_env
    pair = [servers.beeldpost(REPO, WORK, response_cache=False, logs=logs, extra_env=extra_env),
            servers.iipimage(WORK, WORK / "iip" / "images", logs, JPEG_QUALITY,
                             binary=iipsrv or servers.IIPSRV,
                             label="iipsrv given with --iipsrv" if iipsrv else None)]

    def report(key: str, server: servers.Server, label: str, result: dict) -> None:
        say(f"  {key:6} {label:9} {server.name:9} {result['rps']:8.1f} req/s  "
            f"p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
            f"cpu {result['cpu_ms_per_request']} ms/req  rss {result['peak_rss_mb']:.0f} MB  "
            f"errors {result['errors']}  other load {result['other_load_cores']}"
            + (f"  [{status_text(result)}]" if result.get("statuses") else "")
            + (f"  PROCESSES EXITED {result['processes_exited']}" if result["processes_exited"] else ""))

    def seconds_for(key: str) -> float:
        return {"W3c": w3c_duration, "W3c2": w3c_duration, "W3c32": w3c32_duration}.get(key, duration)

    def restart_dead() -> None:
        for server in pair:  # a server that died is started again for what follows
            if server.process is None or server.process.poll() is not None:
                server.start("info.json")

    # Full runs check every URL (the bytes targets compare means over the URLs checked,
    # which should not hang on a sample); quick runs the first 24 of each workload.
    samples = 24 if args.quick else None

    def prepare(key: str) -> dict[str, Path]:
        """Check the answers of both servers, write the path lists, warm up."""
        workload = plan[key]
        if key in CHECKED_AS:
            results["checks"].setdefault(CHECKED_AS[key],
                                         verify(plan[CHECKED_AS[key]], pair, samples))
        else:
            results["checks"][key] = verify(workload, pair, samples)
        for server in pair:
            warm_up(server, workload, count=8)
        return {server.name: write_paths(server, workload) for server in pair}

    def measure_round(keys: list[str], paths: dict[str, dict[str, Path]], number: int) -> None:
        """One round: every workload once on each server; who goes first alternates from
        workload to workload and from round to round."""
        for index, key in enumerate(keys):
            workload = plan[key]
            order = pair if (number + index) % 2 == 0 else pair[::-1]
            for server in order:
                try:
                    result = run_wrk(server, paths[key][server.name], seconds_for(key),
                                     workload.connections or args.connections, args.threads,
                                     timeout=args.timeout, statuses=workload.count_statuses)
                except Exception as error:  # noqa: BLE001 - report it, go on with the others
                    failed(key, error)
                    restart_dead()
                    continue
                measured[key][server.name.lower()].append(result)
                report(key, server, f"round {number + 1}/{rounds}", result)

    def measure_single(key: str, paths: dict[str, Path]) -> None:
        workload = plan[key]
        single[key] = {}
        for server in pair:
            result = run_wrk(server, paths[server.name],
                             max(single_duration, 8.0) if key == "W3c" else single_duration,
                             1, 1, timeout=args.timeout, statuses=workload.count_statuses)
            single[key][server.name.lower()] = result
            report(key, server, "c=1", result)

    def restart_beeldpost(response_cache: bool, env: dict[str, str]) -> servers.Server:
        pair[0].stop()
        pair[0] = servers.beeldpost(REPO, WORK, response_cache=response_cache, logs=logs,
                                    extra_env={**extra_env, **env})
        pair[0].start("info.json")
        return pair[0]

    def measure_restarted(key: str) -> None:
        """Beeldpost alone, restarted with other settings (RESTARTED)."""
        workload = plan[key]
        compared_with, response_cache, env = RESTARTED[key]
        bp = restart_beeldpost(response_cache, env)
        if response_cache:
            say(f"  {key} warming Beeldpost's response cache (one pass over the URLs)")
            warm_up(bp, workload)
            seen = warm_up(bp, workload, count=32)
            # Warm: every answer without a render, from the response cache ("hit") or a
            # stored tile's own bytes ("stored-tile", which the cache does not copy).
            hits = sum(n for value, n in seen.items() if value.lower() in ("hit", "stored-tile"))
            if not any(value.lower() == "hit" for value in seen):
                reason = ("server has no response cache yet (no X-Beeldpost-Cache: hit on "
                          "repeated requests with BEELDPOST_RESPONSE_CACHE=on)")
                say(f"  {key} n/a: {reason}")
                results["workloads"][key] = {"title": workload.title, "skipped": reason}
                return
            results["checks"][key] = {"servers": {"Beeldpost": {
                "checked": sum(seen.values()), "ok": hits,
                "problems": [] if hits == sum(seen.values()) else [f"cache headers {seen}"]}}}
        else:
            warm_up(bp, workload, count=8)
        paths = write_paths(bp, workload)
        measured[key] = {"beeldpost": [], "iipimage": []}
        for number in range(rounds):
            result = run_wrk(bp, paths, seconds_for(key), workload.connections or args.connections,
                             args.threads, timeout=args.timeout, statuses=workload.count_statuses)
            measured[key]["beeldpost"].append(result)
            report(key, bp, f"run {number + 1}/{rounds}", result)

    def failed(key: str, error: Exception) -> None:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        say(f"  {key} FAILED: {text}")
        failures.setdefault(key, text)

    started = time.monotonic()
    try:
        for server in pair:
            server.start("info.json")
            results["servers"][server.name] = server.description
        meta["iipimage"]["version"] = servers.iipsrv_version(pair[1])
        # As iipsrv itself says at start (1.1 has no such setting: None).
        meta["iipimage"]["codec_passthrough"] = servers.iipsrv_setting(pair[1], "codec passthrough")
        say(f"bench: Beeldpost on :{pair[0].port} (pid {pair[0].pid}), IIPImage on :{pair[1].port} "
            f"(pid {pair[1].pid}; {iipimage_text(meta)}); {mode} mode, {rounds} round(s) × "
            f"{duration:g} s, c={args.connections}, processor {meta['cpu_model']}")
        keys, paths = [], {}
        for key in selected:
            if key in RESTARTED:
                continue
            try:
                paths[key] = prepare(key)
            except Exception as error:  # noqa: BLE001
                failed(key, error)
                restart_dead()
                continue
            keys.append(key)
            measured[key] = {"beeldpost": [], "iipimage": []}
        for number in range(rounds):
            measure_round(keys, paths, number)
        for key in keys:
            if key in CHECKED_AS or not (key == "W1" or not args.quick):
                continue  # c=1 of W3c32 would be W3c's
            try:
                measure_single(key, paths[key])
            except Exception as error:  # noqa: BLE001
                failed(key, error)
                restart_dead()
        for key in selected:
            if key not in RESTARTED:
                continue
            try:
                measure_restarted(key)
            except Exception as error:  # noqa: BLE001
                failed(key, error)
    finally:
        for server in pair:
            server.stop()
    results["failures"] = failures
    results["log_problems"] = log_problems(logs)
    for key, by_server in measured.items():
        workload = plan[key]
        entry = {"title": workload.title, "notes": workload.notes,
                 "urls": len(workload.requests),
                 "connections": workload.connections or args.connections,
                 "beeldpost": summarise(by_server["beeldpost"]),
                 "iipimage": summarise(by_server["iipimage"]),
                 "raw": by_server}
        if key in RESTARTED:  # compared with IIPImage's run of the plain workload
            entry["iipimage"] = results["workloads"].get(RESTARTED[key][0], {}).get("iipimage", {})
        b, i = entry["beeldpost"].get("rps"), entry["iipimage"].get("rps")
        entry["ratio"] = round(b / i, 3) if b and i else None
        results["workloads"][key] = entry
    for key, by_server in single.items():
        results["single_request"][key] = by_server
    meta["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results)

    text = markdown(results)
    print()
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stems = [args.output] if args.output else (["latest"] if args.quick or args.only or args.rounds
                                               or args.duration or args.w3c_duration
                                               else ["latest", "full-run"])
    for stem in stems:
        document = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        (RESULTS / f"{stem}.json").write_text(without_machine_paths(document, iipsrv))
        (RESULTS / f"{stem}.md").write_text(without_machine_paths(text, iipsrv))
    say(f"bench: wrote {', '.join(f'bench/results/{s}.md' for s in stems)} (and .json) "
        f"in {meta['elapsed_s']:.0f} s")
    return 0

if __name__ == "__main__":
    sys.exit(main())
