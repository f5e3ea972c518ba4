"""Renders of more than a few tiles take one of the worker's render slots
(BEELDPOST_RENDERS_PER_WORKER); cheaper ones, and the event loop, never wait for one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from beeldpost.image import admission
from beeldpost.image.parameters import parse_image_request
from beeldpost.image.plan import FROM_TILES
from beeldpost.image.service import SLOTTED_RENDER_PIXELS, ImageService
from beeldpost.settings import Settings

from support.pictures import textured

MID = "full/1000,/0/default.jpg"  # 1000×650 from the 1000×650 level: 1.3 M pixels
CHEAP = "full/!200,200/0/default.jpg"  # from the 250×162 level: one stored tile


def service_with(root, slots: int) -> ImageService:
    images = root / "images"
    if not images.exists():
        images.mkdir()
        textured(2000, 1300).jpegsave(str(images / "photo.jpg"), Q=92)
    return ImageService(Settings.of(images_dir=images, cache_dir=root / "cache",
                                    renders_per_worker=slots))


def planned(service: ImageService, path: str):
    region, size, rotation, quality_format = path.split("/")
    image = service.resolve("photo")
    ops = service.operations(image, parse_image_request(region, size, rotation, quality_format, 3))
    return service.plan(image, ops, ops.canonical_path(3))


class Rendering(threading.Thread):
    """service.render(plan) on a thread of its own, as a worker's thread pool runs it."""

    def __init__(self, service: ImageService, plan) -> None:
        super().__init__(daemon=True)
        self.service, self.plan, self.answer = service, plan, None
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            self.answer = self.service.render(self.plan)
        finally:
            self.done.set()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("slots")


def test_a_render_of_many_tiles_waits_for_a_slot_and_a_cheap_one_never_does(root):
    service = service_with(root, slots=1)
    mid, cheap = planned(service, MID), planned(service, CHEAP)
    assert mid.cost > SLOTTED_RENDER_PIXELS >= cheap.cost
    assert not mid.heavy and not cheap.heavy
    service.render(mid)  # the pyramid built and opened: what follows is the render alone

    service.render_slots.acquire()  # the worker's one slot, taken by "another render"
    try:
        waiting = Rendering(service, mid)
        assert service.render(cheap).startswith(b"\xff\xd8")  # not held up
        assert not waiting.done.wait(0.5), "rendered without a free slot"
    finally:
        service.render_slots.release()
    assert waiting.done.wait(30)
    assert waiting.answer is not None and waiting.answer.startswith(b"\xff\xd8")


def test_as_many_run_at_once_as_there_are_slots(root):
    service = service_with(root, slots=2)
    mid = planned(service, MID)
    service.render(mid)
    service.render_slots.acquire()  # one of two taken: a render still finds the other
    try:
        first = Rendering(service, mid)
        assert first.done.wait(30) and first.answer.startswith(b"\xff\xd8")
        service.render_slots.acquire()  # both taken now
        try:
            second = Rendering(service, mid)
            assert not second.done.wait(0.5), "rendered without a free slot"
        finally:
            service.render_slots.release()
        assert second.done.wait(30) and second.answer.startswith(b"\xff\xd8")
    finally:
        service.render_slots.release()


def test_the_event_loop_never_waits_for_a_slot(root):
    """An answer tried at hand (on an event loop) renders only what is as cheap as a
    hand-off (an edge tile re-cut from its stored tile), and never waits for a slot."""
    service = service_with(root, slots=1)
    plan = planned(service, "1792,1024,208,276/208,/0/default.jpg")  # two tiles, re-cut
    assert plan.renderer == FROM_TILES
    service.render(plan)
    service.render_slots.acquire()
    try:
        body, _ = service.answer(planned(service, "1792,1024,208,276/208,/0/default.jpg"),
                                 at_hand=True)
        assert body.startswith(b"\xff\xd8")
    finally:
        service.render_slots.release()


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    assert admission.renders_for(None) == admission.usable_cores()
    assert admission.renders_for(3) == 3
    monkeypatch.setattr(admission, "usable_cores", lambda: 8)
    assert [admission.renders_per_worker(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


@pytest.mark.parametrize("environment, expected", [
    ({"WEB_CONCURRENCY": "1"}, lambda: admission.usable_cores()),
    ({"WEB_CONCURRENCY": "64"}, lambda: 1),
    ({"WEB_CONCURRENCY": "2", "BEELDPOST_RENDERS_PER_WORKER": "3"}, lambda: 3),  # as set
])
def test_beeldpost_serve_sets_each_workers_share(environment, expected, tmp_path):
    """gunicorn_conf.py, which `beeldpost serve` and `make run` use, gives the workers
    their share unless it is set."""
    clean = {key: value for key, value in os.environ.items()
             if key not in ("WEB_CONCURRENCY", "BEELDPOST_RENDERS_PER_WORKER")}
    shown = subprocess.run(
        [sys.executable, "-c", "import os, beeldpost.http.gunicorn_conf; "
                               "print(os.environ['BEELDPOST_RENDERS_PER_WORKER'])"],
        env={**clean, **environment, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=True)
    assert int(shown.stdout) == expected()


def test_a_freed_slot_goes_to_the_longest_waiting_never_to_a_newcomer():
    slots = admission.RenderSlots(1)
    order: list[str] = []

    def render(name: str) -> None:
        with slots:
            order.append(name)

    slots.acquire()  # taken
    first = threading.Thread(target=render, args=("first",))
    first.start()
    wait_for(lambda: len(slots._line) == 1)
    second = threading.Thread(target=render, args=("second",))
    second.start()
    wait_for(lambda: len(slots._line) == 2)
    slots.release()  # passes to "first", which passes it to "second"
    first.join(10)
    second.join(10)
    assert order == ["first", "second"]

    slots.acquire()
    waiting = threading.Thread(target=render, args=("waiting",))
    waiting.start()
    wait_for(lambda: len(slots._line) == 1)
    slots.release()  # handed to "waiting" ...
    newcomer = threading.Thread(target=render, args=("newcomer",))
    newcomer.start()  # ... so a newcomer arriving now queues behind it
    waiting.join(10)
    newcomer.join(10)
    assert order[2:] == ["waiting", "newcomer"]
    slots.acquire()  # and the slot is free again once both are done
    slots.release()


def wait_for(condition, within: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the threads never got in line"
        time.sleep(0.01)
