"""Building derivatives ahead of time: every image, on every core, resumable.

Each worker process opens its own ImageService and resolves the identifiers it is
handed, which builds a missing derivative (atomically, under the derivative's lock)
and does nothing for one already built. So an ingest can be stopped at any moment
and run again: what was built stays built, what was half-written was never visible
and is swept away when its derivative is built (derivatives.py). Workers are started
fresh (spawn), not forked from a process that already runs libvips' threads.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..errors import BeeldpostError
from ..settings import Settings

# progress(done, total): after each image
Progress = Callable[[int, int], None]

_service = None  # the worker process's ImageService
_edges = False  # whether pyramids built before get their cut edge tiles


@dataclass
class IngestReport:
    total: int = 0
    built: int = 0
    present: int = 0  # built before this run
    edged: int = 0  # of those, given their cut edge tiles now (--edges)
    failed: dict[str, str] = field(default_factory=dict)  # identifier -> why
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.built + self.present + len(self.failed)

    def reasons(self) -> list[tuple[str, int, list[str]]]:
        """The failures by reason (file names left out), most frequent first:
        (reason, how many, the first few identifiers)."""
        grouped: dict[str, list[str]] = defaultdict(list)
        for identifier, why in sorted(self.failed.items()):
            grouped[_reason(why)].append(identifier)
        counts = Counter({reason: len(found) for reason, found in grouped.items()})
        return [(reason, count, grouped[reason][:5]) for reason, count in counts.most_common()]


def _reason(message: str) -> str:
    return re.sub(r"'[^']*'", "'…'", message)


def _start(settings: Settings, edges: bool = False) -> None:
    global _service, _edges
    from .service import ImageService

    _service = ImageService(settings)
    _edges = edges


def _build(identifier: str) -> tuple[str, str | None, str]:
    """(identifier, why it failed or None, "built", "edged" or "present": what this
    call did to its derivative)."""
    try:
        before = _service.derivatives.built_count
        resolved = _service.resolve(identifier)
        if _service.derivatives.built_count > before:
            return identifier, None, "built"
        if _edges and _service.derivatives.add_edges(resolved.pyramid.path):
            return identifier, None, "edged"
        return identifier, None, "present"
    except BeeldpostError as error:
        return identifier, error.message, "failed"
    except Exception as error:  # noqa: BLE001 - one bad image must not end the ingest
        return identifier, f"{type(error).__name__}: {error}", "failed"


def ingest(settings: Settings, identifiers: Iterable[str], jobs: int | None = None,
           progress: Progress | None = None, edges: bool = False) -> IngestReport:
    """Build the derivatives of `identifiers` on `jobs` processes (default: every core);
    with `edges`, those built before edge tiles were kept cut get them (in a folder)."""
    wanted = list(identifiers)
    report = IngestReport(total=len(wanted))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(wanted) or 1))
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(jobs, initializer=_start, initargs=(settings, edges))
    try:
        chunk = max(1, min(64, len(wanted) // (jobs * 8) or 1))
        for identifier, why, done in pool.imap_unordered(_build, wanted, chunksize=chunk):
            if why is not None:
                report.failed[identifier] = why
            elif done == "built":
                report.built += 1
            else:
                report.present += 1
                report.edged += done == "edged"
            if progress is not None:
                progress(report.done, report.total)
        pool.close()
    except KeyboardInterrupt:
        report.interrupted = True
        pool.terminate()
    finally:
        pool.join()
    return report
