"""Classification data read from disk in chunk-aligned blocks: flat memory in N.

The training set is described by one streaming pass (:func:`scan`): labels, sequences,
timestamps, the K-frame windows and the normalisation statistics (merged per block, Chan et al.),
never a full copy of the frames. Frames are then read a *block* at a time — a run of rows aligned
to the HDF5 chunks (PNG folders: a fixed number of files) — normalised, and kept only while a
batch of the epoch still needs them. The engine (:func:`thermcli.stages.trainer.block_batches`)
orders each epoch by shuffling blocks, then rows within a buffer, so a streamed epoch touches
each block once.

``cache="memory"`` loads every block up front and never evicts; ``"none"`` streams; ``"auto"``
holds the data in memory when it is small (≤ :data:`MEMORY_LIMIT_BYTES` and a quarter of the
available memory). Both modes read, normalise and gather frames with the same code in the same
block layout, and the engine draws the same batches from the same plan, so the trained weights
are bit-identical.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.classify_data import (
    NORMALIZE,
    Normalization,
    apply_normalization,
    sequence_windows,
    window_groups,
    COPY_COLUMNS,
)

CACHE = ("auto", "memory", "none")
BLOCK_BYTES = 8 << 20  # a block: ~8 MB of float32 frames, a whole number of HDF5 chunks
BUFFER_BYTES = 128 << 20  # the shuffle buffer over all lanes (rows shuffled within it)
MEMORY_LIMIT_BYTES = 2 << 30  # cache=auto holds at most this much in memory
TRACE_ENV = "THERMCLI_STREAM_TRACE"  # a path prefix: each process appends the blocks it reads
BLOCK_ENV = "THERMCLI_BLOCK_BYTES"  # overrides BLOCK_BYTES (tuning, tests)


def check_cache(cache: str) -> str:
    if cache not in CACHE:
        raise UsageError(f"{cache!r}: expected {', '.join(CACHE)}", param="--cache")
    return cache


def _frame_shape(reader, where: str, grey: bool = False) -> tuple[tuple[int, int], int]:
    """((H, W), channels of one network input frame: 1, or 3 for RGB / pseudo-colour unless grey)."""
    shape = tuple(reader.frame_shape)
    channels = 1
    if len(shape) == 3:
        if shape[2] not in (1, 3):
            raise DataError(f"classification takes 1- or 3-channel frames, got {shape[2]} channels", path=where)
        channels = 1 if shape[2] == 1 or grey else 3
        shape = shape[:2]
    return (int(shape[0]), int(shape[1])), channels


def block_rows(reader, frame_bytes: int) -> int:
    """Rows per block: ~:data:`BLOCK_BYTES`, a multiple of the HDF5 chunk's rows."""
    chunk = 1
    file = getattr(reader, "_file", None)
    if file is not None:
        chunks = file["frames"].chunks
        chunk = int(chunks[0]) if chunks else 1
    size = int(os.environ.get(BLOCK_ENV) or BLOCK_BYTES)
    rows = max(1, size // max(frame_bytes, 1))
    return max(chunk, rows // chunk * chunk)


class _Moments:
    """Count, mean and sum of squared deviations, merged block by block (Chan et al.)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        if not values.size:
            return
        n, mean = values.size, float(values.mean())
        m2 = float(np.square(values - mean).sum())
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0


def _frames_of(batch, where: str, grey: bool = False) -> np.ndarray:
    """A block's frames as the in-memory path reads them (:func:`classify_data.read_frames_labels`):
    (n, H, W), or (n, 3, H, W) for 3-channel frames unless ``grey`` (BT.601 luma)."""
    frames = batch.frames
    if frames.ndim == 4:
        if frames.shape[3] == 1:
            frames = frames[..., 0]
        elif grey:
            frames = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        else:
            frames = np.moveaxis(frames, 3, 1)
    return frames


@dataclass
class Scan:
    """What one streaming pass learns about a dataset (everything but the frames)."""

    n: int
    frame_shape: tuple[int, int]
    block: int
    channels: int  # of one frame as the network sees it (1, or 3 for RGB / pseudo-colour)
    grey: bool
    labels: np.ndarray  # (N,) int64, −1 unlabelled
    windows: np.ndarray  # (N, K) int64
    class_names: list[str]
    norm: Normalization
    label_kind: str | None


def scan(path: str | Path, *, frames_k: int, centered: bool, norm: Normalization | None, normalize: str = "frame",
         need_labels: bool = True, grey: bool = False) -> Scan:
    """One pass over ``path`` in blocks: per-frame fields, windows and (``norm`` None) the fit."""
    from thermcli import interrupt
    from thermcli.io import open_dataset

    where = str(path)
    if norm is None and normalize not in NORMALIZE:
        raise UsageError(f"{normalize!r}: expected one of {', '.join(NORMALIZE)}", param="--normalize")
    with open_dataset(path) as reader:
        shape, channels = _frame_shape(reader, where, grey)
        n = len(reader)
        block = block_rows(reader, shape[0] * shape[1] * 4 * channels)
        meta = reader.meta
        if need_labels and meta.label_kind not in (None, "multiclass"):
            raise DataError("multi-label labels are not supported by --task classify", path=where)
        moments = _Moments()
        labels, sequence, timestamp = [], [], []
        copies: dict[str, list] = {}
        has_labels = True
        for lo in range(0, n, block):
            interrupt.check()
            batch = reader.read(lo, min(lo + block, n))
            if batch.labels is None:
                has_labels = False
            else:
                labels.append(np.asarray(batch.labels))
            if batch.sequence is not None:
                sequence.append(np.asarray(batch.sequence))
            if batch.timestamp is not None:
                timestamp.append(np.asarray(batch.timestamp))
            for name in COPY_COLUMNS:
                if name in batch.columns:
                    copies.setdefault(name, []).append(np.asarray(batch.columns[name]))
            if norm is None and normalize != "none":
                x = _frames_of(batch, where, grey).astype(np.float64)
                if normalize in ("frame", "window"):  # one mean per frame (over its channels too)
                    x = x - np.nanmean(x.reshape(len(x), -1), axis=1).reshape(-1, *[1] * (x.ndim - 1))
                moments.add(x.ravel())
    if need_labels and not has_labels:
        raise DataError("has no labels; --task classify needs per-frame class labels", path=where)
    if need_labels and labels and np.concatenate(labels).ndim != 1:
        raise DataError("multi-label labels are not supported by --task classify", path=where)
    label_array = np.concatenate(labels).astype(np.int64) if has_labels and labels else np.full(n, -1, np.int64)
    if norm is None:
        if normalize == "none":
            norm = Normalization("none", 0.0, 1.0)
        elif normalize in ("frame", "window"):
            norm = Normalization(normalize, 0.0, moments.std or 1.0)
        else:
            norm = Normalization("dataset", moments.mean, moments.std or 1.0)
    info = SimpleNamespace(
        sequence=np.concatenate(sequence) if sequence else None,
        columns={name: np.concatenate(parts) for name, parts in copies.items()},
    )
    windows = sequence_windows(n, frames_k, window_groups(info), np.concatenate(timestamp) if timestamp else None,
                               where=where, centered=centered)
    return Scan(n, shape, block, channels, grey, label_array, windows, list(meta.class_names or []), norm, meta.label_kind)


class BlockFrames:
    """A classification split whose frames come from disk block by block.

    Same interface as :class:`~thermcli.stages.classify_data.ClassifyData` (``labels``,
    ``labelled``, ``batch(rows)``, ``class_names``, ``frame_shape``, ``path``), plus
    ``sample_blocks`` and ``plan`` for the engine. ``memory``: every block loaded at once and kept.
    """

    def __init__(self, path: str | Path, info: Scan, *, memory: bool):
        import torch

        self.path = str(path)
        self.info = info
        self.memory = memory
        self.norm = info.norm
        self.center_window = info.norm.mode == "window"
        self.class_names = info.class_names
        self.frame_shape = info.frame_shape
        self.channels = info.channels
        self.labels = torch.from_numpy(info.labels)
        self.windows = info.windows
        self.block_of = np.arange(info.n, dtype=np.int64) // info.block
        self.n_blocks = int(self.block_of[-1]) + 1 if info.n else 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._remaining: dict[int, int] | None = None
        self._lock = threading.Lock()
        self._reader = None
        self.reads: list[int] = []  # every block read, in order (tests and --verbose count them)
        trace = os.environ.get(TRACE_ENV)
        self._trace = f"{trace}.{os.environ.get('RANK', '0')}" if trace else None
        if memory:
            for j in range(self.n_blocks):
                self._cache[j] = self._load(j)

    def __len__(self) -> int:
        return int(self.info.n)

    @property
    def labelled(self):
        import torch

        return torch.nonzero(self.labels >= 0).flatten()

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for _, x in self._cache.values())

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if not self.memory:
            self._cache.clear()

    # -- reading ---------------------------------------------------------------------------------
    def _open(self):
        if self._reader is None:
            from thermcli.io import open_dataset

            self._reader = open_dataset(self.path)
        return self._reader

    def _load(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``j``: (sorted frame indices its windows need, those frames normalised)."""
        lo, hi = j * self.info.block, min((j + 1) * self.info.block, self.info.n)
        need = np.unique(self.windows[lo:hi])
        reader = self._open()
        parts = []
        runs = np.split(need, np.flatnonzero(np.diff(need) > 1) + 1)  # contiguous runs: one read each
        for run in runs:
            batch = reader.read(int(run[0]), int(run[-1]) + 1)
            parts.append(apply_normalization(_frames_of(batch, self.path, self.info.grey).astype(np.float32), self.norm))
        self.reads.append(j)
        if self._trace:
            with open(self._trace, "a") as fh:
                fh.write(f"{j}\n")
        return need, np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _block(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        entry = self._cache.get(j)
        if entry is None:
            entry = self._load(j)
            if self._remaining is None:  # no plan (validation, prediction): keep the last two blocks
                while len(self._cache) >= 2:
                    self._cache.pop(next(iter(self._cache)))
            self._cache[j] = entry
        return entry

    # -- the engine's hooks ------------------------------------------------------------------------
    def plan(self, frame_batches: list[np.ndarray]) -> None:
        """The frame rows of the batches still to come this epoch, in order: a streamed source
        drops each block after its last use."""
        if self._trace:
            with open(self._trace, "a") as fh:
                fh.write("epoch\n")
        if self.memory:
            return
        with self._lock:
            counts = np.bincount(self.block_of[np.concatenate(frame_batches)], minlength=self.n_blocks) if frame_batches else np.zeros(0)
            self._remaining = {int(j): int(c) for j, c in enumerate(counts) if c}
            for j in [j for j in self._cache if j not in self._remaining]:
                del self._cache[j]

    def unplan(self) -> None:
        with self._lock:
            self._remaining = None

    def batch(self, rows):
        """rows (B,) frame indices → (x (B, K·C, H, W) float32 tensor, y (B,) int64 tensor)."""
        import torch

        rows = np.asarray(rows.numpy() if hasattr(rows, "numpy") else rows, np.int64)
        k = self.windows.shape[1]
        per_frame = (self.channels, *self.frame_shape) if self.channels > 1 else self.frame_shape
        x = np.empty((len(rows), k, *per_frame), np.float32)
        blocks = self.block_of[rows]
        with self._lock:
            for j in np.unique(blocks):
                at = np.flatnonzero(blocks == j)
                need, frames = self._block(int(j))
                x[at] = frames[np.searchsorted(need, self.windows[rows[at]])]
                if self._remaining is not None and not self.memory:
                    left = self._remaining.get(int(j), 0) - len(at)
                    if left <= 0:
                        self._remaining.pop(int(j), None)
                        self._cache.pop(int(j), None)
                    else:
                        self._remaining[int(j)] = left
        xt = torch.from_numpy(x)
        if xt.ndim == 5:  # 3-channel frames: (B, K, 3, H, W) → K·3 input channels
            xt = xt.flatten(1, 2)
        if self.center_window:
            xt = xt - xt.mean(dim=(1, 2, 3), keepdim=True)
        return xt, self.labels[torch.from_numpy(rows)]


def dataset_bytes(info: Scan) -> int:
    return int(info.n) * info.frame_shape[0] * info.frame_shape[1] * 4 * info.channels


def available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def hold_in_memory(info: Scan, cache: str) -> bool:
    """``cache`` memory|none as given; auto: in memory when small enough."""
    check_cache(cache)
    if cache != "auto":
        return cache == "memory"
    size = dataset_bytes(info)
    return size <= MEMORY_LIMIT_BYTES and size <= available_memory() // 4


def open_split(path: str | Path, *, frames_k: int, centered: bool, norm: Normalization | None, normalize: str = "frame",
               cache: str = "auto", class_names: list[str] | None = None, need_labels: bool = True,
               grey: bool = False) -> BlockFrames:
    """A training/validation split, streamed or held according to ``cache``; 3-channel frames stay
    3 channels (or ``grey``: one luma channel), as the in-memory path reads them."""
    info = scan(path, frames_k=frames_k, centered=centered, norm=norm, normalize=normalize, need_labels=need_labels,
                grey=grey)
    if class_names is not None and info.class_names and list(info.class_names) != list(class_names):
        raise DataError(f"classes {info.class_names} differ from the training set's {class_names}", path=str(path))
    if not info.class_names and class_names:
        info.class_names = list(class_names)
    return BlockFrames(path, info, memory=hold_in_memory(info, cache))


def shuffle_buffer(data: BlockFrames, lanes: int) -> int:
    """Rows each lane shuffles together: :data:`BUFFER_BYTES` over the lanes, at least a block."""
    frame_bytes = data.frame_shape[0] * data.frame_shape[1] * 4 * data.channels * data.windows.shape[1]
    return max(data.info.block, BUFFER_BYTES // max(frame_bytes * lanes, 1))
