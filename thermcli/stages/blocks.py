"""Streamed, optionally parallel processing of a dataset in contiguous row blocks.

A job function ``job(batch, lo, hi, args) -> Dataset`` turns input rows [lo, hi) into output
rows. With one worker the blocks run in this process; with several, in worker processes that
open the input themselves (nothing big is sent to them) and send their output blocks back.
Results are written in block order, and the blocks are the same whatever the worker count, so
the output is byte-identical to a one-worker run. At most ``2 × workers`` blocks are in flight:
memory stays flat in N.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any, Callable, Iterator

_READERS: dict[str, Any] = {}


def blocks(start: int, stop: int, batch_size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + batch_size, stop)) for lo in range(start, stop, batch_size)]


def _reader(path: str):
    reader = _READERS.get(path)
    if reader is None:
        from thermcli.io import open_dataset

        reader = _READERS[path] = open_dataset(path)
    return reader


class _Failed:
    """A library error raised in a worker, carried back intact (exceptions with keyword-only
    fields do not survive pickling)."""

    def __init__(self, exc):
        self.kind, self.message, self.path, self.param = type(exc), exc.message, exc.path, exc.param

    def raise_(self):
        raise self.kind(self.message, path=self.path, param=self.param)


def _run_block(job: Callable, path: str, read: tuple[int, int], block: tuple[int, int], args: Any):
    from thermcli.errors import ThermcliError

    try:
        batch = _reader(path).read(*read)
        return job(batch, block[0], block[1], args)
    except ThermcliError as exc:
        return _Failed(exc)


def _checked(result):
    if isinstance(result, _Failed):
        result.raise_()
    return result


def _worker_init() -> None:
    # one process per core already: keep OpenCV/NumPy from oversubscribing the cores
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_blocks(
    path: Path,
    job: Callable,
    work: list[tuple[tuple[int, int], tuple[int, int], Any]],
    *,
    workers: int = 1,
) -> Iterator[Any]:
    """Yield ``job(read rows, block lo, block hi, args)`` for each ``(read, block, args)`` of
    ``work``, in order. ``read`` is the input row range a block needs."""
    path_text = str(path)
    if workers <= 1 or len(work) <= 1:
        try:
            for read, block, args in work:
                yield _checked(_run_block(job, path_text, read, block, args))
        finally:
            reader = _READERS.pop(path_text, None)
            if reader is not None:
                reader.close()
        return
    import multiprocessing

    # spawn, not fork: the parent may hold an open HDF5 file, which must not be shared
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_worker_init) as pool:
        pending: collections.deque = collections.deque()
        items = iter(work)
        for read, block, args in items:
            pending.append(pool.apply_async(_run_block, (job, path_text, read, block, args)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().get()
            nxt = next(items, None)
            if nxt is not None:
                read, block, args = nxt
                pending.append(pool.apply_async(_run_block, (job, path_text, read, block, args)))
            yield _checked(result)
