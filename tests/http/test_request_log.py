"""The request log's lines reach stderr in batches, each line whole, none lost on exit."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

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
