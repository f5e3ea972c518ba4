"""The request log's lines reach stderr in batches, each line whole, none lost on exit."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from beeldpost.http import request_log
from beeldpost.http.request_log import BatchedStreamHandler


class CountingStream(io.StringIO):
    writes = 0

    def write(self, text):
        self.writes += 1
        return super().write(text)


def test_lines_are_written_together_within_the_flush_interval():
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    for number in range(200):
        handler.append(json.dumps({"n": number, "path": "/iiif/3/x/0,0,256,256/256,/0/default.jpg"}))
    assert stream.writes == 0
    deadline = time.monotonic() + 5
    while stream.writes == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.writes == 1
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(200))


def test_a_full_batch_is_written_at_once():
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    line = "x" * 1000
    for _ in range(BatchedStreamHandler.FLUSH_BYTES // 1001 + 1):
        handler.append(line)
    assert stream.writes == 1


def test_records_of_other_loggers_go_through_too():
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("beeldpost.test-batched")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("one")
        logger.warning("two")
        handler.flush()
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "one\ntwo\n"


def test_lines_pending_at_exit_are_written():
    program = (
        "import sys, logging\n"
        "from beeldpost.http.request_log import BatchedStreamHandler\n"
        "handler = BatchedStreamHandler(sys.stderr)\n"
        "logging.getLogger('x').addHandler(handler)\n"
        "for n in range(50): handler.append(f'line {n}')\n"
        "sys.exit(0)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert done.stderr.splitlines() == [f"line {n}" for n in range(50)]


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(["GET", "HEAD", "POST"]),
       path=st.text(max_size=80), status=st.integers(100, 599),
       ms=st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False).map(lambda v: round(v, 2))),
       size=st.one_of(st.none(), st.integers(0, 1 << 40)),
       remote=st.one_of(st.none(), st.text(max_size=40)),
       agent=st.one_of(st.none(), st.text(max_size=300)))
def test_a_line_is_what_json_makes_of_its_fields(method, path, status, ms, size, remote, agent):
    lines = []
    handler = BatchedStreamHandler(io.StringIO())
    handler.append = lines.append
    logger = request_log.access_log
    saved = logger.handlers[:], logger.level, logger.filters[:]
    logger.handlers[:], logger.filters[:] = [handler], []
    logger.setLevel(logging.INFO)
    try:
        request_log.write(method, path, status, ms, size, "iiif3.image", remote, agent)
    finally:
        logger.handlers[:], logger.filters[:] = saved[0], saved[2]
        logger.setLevel(saved[1])
    (line,) = lines
    expected = {"time": json.loads(line)["time"], "method": method, "path": path,
                "status": status, "ms": ms, "bytes": size, "route": "iiif3.image",
                "remote": remote, "agent": (agent or "")[:200] or None}
    assert line == json.dumps(expected, ensure_ascii=False)


def test_a_forked_worker_writes_its_lines_itself():
    """gunicorn forks its workers from a master that may have logged: each worker's
    lines go out from its own flushing thread."""
    script = (
        "import io, os, sys, time\n"
        "from beeldpost.http.request_log import BatchedStreamHandler\n"
        "handler = BatchedStreamHandler(sys.stdout)\n"
        "handler.append('parent')\n"
        "handler.flush()\n"
        "if os.fork() == 0:\n"
        "    handler.append('child')\n"
        "    time.sleep(4 * BatchedStreamHandler.FLUSH_SECONDS)\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "os.wait()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.splitlines() == ["parent", "child"], done.stderr
