"""Classification data in memory: frames → normalised tensors, K-frame windows within a sequence,
labels, class weights and resampling weights.

Small thermal datasets fit in memory many times over (1000 frames of 20×24 °C is 2 MB), so the
training loop indexes one tensor instead of going through a DataLoader: that is what keeps the
pipeline within a few percent of a bare PyTorch loop (bench/train_throughput.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError

NORMALIZE = ("frame", "window", "dataset", "none")


@dataclass(frozen=True)
class Normalization:
    """How frames become network input; stored in the checkpoint so predict does the same.

    ``frame``: subtract each frame's own mean (°C offsets between subjects and cameras vanish),
    then divide by ``std`` (the training set's spread of those offsets). ``window``: like ``frame``
    but the mean subtracted is that of the whole K-frame window, so a change of temperature over the
    window (warming while exhaling) survives. ``dataset``: subtract the
    training set's mean and divide by its std. ``none``: °C as they are.
    """

    mode: str = "frame"
    mean: float = 0.0
    std: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fit_normalization(frames: np.ndarray, mode: str) -> Normalization:
    """frames (N, H, W) float32 °C (NaN allowed) → the normalisation fitted on them."""
    if mode not in NORMALIZE:
        raise UsageError(f"{mode!r}: expected one of {', '.join(NORMALIZE)}", param="--normalize")
    x = frames.astype(np.float64)
    if mode == "none":
        return Normalization("none", 0.0, 1.0)
    if mode in ("frame", "window"):  # (N, H, W) or 3-channel (N, 3, H, W): one mean per frame
        x = x - np.nanmean(x.reshape(len(x), -1), axis=1).reshape(-1, *[1] * (x.ndim - 1))
        return Normalization(mode, 0.0, float(np.nanstd(x)) or 1.0)
    return Normalization("dataset", float(np.nanmean(x)), float(np.nanstd(x)) or 1.0)


def apply_normalization(frames: np.ndarray, norm: Normalization | dict) -> np.ndarray:
    """frames (N, H, W) float32 → normalised float32; NaN (masked pixels) become 0."""
    if isinstance(norm, dict):
        norm = Normalization(**norm)
    x = frames.astype(np.float32, copy=True)
    if norm.mode == "frame":
        x -= np.nanmean(x.reshape(len(x), -1), axis=1).astype(np.float32).reshape(-1, *[1] * (x.ndim - 1))
    x = (x - np.float32(norm.mean)) / np.float32(norm.std)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def sequence_windows(n: int, k: int, sequence: np.ndarray | None, timestamp: np.ndarray | None,
                     *, where: str = "dataset", centered: bool = False) -> np.ndarray:
    """Rows of the K frames that end at each frame, never crossing a sequence boundary.

    Returns (N, K) int64: row i holds frame i's K−1 predecessors in its own sequence (ordered by
    timestamp when there is one) and then i; the first frames of a sequence repeat the sequence's
    first frame instead of reaching into another sequence. K longer than a sequence is an error:
    such a window would be mostly padding. ``centered``: the window is frames i − ⌊(K−1)/2⌋ …
    i + ⌈(K−1)/2⌉ instead (offline analysis: a thermal response that lags the airflow is seen);
    the last frames of a sequence then repeat its last frame.
    """
    if k < 1:
        raise UsageError("must be ≥ 1", param="--frames")
    windows = np.empty((n, k), np.int64)
    if sequence is None:
        groups = {"": np.arange(n)}
    else:
        keys = np.asarray(sequence).astype(str)
        groups = {str(key): np.flatnonzero(keys == key) for key in dict.fromkeys(keys)}
    for key, rows in groups.items():
        if timestamp is not None:
            rows = rows[np.argsort(timestamp[rows], kind="stable")]
        if k > len(rows):
            raise UsageError(
                f"K = {k} is longer than sequence {key or '(whole dataset)'!r} of {len(rows)} frames in {where}",
                param="--frames",
            )
        ahead = (k - 1) - (k - 1) // 2 if centered else 0
        for j in range(k):
            back = np.arange(len(rows)) - (k - 1 - j) + ahead
            windows[rows, j] = rows[np.clip(back, 0, len(rows) - 1)]
    return windows


@dataclass
class ClassifyData:
    """One split in memory: inputs (N, H, W) normalised, labels (N,), windows (N, K)."""

    inputs: Any  # torch.Tensor float32 (N, H, W)
    labels: Any  # torch.Tensor int64 (N,), −1 = unlabelled
    windows: Any  # torch.Tensor int64 (N, K)
    class_names: list[str]
    frame_shape: tuple[int, int]
    path: str
    center_window: bool = False  # subtract each K-frame window's mean at batch time (--normalize window)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def channels(self) -> int:
        """Channels of one frame: 1 (thermal, grey) or 3 (RGB / pseudo-colour)."""
        return int(self.inputs.shape[1]) if self.inputs.ndim == 4 else 1

    def batch(self, rows):
        """rows (B,) int64 tensor → (x (B, K, H, W), y (B,))."""
        x = self.inputs[self.windows[rows]]
        if x.ndim == 5:  # 3-channel frames: (B, K, 3, H, W) → K·3 input channels
            x = x.flatten(1, 2)
        if self.center_window:
            x = x - x.mean(dim=(1, 2, 3), keepdim=True)
        return x, self.labels[rows]

    @property
    def labelled(self):
        import torch

        return torch.nonzero(self.labels >= 0).flatten()


def read_frames_labels(path: str | Path, *, need_labels: bool = True, grey: bool = False):
    """Read a dataset for classification; frames (N, H, W) float — or (N, 3, H, W) for RGB /
    pseudo-colour frames, unless ``grey`` converts them (ITU-R BT.601 luma, as OpenCV) —, labels
    (N,) int64 or None."""
    from thermcli.io import read_dataset

    ds = read_dataset(path)
    frames = ds.frames
    if frames.ndim == 4:
        if frames.shape[3] not in (1, 3):
            raise DataError(f"classification takes 1- or 3-channel frames, got {frames.shape[3]} channels", path=str(path))
        if frames.shape[3] == 1:
            frames = frames[..., 0]
        elif grey:
            frames = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        else:
            frames = np.moveaxis(frames, 3, 1)
    if need_labels:
        if ds.labels is None:
            raise DataError("has no labels; --task classify needs per-frame class labels", path=str(path))
        if ds.meta.label_kind != "multiclass":
            raise DataError("multi-label labels are not supported by --task classify", path=str(path))
    return ds, frames.astype(np.float32)


# Columns that mark a copy of a sequence (threshold levels, augmented copies): a K-frame window
# stays within one copy, not only within one sequence id.
COPY_COLUMNS = ("threshold_level", "aug_copy")


def window_groups(ds) -> np.ndarray | None:
    """The group of each frame for K-frame windows: its sequence, refined by copy columns."""
    if ds.sequence is None:
        return None
    keys = np.asarray(ds.sequence).astype(str).astype(object)
    for name in COPY_COLUMNS:
        if name in ds.columns and np.asarray(ds.columns[name]).ndim == 1:
            keys = keys + "|" + np.asarray(ds.columns[name]).astype(str).astype(object)
    return keys


def load_split(path: str | Path, *, frames_k: int, norm: Normalization | None, normalize: str = "frame",
               class_names: list[str] | None = None, need_labels: bool = True, centered: bool = False,
               grey: bool = False):
    """(ClassifyData, Normalization, Dataset): fit the normalisation here when ``norm`` is None (training)."""
    ds, frames = read_frames_labels(path, need_labels=need_labels, grey=grey)
    data, norm = prepare(ds, frames, str(path), frames_k=frames_k, norm=norm, normalize=normalize, class_names=class_names,
                         centered=centered)
    return data, norm, ds


def prepare(ds, frames: np.ndarray, where: str, *, frames_k: int, norm: Normalization | None, normalize: str = "frame",
            class_names: list[str] | None = None, centered: bool = False):
    """In-memory Dataset (+ its frames as (N, H, W) float32) → (ClassifyData, Normalization)."""
    import torch

    names = ds.meta.class_names or (class_names or [])
    if class_names is not None and ds.meta.class_names and list(ds.meta.class_names) != list(class_names):
        raise DataError(f"classes {ds.meta.class_names} differ from the training set's {class_names}", path=where)
    if norm is None:
        norm = fit_normalization(frames, normalize)
    x = apply_normalization(frames, norm)
    labels = ds.labels if ds.labels is not None else np.full(len(ds), -1, np.int64)
    windows = sequence_windows(len(ds), frames_k, window_groups(ds), ds.timestamp, where=where, centered=centered)
    data = ClassifyData(
        inputs=torch.from_numpy(x),
        labels=torch.from_numpy(labels.astype(np.int64)),
        windows=torch.from_numpy(windows),
        class_names=list(names),
        frame_shape=tuple(frames.shape[-2:]),
        path=where,
        center_window=norm.mode == "window",
    )
    return data, norm


def check_trainable(data: ClassifyData) -> int:
    """Number of classes; refuse data that cannot train a classifier."""
    labelled = data.labels[data.labels >= 0]
    if labelled.numel() == 0:
        raise DataError("no labelled frames (every label is −1)", path=data.path)
    present = sorted(set(labelled.tolist()))
    n_classes = max(len(data.class_names), max(present) + 1)
    if len(present) < 2:
        name = data.class_names[present[0]] if present[0] < len(data.class_names) else str(present[0])
        raise DataError(f"the training set holds a single class ({name!r}); a classifier needs at least two", path=data.path)
    return n_classes


def class_weights(labels, n_classes: int):
    """Inverse-frequency weights n / (C · count_c) over labelled frames (sklearn's 'balanced')."""
    import torch

    y = labels[labels >= 0]
    counts = torch.bincount(y, minlength=n_classes).to(torch.float32)
    weights = torch.where(counts > 0, y.numel() / (n_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return weights
