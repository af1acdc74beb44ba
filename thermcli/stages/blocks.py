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


SPILL_DIR = Path("/dev/shm")  # RAM-backed on Linux; elsewhere results travel through the pipe
SPILL_MIN_BYTES = 1 << 20


class _Spilled:
    """A worker's output block whose frames wait in a RAM-backed .npy file: the parent maps it
    instead of receiving it pickled through a pipe (three copies fewer per block)."""

    def __init__(self, dataset, path: str):
        self.dataset, self.path = dataset, path

    def load(self):
        import numpy as np

        try:
            frames = np.load(self.path, mmap_mode="r")  # the mapping outlives the unlinked name
        finally:
            os.unlink(self.path)
        return self.dataset.replace(frames=frames)


def _run_block(
    job: Callable, path: str, read: tuple[int, int], block: tuple[int, int], args: Any, spill: tuple[str, int] | None = None
):
    from thermcli.errors import ThermcliError

    try:
        batch = _reader(path).read(*read)
        result = job(batch, block[0], block[1], args)
    except ThermcliError as exc:
        return _Failed(exc)
    frames = getattr(result, "frames", None)
    if spill is not None and frames is not None and frames.nbytes >= spill[1]:
        import numpy as np

        target = f"{spill[0]}-{block[0]}.npy"
        np.save(target, frames)
        return _Spilled(result.replace(frames=frames[:0]), target)
    return result


def _checked(result):
    if isinstance(result, _Failed):
        result.raise_()
    if isinstance(result, _Spilled):
        return result.load()
    return result


def _spill_target() -> tuple[str, int] | None:
    if not (SPILL_DIR.is_dir() and os.access(SPILL_DIR, os.W_OK)):
        return None
    return str(SPILL_DIR / f"thermcli-blocks-{os.getpid()}"), SPILL_MIN_BYTES


def _remove_spilled(spill: tuple[str, int] | None) -> None:
    """Files of blocks never collected (an error or Ctrl-C in the middle)."""
    if spill is None:
        return
    import glob

    for leftover in glob.glob(f"{glob.escape(spill[0])}-*.npy"):
        try:
            os.unlink(leftover)
        except OSError:
            pass


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
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: the parent may hold an open HDF5 file, which must not be shared.
    # ProcessPoolExecutor, not Pool: a worker that dies (killed, out of memory) fails the
    # command instead of leaving it waiting forever for that block.
    context = multiprocessing.get_context("spawn")
    spill = _spill_target()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init)
    try:
        pending: collections.deque = collections.deque()
        items = iter(work)
        for read, block, args in items:
            pending.append(pool.submit(_run_block, job, path_text, read, block, args, spill))
            if len(pending) >= 2 * workers:
                break
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool:
                from thermcli.errors import DataError

                raise DataError("a worker process died (out of memory or killed?); try fewer --workers", path=path_text) from None
            nxt = next(items, None)
            if nxt is not None:
                read, block, args = nxt
                pending.append(pool.submit(_run_block, job, path_text, read, block, args, spill))
            yield _checked(result)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        _remove_spilled(spill)


class Background:
    """Run ``function(*args, **kwargs)`` in a daemon thread; ``result()`` waits for it.

    Used for the provenance record: hashing a large input (SHA-256 releases the GIL) overlaps
    with the processing instead of delaying it, and an interrupted command does not wait for it.
    """

    def __init__(self, function: Callable, *args: Any, **kwargs: Any):
        import threading

        self._value: Any = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._value = function(*args, **kwargs)
            except BaseException as exc:  # handed to the caller in result()
                self._error = exc

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
