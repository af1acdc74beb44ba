"""Two clocks tied by sync marks: map frame times onto a signal recorded on its own clock.

A thermal video and a spirometer (or any sensor) run on separate clocks. The same physical
events (sync marks) are timed on both; between two marks the mapping is linear, beyond the first
and last mark it continues with the slope of the end intervals (one mark: a constant offset).
This is the piecewise-linear mapping the breathing-spirometry dataset's authors used when they
cut their synchronised segments.

>>> import numpy as np
>>> clock = fit_clock_map([2.0, 32.0, 63.0], [1.9, 33.4, 65.2])
>>> [round(float(v), 3) for v in clock(np.array([2.0, 17.0, 32.0, 0.0]))]
[1.9, 17.65, 33.4, -0.2]
>>> s = clock.summary(); round(s["offset_s"], 3), round(s["offset_sd_s"], 3)
(1.167, 1.168)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermcli.errors import DataError


@dataclass(frozen=True)
class ClockMap:
    """Piecewise-linear map from the frame clock (``src``, s) to the signal clock (``dst``, s)."""

    src: np.ndarray  # (K,) strictly increasing
    dst: np.ndarray  # (K,) strictly increasing, the same events on the signal's clock

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.float64)
        src, dst = self.src, self.dst
        if len(src) == 1:
            return t + (dst[0] - src[0])
        out = np.interp(t, src, dst)
        lo_slope = (dst[1] - dst[0]) / (src[1] - src[0])
        hi_slope = (dst[-1] - dst[-2]) / (src[-1] - src[-2])
        out = np.where(t < src[0], dst[0] + (t - src[0]) * lo_slope, out)
        return np.where(t > src[-1], dst[-1] + (t - src[-1]) * hi_slope, out)

    @property
    def offsets(self) -> np.ndarray:
        """Signal time minus frame time at each mark (s): how far the signal's clock runs ahead."""
        return self.dst - self.src

    def summary(self) -> dict:
        """The offset the marks measure and how much they disagree.

        ``offset_s``: mean of the marks' offsets; ``offset_sd_s``: their standard deviation (the
        scatter of one mark: the uncertainty of the offset at any instant when the clocks do not
        drift); ``offset_se_s``: the standard error of the mean; ``rate_ratio``: the slope of a
        straight-line fit of signal time on frame time (1 = equal clock rates);
        ``residual_sd_s``: the marks' scatter about that line (the uncertainty left when drift is
        allowed). With one mark the spreads are NaN.
        """
        d = self.offsets
        k = len(d)
        out = {
            "marks": k,
            "offsets_s": [round(float(v), 6) for v in d],
            "offset_s": float(np.mean(d)),
            "offset_sd_s": float(np.std(d, ddof=1)) if k > 1 else float("nan"),
            "offset_se_s": float(np.std(d, ddof=1) / np.sqrt(k)) if k > 1 else float("nan"),
            "offset_range_s": [float(d.min()), float(d.max())],
        }
        if k > 1:
            slope, intercept = np.polyfit(self.src, self.dst, 1)
            residual = self.dst - (slope * self.src + intercept)
            out["rate_ratio"] = float(slope)
            out["residual_sd_s"] = float(np.sqrt(np.sum(residual**2) / (k - 2))) if k > 2 else float("nan")
        else:
            out["rate_ratio"] = 1.0
            out["residual_sd_s"] = float("nan")
        return out


def fit_clock_map(src_marks, dst_marks, *, where: str | None = None) -> ClockMap:
    """The clock map through marks ``src_marks`` (frame clock) ↔ ``dst_marks`` (signal clock).

    Raises ``DataError`` (naming ``where``) when the lists differ in length, are empty, hold a
    non-finite value, or are not strictly increasing.
    """
    src = np.asarray(src_marks, np.float64).ravel()
    dst = np.asarray(dst_marks, np.float64).ravel()
    if len(src) != len(dst):
        raise DataError(f"{len(src)} marks on the frame clock but {len(dst)} on the signal clock: they must pair one to one",
                        path=where)
    if len(src) == 0:
        raise DataError("no sync marks", path=where)
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise DataError("a sync mark is not a finite number", path=where)
    if len(src) > 1 and not (np.all(np.diff(src) > 0) and np.all(np.diff(dst) > 0)):
        raise DataError("sync marks must be strictly increasing on both clocks", path=where)
    return ClockMap(src, dst)


def estimate_sample_rate(clock: ClockMap, n_samples: int, frames_end_s: float) -> float:
    """The signal's sample rate (Hz) that puts its last sample at the last frame's time mapped
    onto the signal clock — i.e. assuming both recordings stopped together (the marks say where
    the clocks stand; the sample count says how many samples the signal's span holds)."""
    end = float(clock(np.array([frames_end_s]))[0])
    if not end > 0:
        raise DataError("the sync marks put the video's end before the signal's start: the sample rate cannot be estimated")
    return float(n_samples) / end


def resample_at(values: np.ndarray, rate: float, times_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of samples ``values`` (taken at ``k / rate`` s) at ``times_s``; NaN
    outside the recorded span."""
    values = np.asarray(values, np.float64)
    positions = np.asarray(times_s, np.float64) * rate
    index = np.arange(len(values), dtype=np.float64)
    return np.interp(positions, index, values, left=np.nan, right=np.nan)


INH, EXH = 0, 1


def phase_from_flow(flow: np.ndarray, dead_band: float, *, positive: str = "EXH") -> np.ndarray:
    """Per-sample breathing phase from a signed flow: ``EXH`` (1) / ``INH`` (0) by the flow's sign,
    −1 (no label) within ±``dead_band`` of zero (a pause) or where the flow is NaN.
    ``positive`` names the phase of positive flow."""
    if positive not in ("EXH", "INH"):
        raise ValueError("positive must be EXH or INH")
    if not dead_band >= 0:
        raise ValueError("dead_band must be ≥ 0")
    flow = np.asarray(flow, np.float64)
    pos, neg = (EXH, INH) if positive == "EXH" else (INH, EXH)
    labels = np.full(flow.shape, -1, np.int64)
    with np.errstate(invalid="ignore"):
        labels[flow > dead_band] = pos
        labels[flow < -dead_band] = neg
    return labels


def flow_volume_agreement(flow: np.ndarray, volume: np.ndarray) -> float:
    """Correlation of the flow with the sample-to-sample change of the volume, leaving out the
    device's volume resets (jumps over 8 robust SDs): > 0 when the volume rises with positive
    flow (the volume integrates the flow as signed)."""
    flow = np.asarray(flow, np.float64)
    dv = np.diff(np.asarray(volume, np.float64))
    f = flow[1:]
    ok = np.isfinite(dv) & np.isfinite(f)
    if ok.sum() < 3:
        return float("nan")
    med = np.median(dv[ok])
    mad = 1.4826 * np.median(np.abs(dv[ok] - med)) or np.std(dv[ok]) or 1.0
    ok &= np.abs(dv - med) <= 8 * mad
    if ok.sum() < 3 or np.std(dv[ok]) == 0 or np.std(f[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(f[ok], dv[ok])[0, 1])


def xcorr_lag(video_signal: np.ndarray, signal: np.ndarray, fps: float, *, max_lag_s: float = 2.0,
              window_s: float = 30.0, step_s: float = 15.0, min_corr: float = 0.3) -> dict:
    """The lag (s) by which ``video_signal`` trails ``signal`` (both sampled at the frames), by
    cross-correlation in windows: each window's lag within ±``max_lag_s`` maximises the Pearson
    correlation of the two (each detrended by a 5-s moving mean). The lag is the median of the
    windows whose best correlation reaches ``min_corr``; its uncertainty the robust SD of those
    windows' lags (1.4826·MAD) and its standard error that over √n. A positive lag: the video
    responds after the signal (for a thermal airway ROI against flow this includes the
    physiological delay of the warming, 1–7 frames, besides any clock error).
    """
    x = np.asarray(video_signal, np.float64)
    y = np.asarray(signal, np.float64)
    if x.shape != y.shape:
        raise ValueError("the two series must have the same length")
    k = max(1, int(round(5.0 * fps)))

    def detrend(v: np.ndarray) -> np.ndarray:
        v = np.where(np.isfinite(v), v, np.nan)
        fill = np.nan_to_num(v, nan=np.nanmean(v) if np.any(np.isfinite(v)) else 0.0)
        return fill - np.convolve(fill, np.ones(k) / k, mode="same")

    x, y = detrend(x), detrend(y)
    max_lag = int(round(max_lag_s * fps))
    win = int(round(window_s * fps))
    step = max(1, int(round(step_s * fps)))
    lags, corrs = [], []
    for start in range(max_lag, max(len(x) - win - max_lag, max_lag) + 1, step):
        seg_y = y[start:start + win]
        if len(seg_y) < win or np.std(seg_y) == 0:
            continue
        best, best_lag = -np.inf, 0
        for lag in range(-max_lag, max_lag + 1):
            seg_x = x[start + lag:start + lag + win]
            if len(seg_x) < win or np.std(seg_x) == 0:
                continue
            c = float(np.corrcoef(seg_x, seg_y)[0, 1])
            if c > best:
                best, best_lag = c, lag
        if np.isfinite(best):
            lags.append(best_lag / fps)
            corrs.append(best)
    lags_a, corrs_a = np.asarray(lags), np.asarray(corrs)
    good = corrs_a >= min_corr
    out = {"windows": int(len(lags_a)), "windows_used": int(good.sum()), "window_s": window_s, "max_lag_s": max_lag_s,
           "min_corr": min_corr, "lag_s": float("nan"), "lag_sd_s": float("nan"), "lag_se_s": float("nan"),
           "median_corr": float(np.median(corrs_a[good])) if good.any() else float("nan")}
    if good.any():
        used = lags_a[good]
        med = float(np.median(used))
        sd = float(1.4826 * np.median(np.abs(used - med)))
        out.update(lag_s=med, lag_sd_s=sd, lag_se_s=sd / float(np.sqrt(len(used))))
    return out
