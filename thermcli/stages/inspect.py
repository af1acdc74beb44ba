"""Summaries of artifacts for ``thermcli info``: datasets, checkpoints, JSON sidecars, run folders."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError
from thermcli.io.provenance import lineage, read_provenance


def summarize(path: str | Path, *, batch_size: int = 512) -> dict[str, Any]:
    """A JSON-able summary of the artifact at ``path`` (kind decided by content, not name)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    if path.is_dir():
        if (path / "config.json").is_file() and not (path / "thermcli.json").is_file():
            return _summarize_run(path)
        return _summarize_dataset(path, batch_size)
    suffix = path.suffix.lower()
    if suffix == ".pt":
        from thermcli.models.checkpoint import describe_checkpoint

        return describe_checkpoint(path)
    if suffix == ".json":
        return _summarize_json(path)
    return _summarize_dataset(path, batch_size)


def _summarize_dataset(path: Path, batch_size: int) -> dict[str, Any]:
    from thermcli.io import open_dataset

    with open_dataset(path) as reader:
        meta = reader.meta
        lo, hi = np.inf, -np.inf
        nan_count = 0
        total = 0
        for batch in reader.iter_batches(batch_size):
            frames = batch.frames
            if frames.dtype.kind == "f":
                nan = np.isnan(frames)
                nan_count += int(nan.sum())
                if not nan.all():
                    lo = min(lo, float(np.nanmin(frames)))
                    hi = max(hi, float(np.nanmax(frames)))
            else:
                lo = min(lo, float(frames.min()))
                hi = max(hi, float(frames.max()))
            total += frames.size
        summary: dict[str, Any] = {
            "kind": "dataset",
            "path": str(path),
            "format": "hdf5" if path.is_file() else "png-folder",
            "frames": reader.n,
            "frame_shape": list(reader.frame_shape),
            "dtype": str(np.dtype(reader.frame_dtype)),
            "unit": meta.unit,
            "modality": meta.modality,
            "value_range": [lo, hi],
            "nan_fraction": nan_count / total if total else 0.0,
            "fields": list(reader.fields),
            "columns": list(reader.column_names),
            "attrs": meta.attrs,
        }
        camera = meta.attrs.get("camera")
        if isinstance(camera, dict):  # a radiometric recording's camera and lens (thermcli.io.fff)
            summary["camera"] = {k: camera[k] for k in ("make", "model", "serial", "lens") if k in camera}
        if "labels" in reader.fields:
            labels = reader.read_field("labels")
            names = meta.class_names
            if labels.ndim == 1:
                counts = Counter(int(v) for v in labels)
                summary["classes"] = {
                    (names[k] if names and 0 <= k < len(names) else ("unlabelled" if k == -1 else str(k))): c
                    for k, c in sorted(counts.items())
                }
            else:
                summary["classes"] = {
                    (names[j] if names else str(j)): int(labels[:, j].sum()) for j in range(labels.shape[1])
                }
        if meta.keypoint_names:
            summary["keypoint_names"] = meta.keypoint_names
        if "keypoints" in reader.fields:
            kp = reader.read_field("keypoints")
            summary["people_per_frame"] = int(kp.shape[1])
            summary["labelled_keypoints"] = int((kp[..., 2] > 0).sum())
        for key in ("subject", "sequence"):
            if key in reader.fields:
                counts = Counter(reader.read_field(key).tolist())
                summary[f"{key}s"] = dict(sorted(counts.items()))
        if "timestamp" in reader.fields:
            ts = reader.read_field("timestamp")
            summary["timestamp_range"] = [float(ts.min()), float(ts.max())]
        summary["provenance"] = meta.provenance or None
    return summary


def _summarize_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"not valid JSON ({' '.join(str(exc).split())[:100]})", path=str(path)) from None
    kind = data.get("kind", "json") if isinstance(data, dict) else "json"
    summary = {"kind": kind, "path": str(path)}
    if isinstance(data, dict):
        summary["keys"] = sorted(data)
        summary["provenance"] = data.get("provenance")
    return summary


def _summarize_run(path: Path) -> dict[str, Any]:
    config = json.loads((path / "config.json").read_text())
    summary: dict[str, Any] = {"kind": "run", "path": str(path), "config": config}
    metrics = path / "metrics.csv"
    if metrics.is_file():
        lines = metrics.read_text().splitlines()
        if len(lines) > 1:
            header = lines[0].split(",")
            summary["epochs"] = len(lines) - 1
            summary["last_epoch"] = dict(zip(header, lines[-1].split(",")))
    summary["files"] = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    summary["provenance"] = read_provenance(path)
    return summary


def lineage_rows(summary: dict[str, Any]) -> list[tuple[int, str]]:
    return lineage(summary.get("provenance"))
