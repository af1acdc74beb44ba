"""Run folders for training commands: ``runs/NAME/`` with ``config.json``, ``metrics.csv``
(one row an epoch), ``curves.png``, ``best.pt`` and ``last.pt``.

Each file is replaced atomically, so an interrupted run leaves the previous epoch's files intact
and ``--resume`` continues from ``last.pt``.

:func:`open_run` is how a command opens its run folder (train, distill, adapt):

- the folder is *locked* while the run writes it: a lock file ``.NAME.lock`` beside it holds the
  writer's PID; a second writer is refused (exit 1, naming that PID); the lock of a process that
  no longer exists is taken over;
- a new run is built in a hidden sibling ``.NAME.run-PID`` that becomes ``NAME`` when its first
  checkpoint is written (:meth:`RunDir.checkpointed`), so a run that fails before that (bad
  input, bad ``--weights``) leaves no run folder — and ``--force`` replaces an old run only then;
  an interrupted run that wrote its ``last.pt`` keeps it for ``--resume``;
- ``--out`` in a folder that does not exist is refused, as every other writer refuses it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from thermcli.errors import DataError, OutputExistsError
from thermcli.io.atomic import (
    check_parent_writable,
    pid_alive,
    remove_path,
    write_bytes_atomic,
    write_text_atomic,
)

STAGING_MARK = ".run-"


class RunDir:
    """A training run's output folder.

    ``final``: where the folder ends up when it is built elsewhere first (see :func:`open_run`);
    ``path`` follows it once the first checkpoint moved it there.
    """

    def __init__(self, path: str | Path, *, force: bool = False, resume: bool = False, create: bool = True,
                 final: str | Path | None = None):
        self.path = Path(path)
        self.final = Path(final) if final is not None else self.path
        self.writer = create  # False: a DDP rank > 0 (reads, never writes)
        if self.path.exists() and not (force or resume):
            if any(self.path.iterdir()):
                raise OutputExistsError(f"run folder {self.path} exists; pass --force or --resume", param="--out")
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        if resume and (self.path / "metrics.csv").is_file():
            with open(self.path / "metrics.csv", newline="") as fh:
                self.rows = [
                    {k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(fh)
                ]

    @property
    def committed(self) -> bool:
        """Whether the folder is in its final place (always, unless built in a staging sibling)."""
        return self.path == self.final

    def checkpointed(self) -> None:
        """Called after a checkpoint is written: a run built in a staging sibling moves into place
        (replacing an old run only now, under ``--force``)."""
        if self.committed:
            return
        if self.final.exists():
            old = self.final.with_name(f".{self.final.name}.old{STAGING_MARK}{os.getpid()}")
            remove_path(old)
            os.replace(self.final, old)  # aside first: a crash never leaves neither
            os.replace(self.path, self.final)
            remove_path(old)
        else:
            os.replace(self.path, self.final)
        self.path = self.final

    def subrun(self, name: str) -> "RunDir":
        """A run folder inside this one (a fold, a β); it moves with its parent."""
        return _SubRun(self, name)

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    def write_config(self, config: dict[str, Any]) -> None:
        write_text_atomic(self.path / "config.json", json.dumps(config, indent=2, default=str) + "\n")

    def log(self, row: dict[str, Any], *, plot: bool = True) -> None:
        """Append an epoch's row to ``metrics.csv`` (rewritten atomically) and redraw ``curves.png``."""
        self.rows.append(dict(row))
        header: list[str] = []
        for r in self.rows:
            header.extend(k for k in r if k not in header)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _format_number(r.get(k, "")) for k in header})
        write_text_atomic(self.path / "metrics.csv", buffer.getvalue())
        if plot:
            self.plot()

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` rows (on resume, rows after ``last.pt`` are discarded)."""
        self.rows = [r for r in self.rows if int(r.get("epoch", 0)) < epochs]

    def plot(self, path: str | Path | None = None) -> Path:
        """Training curves: losses on the left, other metrics on the right."""
        target = Path(path) if path else self.path / "curves.png"
        write_bytes_atomic(target, curves_png(self.rows))
        return target


class _SubRun(RunDir):
    """A run folder inside another one (``fold-S/``, ``beta_B/``): its path follows the parent's,
    and its first checkpoint moves the parent into place."""

    def __init__(self, parent: RunDir, name: str):
        self.parent, self.name = parent, name
        # resume: its metrics.csv rows (a resumed parent); nothing created by a DDP rank > 0
        super().__init__(parent.path / name, resume=True, create=parent.writer)

    @property
    def path(self) -> Path:  # type: ignore[override]
        return self.parent.path / self.name

    @path.setter
    def path(self, value: Path) -> None:
        pass  # follows the parent

    @property
    def final(self) -> Path:  # type: ignore[override]
        return self.parent.final / self.name

    @final.setter
    def final(self, value: Path) -> None:
        pass

    @property
    def committed(self) -> bool:
        return self.parent.committed

    def checkpointed(self) -> None:
        self.parent.checkpointed()


# ---- locking and staging --------------------------------------------------------------------


def lock_path(path: str | Path) -> Path:
    final = Path(path)
    return final.with_name(f".{final.name}.lock")


def _holder(lock: Path) -> int | None:
    try:
        text = lock.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def run_lock(path: str | Path) -> Iterator[Path]:
    """Hold ``.NAME.lock`` (the writer's PID) beside the run folder ``path`` for the block.

    A live holder → :class:`DataError` naming its PID; a dead holder's lock (and its staging
    folder) is taken over. Only the process that took the lock removes it.
    """
    final = Path(path)
    lock = lock_path(final)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(lock)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                raise DataError(f"run folder {final} is being written by process {pid} (lock {lock}); "
                                "wait for it, or stop it", path=str(final)) from None
            if pid == os.getpid():
                raise DataError(f"run folder {final} is already open in this process", path=str(final)) from None
            # stale: its process is gone (killed); its half-built staging folder goes too
            if pid is not None:
                remove_path(final.with_name(f".{final.name}{STAGING_MARK}{pid}"))
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        raise DataError(f"could not take the lock {lock}", path=str(final))
    try:
        yield lock
    finally:
        if _holder(lock) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def check_run_out(path: str | Path, *, force: bool = False, resume: bool = False, param: str = "--out") -> Path:
    """Refuse, before any work: an existing non-empty run without ``force``/``resume`` (exit 2) and
    a folder whose parent does not exist or is not writable (exit 1, as :func:`check_output`)."""
    final = Path(path)
    check_parent_writable(final)
    if final.exists() and not final.is_dir():
        raise OutputExistsError(f"{final} exists and is not a run folder", param=param)
    if final.is_dir() and any(final.iterdir()) and not (force or resume):
        raise OutputExistsError(f"run folder {final} exists; pass --force or --resume", param=param)
    return final


@contextlib.contextmanager
def open_run(path: str | Path, *, force: bool = False, resume: bool = False, param: str = "--out",
             writer: bool = True) -> Iterator[RunDir]:
    """The run folder of one training command, locked and built safely (see the module's doc).

    ``resume`` with an existing folder writes in place; otherwise the run is built in a hidden
    sibling that becomes ``path`` at its first checkpoint (:meth:`RunDir.checkpointed`). When
    the block ends without one: an error or an interrupt removes the sibling (nothing was worth
    keeping); a normal end moves it into place. ``writer=False`` (DDP ranks > 0): no lock, no
    folder, nothing written.
    """
    if not writer:
        yield RunDir(path, force=True, create=False)
        return
    final = check_run_out(path, force=force, resume=resume, param=param)
    with run_lock(final):
        if resume and final.is_dir():
            yield RunDir(final, resume=True)
            return
        staging = final.with_name(f".{final.name}{STAGING_MARK}{os.getpid()}")
        remove_path(staging)
        staging.mkdir()
        run = RunDir(staging, force=True, final=final)
        try:
            yield run
        except BaseException:
            if not run.committed:
                remove_path(staging)
            raise
        if not run.committed:
            run.checkpointed()


def curves_png(rows: list[dict[str, Any]], *, x: str = "epoch") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in (rows[0] if rows else {}) if k != x]
    for r in rows:
        keys.extend(k for k in r if k != x and k not in keys)
    numeric = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)]
    losses = [k for k in numeric if "loss" in k]
    others = [k for k in numeric if k not in losses and k not in ("lr", "seconds", "trainable_stages")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for ax, group, title in ((axes[0], losses, "loss"), (axes[1], others, "metrics")):
        for key in group:
            xs = [r.get(x, i) for i, r in enumerate(rows) if isinstance(r.get(key), (int, float))]
            ys = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if group:
            ax.legend(fontsize=8)
    return figure_png(fig)


def figure_png(fig) -> bytes:
    """A matplotlib figure, laid out tight, as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _format_number(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return value


def _parse_number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
