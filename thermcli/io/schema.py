"""The artifact contract: what a thermcli dataset holds, and how it is checked.

A dataset is N frames plus optional per-frame fields, all of length N, and dataset-wide metadata.

Frames ``(N, H, W)`` or ``(N, H, W, C)``; their dtype follows the unit:

=============  =========  =====================================================
unit           dtype      meaning
=============  =========  =====================================================
``celsius``    float32    radiometric temperature in °C; NaN marks a masked pixel
``kelvin``     float32    radiometric temperature in K;  NaN marks a masked pixel
``counts``     uint16     raw sensor counts (not temperatures)
``intensity``  uint8      8-bit display values (grey or pseudo-colour)
=============  =========  =====================================================

Per-frame fields (every one optional, every one of length N):

- ``rgb``         ``(N, h, w, 3)`` uint8, the paired RGB frame (its own size)
- ``labels``      ``(N,)`` int64 class index (−1 = unlabelled), or ``(N, L)`` uint8 multi-label 0/1
- ``keypoints``   ``(N, P, K, 3)`` float32: x, y (frame pixels) and visibility (0 absent,
                  1 occluded, 2 visible) for up to P people a frame
- ``boxes``       ``(N, P, 4)`` float32 x, y, w, h in pixels; a NaN row means "no person here"
- ``box_classes`` ``(N, P)`` int32 class of each box (``box_class_names``)
- ``scores``      ``(N, P)`` float32 detection/pose confidence (predictions)
- ``subject``, ``sequence``  ``(N,)`` str ids for group-aware splits
- ``timestamp``   ``(N,)`` float64 seconds
- ``columns``     named extra per-frame arrays ``(N, ...)`` (signals, threshold level,
                  augmentation parameters, crop transforms, …)

Why ``(N, P, K, 3)`` and not DESIGN.md's ``(N, K, 3)``: COCO images and real thermal scenes hold
several people; a single-person dataset simply has P = 1.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from thermcli.errors import DataError

SCHEMA_NAME = "thermcli.dataset"
SCHEMA_VERSION = 1
KNOWN_VERSIONS = (1,)

UNITS = ("celsius", "kelvin", "counts", "intensity")
MODALITIES = ("thermal", "rgb")
UNIT_DTYPES = {
    "celsius": np.dtype(np.float32),
    "kelvin": np.dtype(np.float32),
    "counts": np.dtype(np.uint16),
    "intensity": np.dtype(np.uint8),
}
RADIOMETRIC_UNITS = ("celsius", "kelvin")
LABEL_KINDS = ("multiclass", "multilabel")

PER_FRAME_FIELDS = (
    "rgb",
    "labels",
    "keypoints",
    "boxes",
    "box_classes",
    "scores",
    "subject",
    "sequence",
    "timestamp",
)
STRING_FIELDS = ("subject", "sequence")
FIELD_DTYPES = {
    "rgb": np.dtype(np.uint8),
    "keypoints": np.dtype(np.float32),
    "boxes": np.dtype(np.float32),
    "box_classes": np.dtype(np.int32),
    "scores": np.dtype(np.float32),
    "timestamp": np.dtype(np.float64),
}

# COCO's 17 person keypoints, the default keypoint set.
COCO_KEYPOINT_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
COCO_SIGMAS = [
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
]
COCO_SKELETON = [  # 0-based joint index pairs
    [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7],
    [6, 8], [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
]
COCO_FLIP_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]


@dataclass
class Meta:
    """Dataset-wide metadata (stored once, not per frame)."""

    unit: str
    modality: str = "thermal"
    class_names: list[str] | None = None
    label_kind: str = "multiclass"
    keypoint_names: list[str] | None = None
    skeleton: list[list[int]] | None = None
    sigmas: list[float] | None = None
    flip_pairs: list[list[int]] | None = None
    box_class_names: list[str] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Meta":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise DataError(f"unknown metadata keys {sorted(unknown)}")
        return cls(**data)

    def copy(self, **changes: Any) -> "Meta":
        new = copy.deepcopy(self)
        for key, value in changes.items():
            setattr(new, key, value)
        return new


@dataclass
class Dataset:
    """Frames and per-frame fields in memory: a whole (small) dataset or one streamed batch."""

    frames: np.ndarray
    meta: Meta
    rgb: np.ndarray | None = None
    labels: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    boxes: np.ndarray | None = None
    box_classes: np.ndarray | None = None
    scores: np.ndarray | None = None
    subject: np.ndarray | None = None
    sequence: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def unit(self) -> str:
        return self.meta.unit

    @property
    def modality(self) -> str:
        return self.meta.modality

    def fields(self) -> list[str]:
        """Names of the per-frame fields present (``columns`` not included)."""
        return [name for name in PER_FRAME_FIELDS if getattr(self, name) is not None]

    def per_frame(self) -> dict[str, np.ndarray]:
        """Every per-frame array by name, frames included; columns as ``columns/NAME``."""
        out: dict[str, np.ndarray] = {"frames": self.frames}
        for name in self.fields():
            out[name] = getattr(self, name)
        for name, values in self.columns.items():
            out[f"columns/{name}"] = values
        return out

    def take(self, index: np.ndarray | slice | Sequence[int]) -> "Dataset":
        """Rows ``index`` of every per-frame field (a new Dataset; arrays are copies for fancy indices)."""
        if not isinstance(index, slice):
            index = np.asarray(index, dtype=np.int64)
        kwargs: dict[str, Any] = {"frames": self.frames[index], "meta": self.meta}
        for name in self.fields():
            kwargs[name] = getattr(self, name)[index]
        kwargs["columns"] = {k: v[index] for k, v in self.columns.items()}
        return Dataset(**kwargs)

    def replace(self, **changes: Any) -> "Dataset":
        return dataclasses.replace(self, **changes)

    @staticmethod
    def concat(parts: Iterable["Dataset"]) -> "Dataset":
        parts = list(parts)
        if not parts:
            raise ValueError("concat of no datasets")
        first = parts[0]
        kwargs: dict[str, Any] = {"meta": first.meta}
        kwargs["frames"] = np.concatenate([p.frames for p in parts])
        for name in first.fields():
            kwargs[name] = np.concatenate([getattr(p, name) for p in parts])
        kwargs["columns"] = {k: np.concatenate([p.columns[k] for p in parts]) for k in first.columns}
        return Dataset(**kwargs)


def frame_dtype(unit: str) -> np.dtype:
    return UNIT_DTYPES[unit]


def validate_meta(meta: Meta, *, where: str = "dataset") -> None:
    """Check the dataset-wide metadata; raise ``DataError`` naming ``where``."""
    if meta.unit not in UNITS:
        raise DataError(f"unknown unit {meta.unit!r} (expected one of {', '.join(UNITS)})", path=where)
    if meta.modality not in MODALITIES:
        raise DataError(f"unknown modality {meta.modality!r} (expected thermal or rgb)", path=where)
    if meta.label_kind not in LABEL_KINDS:
        raise DataError(f"unknown label kind {meta.label_kind!r}", path=where)
    if meta.keypoint_names is not None:
        k = len(meta.keypoint_names)
        if meta.sigmas is not None and len(meta.sigmas) != k:
            raise DataError(f"{len(meta.sigmas)} OKS sigmas for {k} keypoints", path=where)
        for pairs, what in ((meta.flip_pairs, "flip pair"), (meta.skeleton, "skeleton edge")):
            for pair in pairs or []:
                if len(pair) != 2 or not all(0 <= int(j) < k for j in pair):
                    raise DataError(f"{what} {pair} is outside the {k} keypoints", path=where)


def validate(ds: Dataset, *, where: str = "dataset", check_values: bool = True, offset: int = 0) -> None:
    """Check a dataset (or batch) against the contract; raise ``DataError`` naming ``where``.

    Checks dtypes, shapes, lengths and (``check_values``) that no frame is all-NaN or holds
    infinities. Cost is O(data) for the value checks, so readers run it batch by batch.
    """
    validate_meta(ds.meta, where=where)
    frames = ds.frames
    if not isinstance(frames, np.ndarray) or frames.ndim not in (3, 4):
        shape = getattr(frames, "shape", None)
        raise DataError(f"frames must be (N, H, W) or (N, H, W, C), got shape {shape}", path=where)
    expected = UNIT_DTYPES[ds.meta.unit]
    if frames.dtype != expected:
        raise DataError(f"frames of unit {ds.meta.unit} must be {expected}, got {frames.dtype}", path=where)
    n = frames.shape[0]
    if frames.shape[1] < 1 or frames.shape[2] < 1 or (frames.ndim == 4 and frames.shape[3] < 1):
        raise DataError(f"frames have an empty dimension: shape {frames.shape}", path=where)
    for name in ds.fields():
        values = getattr(ds, name)
        if len(values) != n:
            raise DataError(f"{name} has {len(values)} rows but there are {n} frames", path=where)
        want = FIELD_DTYPES.get(name)
        if want is not None and values.dtype != want:
            raise DataError(f"{name} must be {want}, got {values.dtype}", path=where)
    for name, values in ds.columns.items():
        if not isinstance(name, str) or not name.strip() or "/" in name or name in (".", ".."):
            # HDF5 would store "a/b" as a group a holding b: a dataset nothing can read back
            raise DataError(f"column name {name!r} is not usable (empty, '/', '.' or '..')", path=where)
        if len(values) != n:
            raise DataError(f"column {name} has {len(values)} rows but there are {n} frames", path=where)
    if ds.rgb is not None and (ds.rgb.ndim != 4 or ds.rgb.shape[3] != 3):
        raise DataError(f"rgb must be (N, h, w, 3) uint8, got shape {ds.rgb.shape}", path=where)
    if ds.labels is not None:
        _validate_labels(ds, where)
    if ds.keypoints is not None:
        kp = ds.keypoints
        if kp.ndim != 4 or kp.shape[3] != 3:
            raise DataError(f"keypoints must be (N, P, K, 3), got shape {kp.shape}", path=where)
        if ds.meta.keypoint_names is not None and kp.shape[2] != len(ds.meta.keypoint_names):
            raise DataError(
                f"keypoints have {kp.shape[2]} joints but {len(ds.meta.keypoint_names)} keypoint names",
                path=where,
            )
    if ds.boxes is not None:
        if ds.boxes.ndim != 3 or ds.boxes.shape[2] != 4:
            raise DataError(f"boxes must be (N, P, 4) x, y, w, h, got shape {ds.boxes.shape}", path=where)
        if ds.keypoints is not None and ds.boxes.shape[1] != ds.keypoints.shape[1]:
            raise DataError("boxes and keypoints hold a different number of people per frame", path=where)
    for name in ("box_classes", "scores"):
        values = getattr(ds, name)
        if values is not None:
            people = ds.boxes.shape[1] if ds.boxes is not None else None
            if values.ndim != 2 or (people is not None and values.shape[1] != people):
                raise DataError(f"{name} must be (N, P) matching boxes, got shape {values.shape}", path=where)
    if ds.timestamp is not None and n and not np.all(np.isfinite(ds.timestamp)):
        raise DataError("timestamps must be finite", path=where)
    if check_values and n and frames.dtype.kind == "f":
        _validate_values(frames, where, offset)


def _validate_labels(ds: Dataset, where: str) -> None:
    labels = ds.labels
    if ds.meta.label_kind == "multiclass":
        if labels.ndim != 1 or labels.dtype != np.int64:
            raise DataError(f"class labels must be (N,) int64, got {labels.dtype} {labels.shape}", path=where)
        if ds.meta.class_names is not None and labels.size:
            hi = int(labels.max())
            lo = int(labels.min())
            if lo < -1 or hi >= len(ds.meta.class_names):
                raise DataError(
                    f"label {hi if hi >= len(ds.meta.class_names) else lo} is outside the "
                    f"{len(ds.meta.class_names)} classes {ds.meta.class_names}",
                    path=where,
                )
    else:
        if labels.ndim != 2 or labels.dtype != np.uint8:
            raise DataError(f"multi-label labels must be (N, L) uint8, got {labels.dtype} {labels.shape}", path=where)
        if ds.meta.class_names is not None and labels.shape[1] != len(ds.meta.class_names):
            raise DataError(f"{labels.shape[1]} label columns but {len(ds.meta.class_names)} label names", path=where)


def _validate_values(frames: np.ndarray, where: str, offset: int = 0) -> None:
    flat = frames.reshape(frames.shape[0], -1)
    finite = np.isfinite(flat)
    if not finite.all():
        if np.isinf(flat).any():
            row = int(np.nonzero(np.isinf(flat).any(axis=1))[0][0])
            raise DataError(f"frame {row + offset} holds infinite values", path=where)
        all_nan = ~finite.any(axis=1)
        if all_nan.any():
            row = int(np.nonzero(all_nan)[0][0])
            raise DataError(f"frame {row + offset} is all NaN", path=where)
