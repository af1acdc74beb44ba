"""Time series of region statistics: gap filling, smoothing and per-recording summaries.

Pure NumPy/SciPy. Times are seconds, values are in the frame's unit (°C for radiometric data).

>>> import numpy as np
>>> t = np.arange(5.0)
>>> s = summarize_series(t, np.array([1.0, 1.0, 2.0, 4.0, 3.0]), baseline=(0.0, 1.0))
>>> s["baseline"], s["peak"], s["time_to_peak_s"], s["change"]
(1.0, 4.0, 3.0, 2.0)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

SMOOTHING = ("none", "moving", "median", "savgol", "ema")


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN samples (ends held at the nearest finite value).

    values: (N,) float. Returns a new (N,) float64 array; all-NaN input stays all NaN.
    """
    x = np.asarray(values, dtype=np.float64).copy()
    good = np.isfinite(x)
    if good.all() or not good.any():
        return x
    index = np.arange(len(x))
    x[~good] = np.interp(index[~good], index[good], x[good])
    return x


def smooth(values: np.ndarray, method: str = "none", window: int = 1) -> np.ndarray:
    """Smooth a series; NaN samples stay NaN.

    method: ``none``; ``moving`` (centred moving average of ``window`` samples, shrinking at the
    ends); ``median`` (centred running median, scipy.ndimage, nearest-edge); ``savgol``
    (Savitzky–Golay, order 2, odd window); ``ema`` (exponential moving average, α = 2/(window+1)).
    """
    if method not in SMOOTHING:
        raise ValueError(f"unknown smoothing {method!r}; choose from {', '.join(SMOOTHING)}")
    x = np.asarray(values, dtype=np.float64)
    window = int(window)
    if method == "none" or window <= 1 or len(x) == 0:
        return x.copy()
    nan = ~np.isfinite(x)
    filled = fill_gaps(x)
    if nan.all():
        return filled
    if method == "moving":
        kernel = np.ones(window)
        total = np.convolve(filled, kernel, mode="same")
        count = np.convolve(np.ones(len(filled)), kernel, mode="same")
        out = total / count
    elif method == "median":
        from scipy.ndimage import median_filter

        out = median_filter(filled, size=window, mode="nearest")
    elif method == "savgol":
        from scipy.signal import savgol_filter

        w = window if window % 2 else window + 1
        w = min(w, len(filled) if len(filled) % 2 else len(filled) - 1)
        out = savgol_filter(filled, w, min(2, w - 1), mode="interp") if w >= 3 else filled.copy()
    else:
        alpha = 2.0 / (window + 1)
        out = np.empty_like(filled)
        acc = filled[0]
        for i, v in enumerate(filled):
            acc = alpha * v + (1 - alpha) * acc
            out[i] = acc
    out[nan] = np.nan
    return out


SUMMARY_FIELDS = (
    "n_frames",
    "duration_s",
    "baseline",
    "mean",
    "end",
    "change",
    "peak",
    "peak_change",
    "time_to_peak_s",
    "trough",
    "trough_change",
    "time_to_trough_s",
    "slope_per_min",
    "auc",
)


def summarize_series(
    times: np.ndarray,
    values: np.ndarray,
    *,
    baseline: tuple[float, float] = (0.0, 10.0),
) -> dict[str, float]:
    """Per-recording summary of one region's series.

    times: (N,) seconds; values: (N,) in the frame's unit; NaN samples are skipped.
    baseline: (start, stop) seconds after the recording's first frame; the baseline is the mean
    of the samples with start ≤ t − t0 ≤ stop (NaN when none fall there).
    Returns: ``baseline``; ``mean``; ``end`` (last finite value) and ``change`` = end − baseline;
    ``peak``/``trough`` (max/min), their change from baseline and ``time_to_peak_s`` /
    ``time_to_trough_s`` since the first frame; ``slope_per_min`` (least-squares slope, unit per
    minute); ``auc`` = ∫ (value − baseline) dt by the trapezoid rule over the finite samples
    (unit·s). Values that cannot be computed are NaN.
    """
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and values {y.shape} must be the same 1-D shape")
    nan = math.nan
    out = {name: nan for name in SUMMARY_FIELDS}
    out["n_frames"] = float(len(t))
    if len(t) == 0:
        return out
    t0 = t[0]
    out["duration_s"] = float(t[-1] - t0)
    good = np.isfinite(y) & np.isfinite(t)
    if not good.any():
        return out
    tg, yg = t[good], y[good]
    rel = tg - t0
    in_base = (rel >= baseline[0]) & (rel <= baseline[1])
    base = float(yg[in_base].mean()) if in_base.any() else nan
    out["baseline"] = base
    out["mean"] = float(yg.mean())
    out["end"] = float(yg[-1])
    out["change"] = out["end"] - base
    k_max, k_min = int(np.argmax(yg)), int(np.argmin(yg))
    out["peak"], out["time_to_peak_s"] = float(yg[k_max]), float(rel[k_max])
    out["trough"], out["time_to_trough_s"] = float(yg[k_min]), float(rel[k_min])
    out["peak_change"] = out["peak"] - base
    out["trough_change"] = out["trough"] - base
    if len(tg) >= 2 and np.ptp(tg) > 0:
        out["slope_per_min"] = float(np.polyfit(tg, yg, 1)[0] * 60.0)
        if math.isfinite(base):
            dev = yg - base
            out["auc"] = float(np.sum((dev[1:] + dev[:-1]) * np.diff(tg)) / 2.0)
    return out


def recording_bounds(keys: Sequence[str]) -> list[tuple[str, int, int]]:
    """Contiguous runs of equal keys → [(key, start, stop)], in order of appearance.

    A recording is a run of frames with the same sequence id; a key that reappears later starts
    a new run (the caller decides whether that is an error).
    """
    runs: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            runs.append((str(keys[start]), start, i))
            start = i
    return runs
