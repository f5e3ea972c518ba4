"""The production worker ends with its master (gunicorn_worker.py): a master killed
outright leaves no orphan serving on, and a new server can take the port."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request

import pytest

from support.live import LiveServer


def workers_of(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.live
def test_workers_end_when_their_master_is_killed(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    server = LiveServer(tmp_path, images, settings={"WEB_CONCURRENCY": "2"})
    workers: list[int] = []
    try:
        master = server.process.pid
        deadline = time.monotonic() + 30
        while len(workers := workers_of(master)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2, workers
        with urllib.request.urlopen(f"{server.url}/health", timeout=10) as response:
            assert response.status == 200

        os.kill(master, signal.SIGKILL)  # the master alone, as the OOM killer would
        server.process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if alive(pid)], "orphaned workers still run"

        # The port is free for the master a supervisor starts next.
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", server.port))
            listener.listen()
    finally:  # never an orphan left behind by a failure
        for pid in [*workers, server.process.pid]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.log.close()


def test_the_worker_serves_through_its_own_protocol(app, monkeypatch):
    """The protocol with the fast lane (protocol.py) is set in the worker, where the app
    is loaded; the class gunicorn's master imports names only uvicorn's."""
    from types import SimpleNamespace

    from uvicorn.config import Config
    from uvicorn_worker import UvicornWorker

    from beeldpost.http.asgi import AsgiFront
    from beeldpost.http.gunicorn_worker import BeeldpostWorker
    from beeldpost.http.protocol import WorkerProtocol

    worker = BeeldpostWorker.__new__(BeeldpostWorker)
    worker.config = Config(app=None, **BeeldpostWorker.CONFIG_KWARGS)
    worker.cfg = SimpleNamespace(threads=2)
    monkeypatch.setattr(UvicornWorker, "load_wsgi", lambda self: setattr(self, "wsgi", app))
    worker.load_wsgi()
    worker.config.app = worker.wsgi
    worker.config.load()
    assert worker.config.http_protocol_class is WorkerProtocol
    assert isinstance(worker.wsgi, AsgiFront)


@pytest.mark.live
def test_the_master_holds_none_of_the_app(live_server):
    """gunicorn's master forks the workers and nothing else: neither libvips nor Pillow
    (nor Flask) is loaded in it, while each worker has them."""
    master = live_server.process.pid

    def libraries(pid: int) -> str:
        with open(f"/proc/{pid}/maps") as handle:
            return handle.read()

    assert "libvips" not in libraries(master) and "_imaging" not in libraries(master)
    for worker in workers_of(master):
        assert "libvips" in libraries(worker)
