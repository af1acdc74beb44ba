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
import functools
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


class _Direct:
    """Where a worker writes its block's frames itself: the output file being written, the byte
    offset of its reserved ``frames`` block, the bytes of one row, and the output name for
    messages."""

    def __init__(self, file: str, offset: int, row_bytes: int, where: str):
        self.file, self.offset, self.row_bytes, self.where = file, offset, row_bytes, where


def _run_block_direct(job: Callable, path: str, read: tuple[int, int], block: tuple[int, int], args: Any,
                      direct: _Direct, out_start: int, out_rows: int):
    """Run one block and write its frames straight into the reserved rows [out_start, out_start +
    out_rows) of the output; only the small per-frame fields travel back to the parent."""
    from thermcli.errors import DataError, ThermcliError
    from thermcli.io.schema import validate

    try:
        batch = _reader(path).read(*read)
        result = job(batch, block[0], block[1], args)
        if len(result) != out_rows:
            raise DataError(f"block {block} gave {len(result)} rows, expected {out_rows}", path=direct.where)
        validate(result, where=direct.where, offset=out_start)
        return _write_rows(direct, out_start, result)
    except ThermcliError as exc:
        return _Failed(exc)


def _write_rows(direct: _Direct, out_start: int, result):
    """Write ``result.frames`` at reserved row ``out_start``; returns ``result`` with a one-pixel
    placeholder for frames (their row count is what the parent's writer needs)."""
    import numpy as np

    from thermcli.errors import DataError

    frames = np.ascontiguousarray(result.frames)
    if frames[:1].nbytes != direct.row_bytes and len(frames):
        raise DataError(f"frames rows of shape {frames.shape[1:]} {frames.dtype} do not fit the reserved rows", path=direct.where)
    view = memoryview(frames).cast("B")
    fd = os.open(direct.file, os.O_WRONLY)
    try:
        position, done = direct.offset + out_start * direct.row_bytes, 0
        while done < len(view):
            done += os.pwrite(fd, view[done:], position + done)
    finally:
        os.close(fd)
    placeholder = np.zeros((len(frames),) + (1,) * (frames.ndim - 1), frames.dtype)
    return result.replace(frames=placeholder)


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


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory of freed block buffers for the next block.

    A block's arrays (tens of MB) are allocated and freed once per block. By default glibc
    returns such memory to the kernel (``munmap``, or trimming the heap's top) and the next block
    faults it in again, page by page: up to 260,000 page faults (1 GB) and seconds of system time
    for a 2 GB input. Fixed thresholds (allocations up to 32 MB come from the heap, the heap's top
    is not trimmed) keep the largest block's buffers mapped and reuse them block after block; the
    peak memory is the same. Returns whether the thresholds are set (False where the C library is
    not glibc). Once per process."""
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    m_trim_threshold, m_mmap_threshold = -1, -3
    # 32 MB: the largest mmap threshold glibc accepts on 64-bit
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def die_with_parent(parent: int) -> None:
    """Make this (worker) process die when ``parent`` does, whatever kills it (SIGKILL too).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, then a check that the parent did not die
    before the call (then the signal would never come). Elsewhere: a daemon thread polls the
    parent's pid once a second. Without this, a SIGKILLed command left its workers running,
    holding its input and its hidden temporary output."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - every Linux libc has prctl
            _watch_parent(parent)
    else:  # pragma: no cover - exercised on macOS/Windows only
        _watch_parent(parent)
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="thermcli-parent-watch").start()


def _worker_init(parent: int | None = None) -> None:
    if parent is not None:
        die_with_parent(parent)
        # A terminal's Ctrl-C reaches the whole process group. The parent stops the pool (it
        # cancels what is queued and waits for the blocks in hand); a worker that died of the
        # signal instead printed multiprocessing's traceback beside the one-line message.
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()
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
    keep_freed_memory()
    if workers <= 1 or len(work) <= 1:
        try:
            for read, block, args in work:
                yield _checked(_run_block(job, path_text, read, block, args))
        finally:
            reader = _READERS.pop(path_text, None)
            if reader is not None:
                reader.close()
        return
    spill = _spill_target()
    try:
        items = [(_run_block, (job, path_text, read, block, args, spill)) for read, block, args in work]
        yield from _pool_map(items, workers, path_text)
    finally:
        _remove_spilled(spill)


def max_workers() -> int:
    """The most ``--workers`` a command accepts: twice the CPU cores this process may use, at
    least 4 (more processes than that only queue for the same cores and memory)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(4, 2 * cores)


def _start_pool(workers: int, module: str = "thermcli.io"):
    """``workers`` new processes, started now (each imports its modules while the caller goes on).

    Only here, once the command's input and options are checked and its work is known: a pool
    that the console script started from the raw command line, before those checks, outlived
    commands that failed on bad input (hung at interpreter exit on h5py's lock, issue #23)."""
    return _new_pool(workers, module)


def _new_pool(workers: int, module: str):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold an open HDF5 file, which must not be shared.
    # ProcessPoolExecutor, not Pool: a worker that dies (killed, out of memory) fails the
    # command instead of leaving it waiting forever for that block.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),))
    for _ in range(workers):  # each submit while no worker is idle spawns one more
        pool.submit(_warm_up, module)
    return pool


def _warm_up(module: str) -> None:
    import importlib

    importlib.import_module(module)  # the job's module and what it imports
    importlib.import_module("thermcli.io")


def _result(future, path_text: str):
    """A worker's result; a worker that died (killed, out of memory) is a one-line error."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        from thermcli import interrupt
        from thermcli.errors import DataError

        # a terminal's Ctrl-C reaches the workers too: one that was idle dies of it, and the pool
        # can break before this process gets to its own stop check — that is a stop, not a fault
        interrupt.check()
        raise DataError("a worker process died (out of memory or killed?); try fewer --workers", path=path_text) from None


def _pool_map(items: list[tuple[Callable, tuple]], workers: int, path_text: str, pool=None) -> Iterator[Any]:
    """``function(*args)`` for each item in worker processes, results yielded in order, at most
    ``2 × workers`` in flight."""
    pool = pool if pool is not None else _start_pool(workers)
    pending: collections.deque = collections.deque()
    try:
        todo = iter(items)
        for function, args in todo:
            pending.append(pool.submit(function, *args))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = _result(pending.popleft(), path_text)
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(nxt[0], *nxt[1]))
            yield _checked(result)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def write_blocks(
    path: Path,
    job: Callable,
    work: list[tuple[tuple[int, int], tuple[int, int], Any]],
    writer: Any,
    *,
    workers: int = 1,
    rows_out: Callable[[int, int], int] | None = None,
) -> None:
    """Run ``work`` as :func:`run_blocks` does and append every block to ``writer``, in order.

    With several workers, an HDF5 output and ``rows_out(lo, hi)`` (the output rows a block
    ``[lo, hi)`` gives, known in advance), the first block runs here, shows the frames' row shape
    and dtype, and the whole ``frames`` block is reserved in the output; each worker then writes
    its own rows straight into the file, so the frames never travel between processes and the
    parent writes only the small per-frame fields. Otherwise blocks come back to the parent."""
    from thermcli.io.hdf5 import HDF5Writer

    direct_ok = workers > 1 and len(work) > 2 and rows_out is not None and isinstance(writer, HDF5Writer)
    if not direct_ok:
        for part in run_blocks(path, job, work, workers=workers):
            writer.append(part)
        return
    first, rest = work[0], work[1:]
    # this process is one of the workers: it computes blocks whenever the next one in output
    # order is not back yet, so `--workers 2` starts one more process, not two
    pool = _start_pool(workers - 1, job.__module__)  # it starts up while the first block runs here
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one core per worker, this one included
    try:
        _write_direct(path, job, first, rest, writer, workers, rows_out, pool)
    finally:
        cv2.setNumThreads(threads)
        pool.shutdown(wait=True, cancel_futures=True)
        reader = _READERS.pop(str(path), None)
        if reader is not None:
            reader.close()


def _write_direct(path, job, first, rest, writer, workers, rows_out, pool) -> None:
    work = [first, *rest]
    (part,) = run_blocks(path, job, [first], workers=1)
    starts, total = [], 0
    for _, block, _ in work:
        starts.append(total)
        total += rows_out(*block)
    if len(part) != rows_out(*first[1]):
        from thermcli.errors import DataError

        raise DataError(f"block {first[1]} gave {len(part)} rows, expected {rows_out(*first[1])}", path=str(writer.path))
    offset = writer.reserve_frames(total, part.frames.shape[1:], part.frames.dtype)
    if offset is None:
        writer.append(part)
        items = [(_run_block, (job, str(path), read, block, args, None)) for read, block, args in rest]
        for part in _pool_map(items, workers - 1, str(path), pool):
            writer.append(part)
        return
    row_bytes = int(part.frames[:1].nbytes)
    direct = _Direct(str(writer.temporary_path), offset, row_bytes, str(writer.path))
    writer.append(_write_rows(direct, 0, part), frames_written=True)
    items = [(job, str(path), read, block, args, direct, starts[i + 1], rows_out(*block)) for i, (read, block, args) in enumerate(rest)]
    for result in _shared_map(items, workers - 1, str(path), pool):
        writer.append(result, frames_written=True)


def _shared_map(items: list[tuple], children: int, path_text: str, pool) -> Iterator[Any]:
    """``_run_block_direct(*item)`` for every item, results in order, shared between ``children``
    worker processes (two blocks queued each) and this process, which takes the next unassigned
    block itself whenever the result due next is not back yet. Only small per-frame fields are
    held here (frames are in the file), so running ahead costs no memory to speak of."""
    results: dict[int, Any] = {}
    futures: dict[int, Any] = {}
    assigned = 0
    try:
        for due in range(len(items)):
            while due not in results:
                while len(futures) < 2 * children and assigned < len(items):
                    futures[assigned] = pool.submit(_run_block_direct, *items[assigned])
                    assigned += 1
                future = futures.get(due)
                if future is not None and (future.done() or assigned == len(items)):
                    results[due] = _result(futures.pop(due), path_text)
                elif assigned < len(items):
                    results[assigned] = _run_block_direct(*items[assigned])
                    assigned += 1
            yield _checked(results.pop(due))
    finally:
        for future in futures.values():
            future.cancel()


class Background:
    """Run ``function(*args, **kwargs)`` in a helper thread; ``result()`` waits for it.

    Used for the provenance record: hashing a large input (SHA-256 releases the GIL) overlaps
    with the processing instead of delaying it. Use it as a context manager: leaving the block
    by an exception (bad data, Ctrl-C, SIGTERM) cancels the thread (its ``interrupt.check()``
    calls raise) and joins it, so no helper thread is ever left running into the interpreter's
    shutdown, where one holding h5py's lock deadlocked the exit after an error (a command that
    printed its error and never returned).
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

        # daemon only as a last resort: every exit path of a `with` block joins it first
        self._thread = threading.Thread(target=target, daemon=True, name="thermcli-background")
        self._thread.start()

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.cancel()
        else:
            self._thread.join()

    def cancel(self) -> None:
        """Stop the thread at its next ``interrupt.check()`` and wait for it."""
        from thermcli import interrupt

        ident = self._thread.ident
        interrupt.cancel_thread(ident)
        try:
            self._thread.join()
        finally:
            interrupt.forget_thread(ident)

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
