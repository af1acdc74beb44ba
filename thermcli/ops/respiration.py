"""Respiration from a region's mean-temperature signal: rate, quality and INH/EXH phase.

Pure NumPy/SciPy. ``fs`` is the sampling rate in Hz; rates are breaths per minute (bpm).

Pipeline: fill NaN gaps → linear detrend → zero-phase Butterworth band-pass in the breathing band
(default 0.1–0.7 Hz = 6–42 bpm) → rate per sliding window, either by the spectral peak of a
Hann-windowed, zero-padded periodogram refined by parabolic interpolation of the log power, or by
counting breaths (peaks) → quality index per window. The phase per frame is a model-free
baseline: at the nostrils warm exhaled air heats the region and inhaled air cools it, so a rising
signal is exhalation (``slope``); where the region sits in the air stream itself (a mouthpiece),
the signal follows the flow and the level above the band-passed zero is exhalation (``level``).

>>> import numpy as np
>>> fs = 10.0
>>> t = np.arange(0, 60, 1 / fs)
>>> x = np.sin(2 * np.pi * 0.25 * t)           # 15 breaths a minute
>>> round(spectral_rate(bandpass(x, fs), fs)[0], 2)
15.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from thermcli.ops.series import fill_gaps

RATE_METHODS = ("spectral", "peaks")
PHASE_METHODS = ("slope", "level")
INH, EXH = 0, 1
DEFAULT_BAND = (0.1, 0.7)


def _check_band(fs: float, band: tuple[float, float]) -> tuple[float, float]:
    low, high = float(band[0]), float(band[1])
    if not 0 < low < high:
        raise ValueError(f"breathing band must satisfy 0 < low < high, got {band}")
    if high >= fs / 2:
        raise ValueError(f"breathing band {low}–{high} Hz reaches the Nyquist frequency {fs / 2} Hz")
    return low, high


def detrend(values: np.ndarray) -> np.ndarray:
    """Remove the least-squares line (NaN gaps filled first). (N,) → (N,) float64."""
    from scipy.signal import detrend as _detrend

    x = fill_gaps(values)
    if len(x) < 2 or not np.isfinite(x).all():
        return x - np.nanmean(x) if np.isfinite(x).any() else x
    return _detrend(x, type="linear")


def bandpass(values: np.ndarray, fs: float, band: tuple[float, float] = DEFAULT_BAND, *, order: int = 2) -> np.ndarray:
    """Detrend, then a zero-phase Butterworth band-pass (``sosfiltfilt``, order 2·``order``).

    values: (N,) signal (NaN gaps are interpolated); fs: Hz; band: (low, high) Hz.
    Returns (N,) float64. Signals too short for the filter's padding are padded less.
    """
    from scipy.signal import butter, sosfiltfilt

    low, high = _check_band(fs, band)
    x = detrend(values)
    if len(x) < 3 or not np.isfinite(x).all():
        return np.full(len(x), math.nan)
    sos = butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    default_pad = 3 * (2 * len(sos) + 1)
    return sosfiltfilt(sos, x, padlen=min(default_pad, len(x) - 1))


def spectral_rate(
    values: np.ndarray,
    fs: float,
    band: tuple[float, float] = DEFAULT_BAND,
    *,
    pad: int = 8,
) -> tuple[float, float]:
    """Breathing rate (bpm) at the periodogram's highest peak within ``band``, and its quality.

    The segment is mean-removed, Hann-windowed and zero-padded to ≥ ``pad``× its length (a
    finer frequency grid); the peak bin is refined by a parabola through the log power of it and
    its neighbours. Quality = the share of in-band power within the Hann main lobe (± 2/T) of
    the peak: 1 for a clean sinusoid, → 0 for noise. Returns (NaN, NaN) for a flat or too-short
    segment.
    """
    low, high = _check_band(fs, band)
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 4 or not np.isfinite(x).all():
        return math.nan, math.nan
    x = x - x.mean()
    nfft = 1 << int(math.ceil(math.log2(len(x) * max(1, pad))))
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    inside = np.nonzero((freqs >= low) & (freqs <= high))[0]
    if len(inside) == 0 or power[inside].sum() <= 0:
        return math.nan, math.nan
    k = int(inside[np.argmax(power[inside])])
    peak = freqs[k]
    if 0 < k < len(power) - 1:
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-300)
        denom = a - 2 * b + c
        if denom < 0:
            peak = freqs[k] + 0.5 * (a - c) / denom * (freqs[1] - freqs[0])
    lobe = 2.0 * fs / len(x)
    near = inside[np.abs(freqs[inside] - peak) <= lobe]
    quality = float(power[near].sum() / power[inside].sum())
    return float(peak * 60.0), quality


def breath_peaks(values: np.ndarray, fs: float, band: tuple[float, float] = DEFAULT_BAND, *, prominence: float = 0.5) -> np.ndarray:
    """Indices of breaths: peaks of a band-passed signal at least 1/high seconds apart and at
    least ``prominence`` × the signal's standard deviation prominent. (N,) → (B,) int."""
    from scipy.signal import find_peaks

    _, high = _check_band(fs, band)
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 3 or not np.isfinite(x).all() or x.std() == 0:
        return np.zeros(0, np.int64)
    peaks, _ = find_peaks(x, distance=max(1, int(round(fs / high))), prominence=prominence * x.std())
    return peaks.astype(np.int64)


def peak_rate(
    values: np.ndarray, fs: float, band: tuple[float, float] = DEFAULT_BAND, *, prominence: float = 0.5
) -> tuple[float, float]:
    """Breathing rate (bpm) by counting breaths: (peaks − 1) cycles over the time from the first
    to the last peak. Quality = 1 − the coefficient of variation of the breath intervals (clipped
    to 0..1). (NaN, NaN) when fewer than two breaths are found."""
    peaks = breath_peaks(values, fs, band, prominence=prominence)
    if len(peaks) < 2:
        return math.nan, math.nan
    intervals = np.diff(peaks) / fs
    rate = 60.0 * (len(peaks) - 1) / ((peaks[-1] - peaks[0]) / fs)
    quality = 1.0 - float(intervals.std() / intervals.mean()) if len(intervals) > 1 else 1.0
    return float(rate), float(min(1.0, max(0.0, quality)))


@dataclass(frozen=True)
class RateWindows:
    """Rates over sliding windows: one entry per window (times in seconds from the first sample)."""

    start_s: np.ndarray
    stop_s: np.ndarray
    rate_bpm: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.rate_bpm)


def sliding_rate(
    filtered: np.ndarray,
    fs: float,
    *,
    window_s: float | None = 30.0,
    step_s: float = 5.0,
    method: str = "spectral",
    band: tuple[float, float] = DEFAULT_BAND,
    pad: int = 8,
) -> RateWindows:
    """Rate and quality per window of ``window_s`` seconds every ``step_s`` seconds.

    filtered: (N,) band-passed signal (see ``bandpass``). ``window_s`` None or ≤ 0 = one window
    over the whole signal. A signal shorter than one window gives no windows (the caller reports
    NaN with a warning).
    """
    if method not in RATE_METHODS:
        raise ValueError(f"unknown rate method {method!r}; choose from {', '.join(RATE_METHODS)}")
    x = np.asarray(filtered, dtype=np.float64)
    n = len(x)
    if window_s is None or window_s <= 0:
        size, step = n, max(n, 1)
    else:
        size = int(round(window_s * fs))
        step = max(1, int(round(step_s * fs)))
    starts = list(range(0, n - size + 1, step)) if size >= 2 and n >= size else []
    rates, quals = [], []
    for lo in starts:
        segment = x[lo : lo + size]
        if method == "spectral":
            rate, quality = spectral_rate(segment, fs, band, pad=pad)
        else:
            rate, quality = peak_rate(segment, fs, band)
        rates.append(rate)
        quals.append(quality)
    starts_arr = np.asarray(starts, dtype=np.float64)
    return RateWindows(
        start_s=starts_arr / fs,
        stop_s=(starts_arr + size) / fs,
        rate_bpm=np.asarray(rates, dtype=np.float64),
        quality=np.asarray(quals, dtype=np.float64),
    )


def phase(filtered: np.ndarray, fs: float, *, method: str = "slope") -> np.ndarray:
    """INH (0) / EXH (1) per sample of a band-passed signal, model-free.

    ``slope``: EXH where the signal rises (central difference > 0) — the nostril model, where
    exhaled air warms the region. ``level``: EXH where the signal is above zero (its band-passed
    mean) — the region sits in the air stream and follows the flow. (N,) → (N,) int64; NaN
    input samples give −1 (unknown).
    """
    if method not in PHASE_METHODS:
        raise ValueError(f"unknown phase method {method!r}; choose from {', '.join(PHASE_METHODS)}")
    x = np.asarray(filtered, dtype=np.float64)
    out = np.full(len(x), -1, np.int64)
    if len(x) == 0:
        return out
    if method == "slope":
        if len(x) < 2:
            return out
        feature = np.gradient(x)
    else:
        feature = x
    ok = np.isfinite(feature)
    out[ok] = np.where(feature[ok] > 0, EXH, INH)
    return out


def zero_level(values: np.ndarray, *, bins: int = 50, within: tuple[float, float] | None = None, bin_width: float | None = None) -> float:
    """The most frequent value of a signal (centre of the fullest histogram bin): the resting
    level of a min-max normalised spirometer flow, whose zero is not stored.

    ``within`` (lo, hi) restricts the search to a range where the pauses are known to sit (for
    the breathing-spirometry data 0.38–0.42: segments that breathe without pauses have bimodal
    histograms whose global mode is a breathing plateau); ``bin_width`` replaces ``bins``.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    lo, hi = (float(x.min()), float(x.max())) if within is None else within
    if bin_width is not None:
        edges = np.arange(lo, hi + bin_width * 1e-3, bin_width)
        if len(edges) < 2:
            edges = np.array([lo, hi])
    else:
        edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    counts, edges = np.histogram(x, bins=edges)
    if counts.sum() == 0:
        return math.nan
    k = int(np.argmax(counts))
    return float((edges[k] + edges[k + 1]) / 2)


def flow_phase(flow: np.ndarray, zero: float, *, pause: float = 0.0) -> np.ndarray:
    """INH/EXH truth from a flow signal: EXH above ``zero + pause``, INH below ``zero − pause``,
    −1 in between (a pause) or where the flow is NaN. (N,) → (N,) int64."""
    f = np.asarray(flow, dtype=np.float64)
    out = np.full(len(f), -1, np.int64)
    with np.errstate(invalid="ignore"):
        out[f > zero + pause] = EXH
        out[f < zero - pause] = INH
    return out


def flow_breaths(flow: np.ndarray, fs: float, *, level: float | None = None, hysteresis: float = 0.15) -> np.ndarray:
    """Starts of exhalation in a spirometer flow, by a Schmitt trigger: the flow must fall below
    ``level − m`` and then rise above ``level + m`` (m = ``hysteresis`` × its 5–95 % range), so
    noise around a pause never counts as a breath; the start is the last upward crossing of
    ``level`` before that rise. ``level`` defaults to the middle of the 5–95 % range (for
    counting cycles any level between the troughs and the crests works). (N,) → (B,) int."""
    x = fill_gaps(flow)
    if not np.isfinite(x).any():
        return np.zeros(0, np.int64)
    lo_q, hi_q = np.percentile(x, [5, 95])
    mid = (lo_q + hi_q) / 2 if level is None else float(level)
    margin = hysteresis * (hi_q - lo_q)
    if margin <= 0:
        return np.zeros(0, np.int64)
    starts: list[int] = []
    low_seen = False
    crossing = 0
    for i in range(len(x)):
        if x[i] < mid - margin:
            low_seen = True
        if i and x[i - 1] <= mid < x[i]:
            crossing = i
        if low_seen and x[i] > mid + margin:
            starts.append(crossing)
            low_seen = False
    return np.asarray(starts, dtype=np.int64)


def flow_rate(flow: np.ndarray, fs: float, *, level: float | None = None, hysteresis: float = 0.15) -> float:
    """Reference breathing rate (bpm) from a spirometer flow: complete cycles between the first
    and the last start of exhalation. NaN with fewer than two breaths."""
    starts = flow_breaths(flow, fs, level=level, hysteresis=hysteresis)
    if len(starts) < 2:
        return math.nan
    return float(60.0 * (len(starts) - 1) / ((starts[-1] - starts[0]) / fs))
