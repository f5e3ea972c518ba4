"""Heavy renders are bounded per worker; tiles and info.json are not."""

from __future__ import annotations

import threading
import time

import pytest

from beeldpost import create_app
from beeldpost.image.admission import Admission
from beeldpost.errors import Overloaded

from support.validator import VALIDATOR_IDENTIFIER

V3 = f"/iiif/3/{VALIDATOR_IDENTIFIER}"


def test_slots_then_queue_then_refusal(tmp_path):
    admission = Admission(slots=1, queue=1, wait_seconds=5, retry_after=7, lock_dir=tmp_path)
    release_first = threading.Event()
    entered = []

    def hold():
        with admission.heavy():
            entered.append("first")
            release_first.wait(5)

    def wait_then_run():
        with admission.heavy():
            entered.append("second")

    first = threading.Thread(target=hold)
    first.start()
    while admission.running == 0:
        time.sleep(0.01)
    second = threading.Thread(target=wait_then_run)
    second.start()
    time.sleep(0.1)  # the second is now queued
    with pytest.raises(Overloaded) as refused:
        with admission.heavy():
            pass
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "7"
    release_first.set()
    first.join(5)
    second.join(5)
    assert entered == ["first", "second"]
    with admission.heavy():  # capacity is back
        pass


def test_a_queued_render_gives_up_after_its_wait(tmp_path):
    admission = Admission(slots=1, queue=5, wait_seconds=0.05, retry_after=1, lock_dir=tmp_path)
    with admission.heavy():
        with pytest.raises(Overloaded):
            with admission.heavy():
                pass


def test_slots_are_shared_between_worker_processes(tmp_path):
    """Two workers (here: two Admission objects, as two processes would have) share the pool."""
    first = Admission(slots=1, queue=0, wait_seconds=0.05, retry_after=1, lock_dir=tmp_path)
    second = Admission(slots=1, queue=0, wait_seconds=0.05, retry_after=1, lock_dir=tmp_path)
    with first.heavy():
        with pytest.raises(Overloaded):
            with second.heavy():
                pass
    with second.heavy():
        pass


def test_a_killed_holder_frees_its_slot(tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; "
        f"d = os.open({str(tmp_path / 'heavy-slot-0.lock')!r}, os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(d, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    admission = Admission(slots=1, queue=0, wait_seconds=0.05, retry_after=1, lock_dir=tmp_path)
    with pytest.raises(Overloaded):
        with admission.heavy():
            pass
    holder.kill()
    holder.wait()
    with admission.heavy():
        pass


def test_heavy_requests_get_503_while_tiles_flow(tmp_path, images_dir):
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                      "heavy_pixels": 200_000, "heavy_slots": 1, "heavy_queue": 0})
    client = app.test_client()
    admission = app.extensions["beeldpost.images"].admission
    with admission.heavy():  # another request holds the only heavy slot
        heavy = client.get(f"{V3}/full/max/0/default.jpg")
        assert heavy.status_code == 503
        assert heavy.headers["Retry-After"] == "5"
        assert heavy.headers["Access-Control-Allow-Origin"] == "*"
        assert "Try again" in heavy.get_data(as_text=True)
        assert client.get(f"{V3}/0,0,256,256/256,/0/default.jpg").status_code == 200
        assert client.get(f"{V3}/info.json").status_code == 200
    assert client.get(f"{V3}/full/max/0/default.jpg").status_code == 200


def test_a_render_past_its_time_is_cut_off(tmp_path, images_dir):
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                      "heavy_pixels": 1000, "render_timeout": 0.000001})
    client = app.test_client()
    client.get(f"{V3}/info.json")  # build the derivative outside the timed render
    response = client.get(f"{V3}/full/max/33/default.png")
    assert response.status_code == 503
    assert "longer than" in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    # the worker is unharmed: a render below the heavy bound runs with no time limit
    assert client.get(f"{V3}/0,0,20,20/20,/0/default.jpg").status_code == 200


def test_a_stopped_render_leaves_the_shared_level_unharmed(tmp_path, images_dir):
    """Regression: the deadline of a render that only re-encodes the opened level once
    stuck to that shared level and killed every later render from it."""
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                      "heavy_pixels": 1000, "render_timeout": 0.000001})
    client = app.test_client()
    client.get(f"{V3}/info.json")
    assert client.get(f"{V3}/full/max/0/default.jpg").status_code == 503  # cut off
    images = app.extensions["beeldpost.images"]
    images.settings = images.settings.with_overrides(render_timeout=30.0)
    for _ in range(3):
        assert client.get(f"{V3}/full/max/0/default.jpg").status_code == 200
        assert client.get(f"{V3}/0,0,20,20/20,/0/default.png").status_code == 200
