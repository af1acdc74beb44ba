"""The adaptation stage's data: the source, target and target-validation sets read and reconciled
(RGB → grey, sizes, class order) into standardised network inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError

ASPECT_TOLERANCE = 1.25  # sizes whose aspect ratios differ more than this are not resized


@dataclass
class Domain:
    """One domain's frames ready for the network: ``x`` (N, C, H, W) float32 standardised."""

    name: str
    path: str
    x: np.ndarray
    y: np.ndarray | None  # (N,) int64 or (N, L) float32; None: unlabelled
    input_spec: dict[str, Any]


def _read(path: Path, role: str):
    from thermcli.io import open_dataset

    with open_dataset(path) as reader:
        if reader.n == 0:
            raise DataError(f"{role} set has no frames", path=str(path))
        return reader.read_all()


def _channels(frames: np.ndarray) -> int:
    return 1 if frames.ndim == 3 else int(frames.shape[3])


def _to_float(ds) -> np.ndarray:
    """(N, H, W[, C]) → (N, H, W, C) float32 in the unit's natural scale (intensity/counts → 0..1)."""
    frames = ds.frames
    if ds.meta.unit == "intensity":
        x = frames.astype(np.float32) / 255.0
    elif ds.meta.unit == "counts":
        x = frames.astype(np.float32) / 65535.0
    else:
        x = frames.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if np.isnan(x).any():  # masked pixels: the frame's own mean, so they carry no contrast
        means = np.nanmean(x, axis=(1, 2, 3), keepdims=True)
        x = np.where(np.isnan(x), means, x)
    return x


def _luminance(x: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of (N, H, W, 3) → (N, H, W, 1)."""
    return (x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    if x.shape[1:3] == (h, w):
        return x
    interp = cv2.INTER_AREA if x.shape[1] > h else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(frame, (w, h), interpolation=interp) for frame in x])
    return out.reshape(len(x), h, w, x.shape[3])


def _check_size(source_hw: tuple[int, int], other_hw: tuple[int, int], path: str) -> None:
    a = source_hw[1] / source_hw[0]
    b = other_hw[1] / other_hw[0]
    if max(a, b) / min(a, b) > ASPECT_TOLERANCE:
        raise DataError(
            f"frames of {other_hw[0]}×{other_hw[1]} cannot be reconciled with the source's "
            f"{source_hw[0]}×{source_hw[1]} (aspect ratios {b:.2f} vs {a:.2f}); crop them first",
            path=path,
        )


def _labels(ds, path: str, role: str, class_names: list[str] | None) -> np.ndarray | None:
    """Labels as training targets, in the source's class order; None when unlabelled."""
    if ds.labels is None:
        return None
    if ds.meta.label_kind == "multiclass":
        y = ds.labels.astype(np.int64)
        if (y < 0).all():
            return None
        if (y < 0).any():
            raise DataError(f"{role} set mixes labelled and unlabelled (−1) frames", path=path)
    else:
        y = ds.labels.astype(np.float32)
    names = ds.meta.class_names
    if class_names is not None and names is not None and names != class_names:
        order = [names.index(c) for c in class_names]
        if ds.meta.label_kind == "multiclass":
            remap = np.empty(len(names), np.int64)
            remap[order] = np.arange(len(class_names))
            y = remap[y]
        else:
            y = y[:, order]
    return y


def load_domains(
    source: Path,
    target: Path,
    target_val: Path | None,
    *,
    size: tuple[int, int] | None,
    normalize: str,
) -> tuple[Domain, Domain, Domain | None, list[str], str, list[str]]:
    """Read and reconcile the three sets; returns (source, target, target_val, class_names,
    label_kind, notes) where ``notes`` says what was converted (resizes, RGB → grey)."""
    src = _read(source, "source")
    tgt = _read(target, "target")
    val = _read(target_val, "target validation") if target_val is not None else None
    if src.labels is None or (src.meta.label_kind == "multiclass" and (src.labels < 0).all()):
        raise DataError("source set has no labels: adaptation needs a labelled source", path=str(source))
    kind = src.meta.label_kind
    names = list(src.meta.class_names or [])
    if not names:
        width = int(src.labels.max()) + 1 if kind == "multiclass" else int(src.labels.shape[1])
        names = [str(i) for i in range(width)]
    for ds, path, role in ((tgt, target, "target"), (val, target_val, "target validation")):
        if ds is None:
            continue
        if ds.labels is not None and ds.meta.label_kind != kind:
            raise DataError(f"{role} labels are {ds.meta.label_kind} but the source's are {kind}", path=str(path))
        other = ds.meta.class_names
        if other is not None and sorted(other) != sorted(names):
            raise DataError(f"{role} classes {other} differ from the source's {names}", path=str(path))
    if val is not None and _labels(val, str(target_val), "target validation", names) is None:
        raise DataError("target validation set has no labels", path=str(target_val))

    notes: list[str] = []
    channels = {_channels(d.frames) for d in (src, tgt, val) if d is not None}
    if not channels <= {1, 3}:
        raise DataError(f"frames have {sorted(channels)} channels; only 1 (grey/thermal) and 3 (RGB) can be reconciled", path=str(target))
    grey = channels == {1, 3}
    if grey:
        notes.append("RGB frames converted to grey (BT.601 luma) to match the 1-channel domain")
    src_hw = tuple(int(v) for v in src.frames.shape[1:3])
    work = tuple(size) if size is not None else src_hw
    domains = []
    for ds, path, role in ((src, source, "source"), (tgt, target, "target"), (val, target_val, "target_val")):
        if ds is None:
            domains.append(None)
            continue
        hw = tuple(int(v) for v in ds.frames.shape[1:3])
        _check_size(work, hw, str(path))
        x = _to_float(ds)
        if grey and x.shape[3] == 3:
            x = _luminance(x)
        if hw != work:
            notes.append(f"{role} frames resized from {hw[0]}×{hw[1]} to {work[0]}×{work[1]}")
            x = _resize(x, work)
        domains.append((ds, str(path), role, x))
    # each domain standardised by its own statistics (target_val shares the target's: it is the
    # same domain, and its statistics must not leak into anything)
    stats: dict[str, tuple[float, float]] = {}
    out: list[Domain | None] = []
    for item in domains:
        if item is None:
            out.append(None)
            continue
        ds, path, role, x = item
        key = "target" if role == "target_val" else role
        if key not in stats:
            if normalize == "domain":
                mean, std = float(x.mean()), float(x.std()) or 1.0
            else:
                mean, std = 0.0, 1.0
            stats[key] = (mean, std)
        mean, std = stats[key]
        spec = {
            "unit": ds.meta.unit,
            "channels": int(x.shape[3]),
            "rgb_to_grey": bool(grey and _channels(ds.frames) == 3),
            "size": [int(work[0]), int(work[1])],
            "scale": {"intensity": 1 / 255.0, "counts": 1 / 65535.0}.get(ds.meta.unit, 1.0),
            "mean": mean,
            "std": std,
            "normalize": normalize,
            "formula": "x = (frames * scale - mean) / std, (N, C, H, W)",
        }
        xs = np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)
        y = _labels(ds, path, role, names) if role != "target" else None
        out.append(Domain(role, path, xs, y, spec))
    return out[0], out[1], out[2], names, kind, notes
