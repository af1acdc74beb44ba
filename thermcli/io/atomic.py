"""Atomic outputs: write to a temporary sibling, rename into place on success.

A failed or interrupted command (exception, Ctrl-C, SIGTERM) removes its temporary file; a
SIGKILL can leave a hidden ``.NAME.tmp-PID`` sibling behind but never a half-written ``NAME``
for Make to trust. Stale temporaries of dead processes are swept on the next write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from thermcli import interrupt
from thermcli.errors import DataError, OutputExistsError, UsageError

TMP_MARK = ".tmp-"

# The inputs of the command being run (resolved), which no output may replace, even with
# --force. Filled by check_output(inputs=...) and, while a command runs (``guard_inputs``), by
# every dataset opened for reading; checked again when an output is committed.
_INPUTS: dict[Path, str] = {}
_GUARDING = False


_OUTPUT: list[str] = []  # the first output the running command started writing (for messages)


def guard_inputs(active: bool) -> None:
    """Start (or end) recording the inputs of one command; either way, forget earlier ones."""
    global _GUARDING
    _GUARDING = active
    _INPUTS.clear()
    _OUTPUT.clear()


def current_output() -> str | None:
    """The output the running command writes (its first atomic_path), or None."""
    return _OUTPUT[0] if _OUTPUT else None


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path)).resolve(strict=False)


def register_input(path: str | os.PathLike) -> None:
    """Record ``path`` as an input of the running command (only while ``guard_inputs`` is on)."""
    if _GUARDING:
        _INPUTS.setdefault(_resolved(path), str(path))


def check_not_input(path: str | os.PathLike, inputs=(), *, param: str = "OUT") -> None:
    """Refuse an output that is one of the inputs (the same file or folder, through symlinks
    too) or a folder holding one: replacing it would destroy the input, so ``--force`` does not
    allow it. A usage error (exit 2) naming the option."""
    target = _resolved(path)
    known = dict(_INPUTS)
    for given in inputs:
        if given is not None:
            known.setdefault(_resolved(given), str(given))
    for resolved, shown in known.items():
        if target == resolved:
            raise UsageError(f"{path} is the input {shown}; write the output elsewhere (--force never replaces an input)", param=param)
        if target in resolved.parents:
            raise UsageError(f"{path} holds the input {shown}; write the output elsewhere (--force never replaces an input)", param=param)


def check_output(path: str | os.PathLike, *, force: bool, param: str = "OUT", inputs=()) -> Path:
    """Refuse an output that is an input (even with ``force``: see :func:`check_not_input`),
    or an existing output without ``force``; check that its folder is writable. ``inputs``
    (paths, None ignored) are recorded as the command's inputs too.

    Called before any work starts, so bad usage costs nothing and writes nothing.
    """
    for given in inputs:
        if given is not None:
            register_input(given)
    check_not_input(path, inputs, param=param)
    out = Path(path)
    if out.exists() and not force:
        raise OutputExistsError(f"output {out} exists; pass --force to overwrite it", param=param)
    check_parent_writable(out)
    return out


def check_parent_writable(out: Path) -> None:
    """Refuse (exit 1) an output whose folder does not exist, is not a folder or is not writable."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise DataError(f"output folder {parent} does not exist", path=str(out))
    if not parent.is_dir():
        raise DataError(f"{parent} is not a folder", path=str(out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"output folder {parent} is not writable", path=str(out))


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}")


def _sweep_stale(final: Path) -> None:
    """Remove temporaries of ``final`` left by processes that no longer exist (after SIGKILL)."""
    prefix = f".{final.name}{TMP_MARK}"
    parent = final.parent if str(final.parent) else Path(".")
    try:
        siblings = list(parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        if not sibling.name.startswith(prefix):
            continue
        pid_text = sibling.name[len(prefix):]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        if not pid_alive(pid):
            remove_path(sibling)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, and alive
    return True


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, force: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it over ``final`` when the block succeeds.

    ``directory=True`` creates the temporary as a folder (PNG folders, run folders). An existing
    ``final`` is replaced only with ``force`` (checked again here, after the work).
    """
    final = Path(final)
    check_not_input(final)
    if not _OUTPUT:
        _OUTPUT.append(str(final))
    _sweep_stale(final)
    tmp = _tmp_name(final)
    remove_path(tmp)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        interrupt.check()  # a stop requested mid-way never commits, even if the signal was swallowed
        check_not_input(final)  # an input opened during the work (a --val, a model) counts too
        if final.exists():
            if not force:
                raise OutputExistsError(f"output {final} exists; pass --force to overwrite it", param="OUT")
            if final.is_dir() and not final.is_symlink():
                # rename the old folder aside first so a crash never leaves neither
                old = final.with_name(f".{final.name}.old{TMP_MARK}{os.getpid()}")
                remove_path(old)
                os.replace(final, old)
                os.replace(tmp, final)
                remove_path(old)
                return
        os.replace(tmp, final)
    except BaseException:
        remove_path(tmp)
        raise


def write_bytes_atomic(final: str | os.PathLike, data: bytes, *, force: bool = True) -> None:
    """Write ``data`` to ``final`` atomically (small sidecar files: JSON, CSV)."""
    with atomic_path(final, force=force) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if is_no_space(exc):
                raise no_space_error(final) from None
            raise


def write_text_atomic(final: str | os.PathLike, text: str, *, force: bool = True) -> None:
    write_bytes_atomic(final, text.encode("utf-8"), force=force)


# ---- disk full ---------------------------------------------------------------------------------
# A full filesystem is a one-line error naming the output, with nothing left behind. Writers
# check the free space before each write whose size they know (HDF5's library, once a write
# failed, could crash the interpreter when the file was closed: exit 139), and turn an ENOSPC
# that still happens into the same error.

SPACE_MARGIN = 256 << 10  # bytes kept free beyond each write: HDF5 metadata, PNG headers


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path`` (its
    nearest existing ancestor), or None where that cannot be told."""
    probe = Path(os.path.abspath(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stat = os.statvfs(probe)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


def no_space_error(final: str | os.PathLike, need: int | None = None, free: int | None = None) -> DataError:
    detail = ""
    if need is not None and free is not None:
        detail = f" ({need / 2**20:.1f} MiB to write, {free / 2**20:.1f} MiB free)"
    import re

    # name the output, not the hidden temporary folder it is being built in
    # (or the hidden staging folder of a run: ``.NAME.run-PID``, see thermcli.runs)
    hidden = rf"^\.(.+)(?:{re.escape(TMP_MARK)}|\.run-)\d+$"
    shown = Path(*[re.sub(hidden, r"\1", part) for part in Path(final).parts])
    return DataError(f"no space left on device{detail}; nothing was written", path=str(shown))


def check_space(where: str | os.PathLike, need: int, final: str | os.PathLike) -> None:
    """Raise :func:`no_space_error` naming ``final`` unless ``need`` bytes (plus a margin) fit on
    the filesystem of ``where``."""
    free = free_bytes(where)
    if free is not None and need + SPACE_MARGIN + need // 50 > free:
        raise no_space_error(final, need, free)


def is_no_space(exc: BaseException) -> bool:
    """An ENOSPC (or a quota) however the library reports it (OSError, h5py's RuntimeError)."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


class AtomicWriter:
    """Base of the streamed writers over an :func:`atomic_path` temporary (``self._ctx``, entered
    by the subclass): used as a context manager, it commits on success and discards on error.
    A subclass's ``close`` writes its last bytes, then calls :meth:`_commit`; :meth:`_discard`
    frees what it holds before the temporary is removed."""

    _ctx: contextlib.AbstractContextManager
    _closed: bool = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)

    def close(self) -> None:  # pragma: no cover - every writer defines it
        raise NotImplementedError

    def _commit(self) -> None:
        """Rename the finished temporary into place."""
        self._closed = True
        self._ctx.__exit__(None, None, None)

    def _discard(self) -> None:
        """Free what the writer holds on the temporary (before it is removed)."""

    def abort(self, exc_type=None, exc=None, tb=None) -> None:
        """Remove the temporary; the final path is left as it was. Idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        self._discard()
        try:
            self._ctx.__exit__(exc_type or RuntimeError, exc or RuntimeError("aborted"), tb)
        except BaseException:
            pass
