"""counters.Tally: counts made per request reach prometheus-client's values whole,
in batches, exactly as counting them one by one would."""

from __future__ import annotations

import os
import random
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from beeldpost.counters import Tally

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BOUNDS = (*BUCKETS, float("inf"))


def samples(registry: CollectorRegistry) -> dict[tuple, float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for metric in registry.collect() for sample in metric.samples
            if not sample.name.endswith("_created")}


def test_a_batch_writes_what_counting_one_by_one_writes():
    batched, direct = CollectorRegistry(), CollectorRegistry()
    made = {}
    for name, registry in (("batched", batched), ("direct", direct)):
        made[name] = (Counter("answers", "", ["route"], registry=registry),
                      Histogram("seconds", "", ["route"], buckets=BUCKETS, registry=registry))
    tally = Tally()
    rng = random.Random(23)
    # Every bound itself (amount <= bound falls in that bucket), beside it, and beyond the last.
    amounts = [*BUCKETS, *(bound * 1.0001 for bound in BUCKETS), 0.0, 31.0, 1e9,
               *(rng.expovariate(20) for _ in range(2000))]
    for amount in amounts:
        route = rng.choice(("iiif3.image", "iiif2.info"))
        counter, histogram = made["batched"]
        tally.add(counter.labels(route))
        tally.observe(histogram.labels(route), BOUNDS, amount)
        counter, histogram = made["direct"]
        counter.labels(route).inc()
        histogram.labels(route).observe(amount)
    assert samples(batched) != samples(direct)  # nothing written yet
    tally.flush()
    got, expected = samples(batched), samples(direct)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-6 * max(1.0, abs(value)), key
    tally.flush()  # nothing twice
    assert samples(batched) == got


def test_counts_are_written_within_the_flush_interval_without_asking():
    registry = CollectorRegistry()
    counter = Counter("lookups", "", registry=registry)
    tally = Tally()
    for _ in range(500):
        tally.add(counter, 1)
    deadline = time.monotonic() + 5 * Tally.FLUSH_SECONDS
    while counter._value.get() < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counter._value.get() == 500


def test_a_forked_process_writes_only_its_own_counts():
    registry = CollectorRegistry()
    counter = Counter("forked", "", registry=registry)
    tally = Tally()
    tally.add(counter, 7)  # the parent's, not yet written
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own flusher thread, none of the parent's 7
        os.close(reader)
        try:
            tally.add(counter, 2)
            deadline = time.monotonic() + 5 * Tally.FLUSH_SECONDS
            while counter._value.get() < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(writer, str(counter._value.get()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        seen_by_child = float(pipe.read())
    os.waitpid(pid, 0)
    assert seen_by_child == 2
    tally.flush()
    assert counter._value.get() == 7
