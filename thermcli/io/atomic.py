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
from thermcli.errors import DataError, OutputExistsError

TMP_MARK = ".tmp-"


def check_output(path: str | os.PathLike, *, force: bool, param: str = "OUT") -> Path:
    """Refuse an existing output without ``force``; check that its folder is writable.

    Called before any work starts, so bad usage costs nothing and writes nothing.
    """
    out = Path(path)
    if out.exists() and not force:
        raise OutputExistsError(f"output {out} exists; pass --force to overwrite it", param=param)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise DataError(f"output folder {parent} does not exist", path=str(out))
    if not parent.is_dir():
        raise DataError(f"{parent} is not a folder", path=str(out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"output folder {parent} is not writable", path=str(out))
    return out


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
        try:
            os.kill(pid, 0)
            continue  # still alive: not ours to remove
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _remove(sibling)


def _remove(path: Path) -> None:
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
    _sweep_stale(final)
    tmp = _tmp_name(final)
    _remove(tmp)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        interrupt.check()  # a stop requested mid-way never commits, even if the signal was swallowed
        if final.exists():
            if not force:
                raise OutputExistsError(f"output {final} exists; pass --force to overwrite it", param="OUT")
            if final.is_dir() and not final.is_symlink():
                # rename the old folder aside first so a crash never leaves neither
                old = final.with_name(f".{final.name}.old{TMP_MARK}{os.getpid()}")
                _remove(old)
                os.replace(final, old)
                os.replace(tmp, final)
                _remove(old)
                return
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes_atomic(final: str | os.PathLike, data: bytes, *, force: bool = True) -> None:
    """Write ``data`` to ``final`` atomically (small sidecar files: JSON, CSV)."""
    with atomic_path(final, force=force) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(final: str | os.PathLike, text: str, *, force: bool = True) -> None:
    write_bytes_atomic(final, text.encode("utf-8"), force=force)
