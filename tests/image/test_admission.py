"""Heavy renders are bounded per worker; tiles and info.json are not."""

from __future__ import annotations

import os
import re
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


# ---------------------------------------------------------------- admission by memory

MIB = 1 << 20
HOLDER = """
import sys, time
from pathlib import Path
from beeldpost.image.admission import Admission
admission = Admission(slots=8, queue=0, wait_seconds=0.05, retry_after=1,
                      lock_dir=Path(sys.argv[1]), memory_bytes={budget})
with admission.heavy({held}):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(lock_dir, budget: int, held: int):
    """A worker process holding `held` bytes of the budget until it is killed."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(budget=budget, held=held),
                               str(lock_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_memory_budget_is_shared_by_processes_and_a_killed_holder_gives_its_share_back(
        tmp_path):
    budget = 100 * MIB
    admission = Admission(slots=8, queue=0, wait_seconds=0.05, retry_after=3,
                          lock_dir=tmp_path, memory_bytes=budget)
    holder = hold_in_another_process(tmp_path, budget, 70 * MIB)
    try:
        assert admission.ledger.in_use() == 70
        with pytest.raises(Overloaded) as refused:  # 70 + 40 > 100, and no queue
            with admission.heavy(40 * MIB):
                pass
        assert refused.value.headers["Retry-After"] == "3"
        with admission.heavy(30 * MIB):  # 70 + 30 fit
            assert admission.ledger.in_use() == 100
    finally:
        holder.kill()  # mid-render, as a worker killed by the OOM killer or a time-out
        holder.wait()
    assert admission.ledger.in_use() == 0
    with admission.heavy(100 * MIB):
        pass


def test_threads_of_one_worker_exclude_each_other_and_wait_in_line(tmp_path):
    """Each claim has a descriptor of its own: threads of one process share the budget
    as processes do. Waiting ones run in the order they came, as soon as memory is given
    back: a small render does not overtake a large one waiting before it."""
    admission = Admission(slots=8, queue=2, wait_seconds=5, retry_after=1, lock_dir=tmp_path,
                          memory_bytes=100 * MIB)
    release = threading.Event()
    order, in_use = [], []

    def run(name: str, memory: int, hold: bool = False):
        with admission.heavy(memory):
            order.append(name)
            in_use.append(admission.ledger.in_use())
            if hold:
                release.wait(5)

    first = threading.Thread(target=run, args=("first", 60 * MIB, True))
    first.start()
    wait_until(lambda: admission.running > 0)
    later = [threading.Thread(target=run, args=("second", 60 * MIB)),
             threading.Thread(target=run, args=("third", 40 * MIB))]
    for count, thread in enumerate(later, start=1):
        thread.start()
        wait_until(lambda: waiting_everywhere(admission) >= count)
    assert order == ["first"] and admission.ledger.in_use() == 60  # the third fits, but waits
    release.set()
    for thread in (first, *later):
        thread.join(5)
    assert order[0] == "first" and sorted(order[1:]) == ["second", "third"]  # side by side
    assert max(in_use) <= 100 and admission.ledger.in_use() == 0


def test_a_full_line_is_refused_at_once_with_retry_after(tmp_path):
    admission = Admission(slots=8, queue=1, wait_seconds=5, retry_after=9, lock_dir=tmp_path,
                          memory_bytes=64 * MIB)
    release = threading.Event()
    threads = [threading.Thread(target=lambda: _hold(admission, 64 * MIB, release))
               for _ in range(2)]
    threads[0].start()
    wait_until(lambda: admission.running > 0)
    threads[1].start()  # waits for the memory
    wait_until(lambda: admission.waiting > 0)
    with pytest.raises(Overloaded) as refused:
        with admission.heavy(MIB):
            pass
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "9"
    assert "waiting" in refused.value.message
    release.set()
    for thread in threads:
        thread.join(5)
    assert admission.running == 0 and admission.ledger.in_use() == 0


def _hold(admission: Admission, memory: int, release: threading.Event) -> None:
    with admission.heavy(memory):
        release.wait(5)


def test_a_wait_longer_than_allowed_is_refused_without_waiting(tmp_path):
    """The line's expected wait comes from recent render times, all workers' together. A
    short line is allowed even when renders take longer than wait_seconds (ROUNDS more
    renders' time); a newcomer that could be answered neither so nor within wait_seconds
    is told so at once."""
    rounds = Admission.ROUNDS
    admission = Admission(slots=1, queue=8, wait_seconds=0.5, retry_after=2, lock_dir=tmp_path,
                          memory_bytes=64 * MIB)
    with admission.heavy(MIB):
        time.sleep(0.3)  # renders here take 0.3 s
    release = threading.Event()
    holders = [threading.Thread(target=_hold, args=(admission, MIB, release))
               for _ in range(rounds + 1)]
    holders[0].start()
    wait_until(lambda: admission.running > 0)
    try:
        # One running (half done) and up to ROUNDS - 1 waiting ahead: within ROUNDS + 1
        # renders' time, its own included.
        for count, holder in enumerate(holders[1:], start=1):
            holder.start()
            wait_until(lambda: waiting_everywhere(admission) >= count)
        assert admission.expected_wait(rounds, 1, running=1) == pytest.approx(
            (rounds + 0.5) * 0.3, rel=0.2)
        # Another worker, which has rendered nothing itself: the line and the render
        # times are the server's.
        other = Admission(slots=1, queue=8, wait_seconds=0.5, retry_after=2,
                          lock_dir=tmp_path, memory_bytes=64 * MIB)
        with pytest.raises(Overloaded) as refused:  # behind ROUNDS: half a render too long
            with other.heavy(MIB):
                pass
        assert re.search(r"would wait about \d\.\d s", refused.value.message)
        assert admission.waiting == rounds and other.waiting == 0
    finally:
        release.set()
        for holder in holders:
            holder.join(5)


def wait_until(condition, within: float = 10.0) -> None:
    """Until `condition()` holds (a thread has got where the test needs it); a failure,
    never a hang, if it does not."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the other threads never got there"
        time.sleep(0.01)


def waiting_everywhere(admission: Admission) -> int:
    """Requests in line in every process (places held in the ledger)."""
    descriptor = admission.ledger.open()
    try:
        return admission.ledger.waiting(descriptor)
    finally:
        os.close(descriptor)


def test_a_render_larger_than_the_whole_budget_runs_alone(tmp_path):
    admission = Admission(slots=8, queue=0, wait_seconds=0.05, retry_after=1, lock_dir=tmp_path,
                          memory_bytes=32 * MIB)
    assert admission.units(500 * MIB) == 32
    with admission.heavy(500 * MIB):
        assert admission.ledger.in_use() == 32
        with pytest.raises(Overloaded):
            with admission.heavy(MIB):
                pass
    with admission.heavy(500 * MIB):
        pass


def test_budgets_and_slots_default_to_the_machine(tmp_path, monkeypatch):
    from beeldpost.image import admission as module

    assert 1 <= module.usable_cores() <= (os.cpu_count() or 1)
    limit = module.memory_limit()
    assert limit is not None and limit > 64 * MIB
    assert module.default_render_memory() == max(module.MIN_DEFAULT_MEMORY, limit // 4)
    monkeypatch.setattr(module, "memory_limit", lambda: 1 << 30)  # a 1 GB machine
    assert module.default_render_memory() == 256 * MIB
    app = create_app({"images_dir": tmp_path, "cache_dir": tmp_path / "cache",
                      "render_memory": 512 * MIB})
    admission = app.extensions["beeldpost.images"].admission
    assert admission.memory_bytes == 512 * MIB
    assert admission.slots == module.usable_cores()


def test_the_old_count_settings_still_bound_heavy_renders(tmp_path, images_dir):
    """A deployment that set BEELDPOST_HEAVY_SLOTS=1 and BEELDPOST_HEAVY_QUEUE=0 keeps
    one heavy render at a time, whatever the memory budget allows."""
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                      "heavy_pixels": 200_000, "heavy_slots": 1, "heavy_queue": 0,
                      "render_memory": 8 << 30})
    admission = app.extensions["beeldpost.images"].admission
    assert admission.slots == 1
    with admission.heavy(MIB):
        assert app.test_client().get(f"{V3}/full/max/0/default.jpg").status_code == 503


def test_the_budget_covers_what_renders_really_take(large_photo_dir, tmp_path):
    """Each render of a 24 MP photo's pyramid, measured in a fresh process, holds no more
    than admission control budgets for it (processor.render_memory)."""
    from support.render_memory import render_peaks

    tails = ["full/max/0/default.jpg", "full/max/0/default.png", "full/max/90/default.jpg",
             "full/max/33/default.jpg", "full/3000,/0/default.jpg",
             "0,0,4000,4000/max/0/gray.jpg", "full/max/0/default.webp"]
    measured = render_peaks(large_photo_dir, tmp_path / "cache", "groot", tails)
    for tail in tails:
        render = measured[tail]
        assert render["heavy"], tail
        assert 0 < render["peak"] <= render["budget"], (tail, render)
    # What the budget is made of: a few strips of pixels for most formats, the whole
    # picture several times over for WebP.
    assert measured["full/max/0/default.jpg"]["budget"] < 32 * MIB
    assert measured["full/max/0/default.webp"]["budget"] > 6000 * 4000 * 8
