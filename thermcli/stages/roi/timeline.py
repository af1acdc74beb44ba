"""``roi``'s time axis: timestamps, recordings and subjects per frame, the reference column,
sampling rates and per-recording smoothing."""

from __future__ import annotations

import math

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops.series import smooth
from thermcli.stages.roi.config import BreathingConfig, RoiConfig


def _timeline(reader, config: RoiConfig, where: str) -> tuple[np.ndarray, list[str], list[str]]:
    n = reader.n
    if config.fps is not None:
        times = np.arange(n, dtype=np.float64) / config.fps
    elif "timestamp" in reader.fields:
        times = reader.read_field("timestamp").astype(np.float64)
    elif reader.meta.attrs.get("fps"):
        times = np.arange(n, dtype=np.float64) / float(reader.meta.attrs["fps"])
    else:
        raise DataError("has no timestamps; pass --fps", path=where)
    subjects = [str(s) for s in reader.read_field("subject")] if "subject" in reader.fields else ["-"] * n
    if config.by == "none":
        recordings = ["all"] * n
    elif config.by in reader.fields:
        recordings = [str(s) for s in reader.read_field(config.by)]
    else:
        recordings = ["all"] * n
    return times, recordings, subjects


def _reference_column(reader, breathing: BreathingConfig | None, where: str) -> tuple[str, np.ndarray] | None:
    if breathing is None or breathing.reference is None:
        return None
    kind, _, column = breathing.reference.partition(":")
    column = column.removeprefix("columns/")
    if kind not in ("rate", "flow") or not column:
        raise UsageError(f"{breathing.reference!r}: expected rate:COLUMN or flow:COLUMN", param="--reference")
    if column not in reader.column_names:
        raise DataError(f"has no column {column!r} for --reference (columns: {', '.join(reader.column_names) or 'none'})", path=where)
    return kind, np.asarray(reader.read_field(f"columns/{column}"), dtype=np.float64).reshape(reader.n, -1)[:, 0]


def _sampling_rate(times: np.ndarray) -> float:
    steps = np.diff(times)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(1.0 / np.median(steps)) if len(steps) else math.nan


def _smooth_by_recording(values: np.ndarray, times: np.ndarray, runs, method: str, seconds: float) -> np.ndarray:
    out = values.copy()
    for _, lo, hi in runs:
        fs = _sampling_rate(times[lo:hi])
        window = max(1, int(round(seconds * fs))) if math.isfinite(fs) else 1
        out[lo:hi] = smooth(values[lo:hi], method, window)
    return out
