"""`beeldpost ingest` builds every derivative on several processes, can be stopped and
run again, and says what failed and why, grouped by reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pyvips

from beeldpost.image.ingest import IngestReport, ingest
from beeldpost.settings import Settings

from support.pictures import textured

IMAGES = 120


def make_images(folder, count: int) -> None:
    folder.mkdir(exist_ok=True)
    picture = textured(640, 480)
    for number in range(count):
        (picture + number).cast("uchar").jpegsave(str(folder / f"foto-{number:03d}.jpg"), Q=80)
    (folder / "kapot-1.jpg").write_bytes((folder / "foto-000.jpg").read_bytes()[:3000])
    (folder / "kapot-2.jpg").write_bytes((folder / "foto-001.jpg").read_bytes()[:5000])
    (folder / "geen-foto.jpg").write_text("dit is geen JPEG\n")


def derivatives(cache) -> list:
    return sorted((cache / "pyramids").rglob("*.tif"))


def test_on_two_processes_every_image_once_and_the_broken_ones_named(tmp_path):
    images, cache = tmp_path / "images", tmp_path / "cache"
    make_images(images, IMAGES)
    settings = Settings.of(images_dir=images, cache_dir=cache)
    seen = []
    report = ingest(settings, sorted(p.stem for p in images.iterdir()), jobs=2,
                    progress=lambda done, total: seen.append((done, total)))
    assert (report.built, report.present, report.total) == (IMAGES, 0, IMAGES + 3)
    assert set(report.failed) == {"kapot-1", "kapot-2", "geen-foto"}
    assert all("cannot be read" in why for why in report.failed.values())
    assert sum(count for _reason, count, _some in report.reasons()) == 3
    assert len(derivatives(cache)) == IMAGES
    assert seen[-1] == (IMAGES + 3, IMAGES + 3) and len(seen) == IMAGES + 3
    assert not list(cache.rglob("*.tmp"))
    for path in derivatives(cache)[:3]:
        assert pyvips.Image.new_from_file(str(path)).width == 640


def test_run_again_it_builds_only_what_is_missing(tmp_path):
    images, cache = tmp_path / "images", tmp_path / "cache"
    make_images(images, 40)
    settings = Settings.of(images_dir=images, cache_dir=cache)
    everything = sorted(p.stem for p in images.iterdir() if p.stem.startswith("foto"))
    first = ingest(settings, everything[:15], jobs=2)  # as if stopped after 15
    assert first.built == 15
    second = ingest(settings, everything, jobs=2)
    assert (second.built, second.present, second.failed) == (25, 15, {})
    assert len(derivatives(cache)) == 40


def test_reasons_leave_file_names_out():
    report = IngestReport(total=3, failed={
        "a": "Source image 'a.jpg' cannot be read: VipsJpeg: premature end of JPEG file",
        "b": "Source image 'b.jpg' cannot be read: VipsJpeg: premature end of JPEG file",
        "c": "Source image 'c.png' is 90000×90000 = 8,100,000,000 pixels, above the limit"})
    reasons = report.reasons()
    assert reasons[0][1] == 2 and reasons[0][2] == ["a", "b"] and "'…'" in reasons[0][0]


def test_the_command_reports_and_exits_1_on_failures(tmp_path):
    images, cache = tmp_path / "images", tmp_path / "cache"
    make_images(images, 6)
    env = {**os.environ, "BEELDPOST_IMAGES": str(images), "BEELDPOST_CACHE": str(cache),
           "BEELDPOST_MANIFESTS": str(tmp_path / "manifests")}
    done = subprocess.run([sys.executable, "-m", "beeldpost", "ingest", "--jobs", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "6 of 9 images ready" in done.stderr and "3 failed" in done.stderr
    assert "geen-foto:" in done.stderr and "cannot be read" in done.stderr
    again = subprocess.run([sys.executable, "-m", "beeldpost", "ingest", "foto-000", "foto-001"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and "(0 built now, 2 before)" in again.stderr


def test_with_edges_pyramids_built_before_get_their_cut_edge_tiles(tmp_path):
    """`beeldpost ingest --edges`: a pyramid from before edge tiles were kept gets them
    (a copy, renamed into place, its sidecar's size with it); the others are left alone."""
    from beeldpost.image.derivatives import DerivativeStore
    from beeldpost.image.stored_edges import read_edges

    def edges_of(path):
        data = path.read_bytes()
        return read_edges(lambda offset, length: data[offset:offset + length], len(data))

    images, cache = tmp_path / "images", tmp_path / "cache"
    make_images(images, 6)
    settings = Settings.of(images_dir=images, cache_dir=cache)
    names = [f"foto-{number:03d}" for number in range(6)]
    old = Settings.of(images_dir=images, cache_dir=tmp_path / "old")
    before = ingest(old, names[:4], jobs=1)
    assert before.built == 4
    for path in derivatives(tmp_path / "old"):  # as built before: no edges, sidecar to match
        data = path.read_bytes()
        end = min(offset for offset, _ in edges_of(path).places.values())
        path.write_bytes(data[:end])
        sidecar = path.with_suffix(".json")
        sidecar.write_text(sidecar.read_text().replace(f'"bytes": {len(data)}', f'"bytes": {end}'))
        assert edges_of(path) is None and DerivativeStore(tmp_path / "old").is_intact(path)
    (tmp_path / "old").rename(cache)
    plain = ingest(settings, names, jobs=2)
    assert (plain.built, plain.present, plain.edged) == (2, 4, 0)
    report = ingest(settings, names, jobs=2, edges=True)
    assert (report.built, report.present, report.edged, report.failed) == (0, 6, 4, {})
    store = DerivativeStore(cache)
    for path in derivatives(cache):
        edges = edges_of(path)
        assert edges is not None and edges.quality == settings.jpeg_quality
        assert store.is_intact(path)
        assert pyvips.Image.new_from_file(str(path), page=1).width == 320
    assert not list(cache.rglob("*.tmp"))
    again = ingest(settings, names, jobs=2, edges=True)
    assert again.edged == 0  # once is enough


def test_edges_leaves_pyramids_in_a_bucket_alone_and_says_so(tmp_path, monkeypatch, capsys):
    from beeldpost.cli import main

    monkeypatch.setenv("BEELDPOST_IMAGES", str(tmp_path))
    monkeypatch.setenv("BEELDPOST_CACHE", "s3://beeldpost-cache/pyramids/")
    assert main(["ingest", "--edges"]) == 2
    assert "not changed in place" in capsys.readouterr().err
