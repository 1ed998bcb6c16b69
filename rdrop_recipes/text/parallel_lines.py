"""A per-line transform over a big file on all cores, line order kept. sacremoses and
subword-nmt are pure Python (one core tokenizes WMT14 in hours); only a bounded window of
chunks is in flight, so memory stays flat (``Pool.imap`` would read the whole input ahead)."""

import collections
import itertools
import multiprocessing
import os
from typing import Callable, Iterable, Iterator, List, Optional

CHUNK_LINES = 2000

_worker_fn: Optional[Callable[[str], str]] = None


def default_workers() -> int:
    return os.cpu_count() or 1


def _init_worker(factory) -> None:
    global _worker_fn
    _worker_fn = factory.build()


def _run_chunk(chunk: List[str]) -> List[str]:
    return [_worker_fn(line) for line in chunk]


def map_lines(factory, lines: Iterable[str], workers: int, chunk_lines: int = CHUNK_LINES) -> Iterator[str]:
    """``factory.build()(line)`` for every line, in order. ``factory`` is picklable; each
    worker builds it once. ``workers <= 1`` runs here (no pool start-up for small splits)."""
    if workers <= 1:
        yield from map(factory.build(), lines)
        return
    lines = iter(lines)
    chunks = iter(lambda: list(itertools.islice(lines, chunk_lines)), [])
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_run_chunk, (chunk,)))
            if len(pending) >= 4 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
