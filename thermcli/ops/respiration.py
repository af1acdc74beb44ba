"""Respiration from a region's mean-temperature signal: rate, quality and INH/EXH phase.

Pure NumPy/SciPy. ``fs`` is the sampling rate in Hz; rates are breaths per minute (bpm).

Pipeline: fill NaN gaps → linear detrend → zero-phase Butterworth band-pass in the breathing band
(default 0.1–1.5 Hz = 6–90 bpm, see ``DEFAULT_BAND``) → rate per sliding window, by one of

- ``auto`` (default): the spectral peak (with a sub-harmonic check) gives the dominant breath
  period; breaths are then counted as validated cycles — zero crossings with hysteresis, a cycle
  shorter than half the dominant period merged into its neighbour — and the rate is the mean
  cycle rate, (cycles) / (time they span). The count is kept when it lies within 2/3–3/2 of the
  spectral rate, otherwise the spectral rate is. A count is what a reference (a spirometer's
  breaths) measures, and it follows a rate that changes within the window, where the spectral
  peak picks the dominant part;
- ``spectral``: the highest peak of a Hann-windowed, zero-padded periodogram refined by
  parabolic interpolation of the log power;
- ``peaks``: counting the band-passed signal's peaks at least 1/high seconds apart;

→ quality index per window. A spirometer's reference rate (``flow_rate``) counts the same kind
of validated cycles on the linearly detrended flow. The phase per frame is a model-free
baseline: at the nostrils warm exhaled air heats the region and inhaled air cools it, so a rising
signal is exhalation (``slope``); where the region sits in the air stream itself (a mouthpiece),
the signal follows the flow and the level above the band-passed zero is exhalation (``level``).

>>> import numpy as np
>>> fs = 10.0
>>> t = np.arange(0, 60, 1 / fs)
>>> x = np.sin(2 * np.pi * 0.25 * t)           # 15 breaths a minute
>>> round(spectral_rate(bandpass(x, fs), fs)[0], 2)
15.0
>>> round(adaptive_rate(bandpass(x, fs), fs)[0], 1)
15.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from thermcli.ops.series import fill_gaps

RATE_METHODS = ("auto", "spectral", "peaks")
PHASE_METHODS = ("slope", "level")
INH, EXH = 0, 1
# The physiological breathing band: 6–90 breaths/min. Respiratory-rate estimators commonly search
# 4–6 to 60 bpm for adults (about 0.1–1.0 Hz); newborns breathe at 30–60 bpm at rest and faster
# in tachypnoea, and adults exceed 60 bpm in rapid shallow breathing (segment 02 of the
# breathing-spirometry recordings, ≈ 65 thermal cycles a minute), so the upper edge is 1.5 Hz.
# Below 0.1 Hz lie drift and the slow temperature changes of the face, not breaths.
DEFAULT_BAND = (0.1, 1.5)
# the shortest breath cycle a counter accepts by default: 1 / the band's upper edge (90 bpm)
MIN_CYCLE_S = 1.0 / DEFAULT_BAND[1]


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
    harmonic: float = 0.0,
) -> tuple[float, float]:
    """Breathing rate (bpm) at the periodogram's highest peak within ``band``, and its quality.

    The segment is mean-removed, Hann-windowed and zero-padded to ≥ ``pad``× its length (a
    finer frequency grid); the peak bin is refined by a parabola through the log power of it and
    its neighbours. Sub-harmonic check (``harmonic`` > 0): when a local maximum within half a
    main lobe of half the peak frequency, inside the band, holds at least ``harmonic`` × the
    peak's power, the peak was the breath's second harmonic (a non-sinusoidal breath) and the
    rate is that sub-harmonic. Quality = the share of in-band power within the Hann main lobe (± 2/T) of
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
    lobe = 2.0 * fs / len(x)
    if harmonic > 0:
        half = inside[np.abs(freqs[inside] - freqs[k] / 2) <= lobe / 2]
        if len(half):
            j = int(half[np.argmax(power[half])])
            local_max = 0 < j < len(power) - 1 and power[j] >= power[j - 1] and power[j] >= power[j + 1]
            if local_max and power[j] >= harmonic * power[k]:
                k = j
    peak = freqs[k]
    if 0 < k < len(power) - 1:
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-300)
        denom = a - 2 * b + c
        if denom < 0:
            peak = freqs[k] + 0.5 * (a - c) / denom * (freqs[1] - freqs[0])
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


def crossing_cycles(
    values: np.ndarray, fs: float, *, hysteresis: float = 0.25, min_cycle_s: float = 0.0, relative: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Breath cycles of a zero-mean signal (band-passed, or a detrended flow) from its zero crossings.

    A Schmitt trigger: a cycle boundary is counted only once the signal has gone below −m and
    then above +m (m = ``hysteresis`` × its standard deviation), so noise around zero never
    counts; the boundary is the last zero crossing before that excursion. Upward boundaries
    (the start of a positive half-cycle: exhalation for a flow) and downward ones are found
    separately; a boundary less than ``min_cycle_s`` after the previous kept one of the same
    direction is dropped (cycle validation: a flicker within a breath is not a breath). With
    ``relative`` > 0 a second pass also drops cycles shorter than ``relative`` × the median
    cycle of the first pass (a dip at the end of a slow recording is not a breath either).
    Returns (ups, downs) as int64 sample indices. (N,) → ((U,), (D,)).
    """
    ups, downs = _schmitt_cycles(values, fs, hysteresis, min_cycle_s)
    if relative > 0:
        cycles = np.concatenate([np.diff(ups), np.diff(downs)]) / fs
        if len(cycles):
            longer = max(min_cycle_s, relative * float(np.median(cycles)))
            if longer > min_cycle_s:
                ups, downs = _schmitt_cycles(values, fs, hysteresis, longer)
    return ups, downs


def _schmitt_cycles(values: np.ndarray, fs: float, hysteresis: float, min_cycle_s: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=np.float64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(x) < 3 or not np.isfinite(x).all() or x.std() == 0:
        return empty
    margin = hysteresis * x.std()
    min_gap = min_cycle_s * fs
    ups: list[int] = []
    downs: list[int] = []
    state = 1 if x[0] > margin else -1 if x[0] < -margin else 0  # +1 after an excursion above +m, −1 below −m
    last_up = last_down = 0
    for i in range(1, len(x)):
        if x[i - 1] <= 0 < x[i]:
            last_up = i
        if x[i - 1] >= 0 > x[i]:
            last_down = i
        if state <= 0 and x[i] > margin:
            if state < 0 and (not ups or last_up - ups[-1] >= min_gap):
                ups.append(last_up)
            state = 1
        elif state >= 0 and x[i] < -margin:
            if state > 0 and (not downs or last_down - downs[-1] >= min_gap):
                downs.append(last_down)
            state = -1
    return np.asarray(ups, np.int64), np.asarray(downs, np.int64)


def cycle_rate(
    values: np.ndarray, fs: float, *, hysteresis: float = 0.25, min_cycle_s: float = 0.0, relative: float = 0.0
) -> tuple[float, int]:
    """Mean breath rate (bpm) from ``crossing_cycles``: for each direction, complete cycles
    between its first and last boundary, (B − 1) / (t_last − t_first); the two directions'
    rates are averaged weighted by their cycle counts (a segment's rate is not decided by
    where it happens to start). Returns (rate, cycles); (NaN, 0) with no complete cycle."""
    return _rate_of(crossing_cycles(values, fs, hysteresis=hysteresis, min_cycle_s=min_cycle_s, relative=relative), fs)


def _rate_of(boundaries, fs: float) -> tuple[float, int]:
    total, cycles = 0.0, 0
    for events in boundaries:
        if len(events) >= 2:
            n = len(events) - 1
            total += n * 60.0 * n / ((events[-1] - events[0]) / fs)
            cycles += n
    return (total / cycles, cycles) if cycles else (math.nan, 0)


def adaptive_rate(
    values: np.ndarray,
    fs: float,
    band: tuple[float, float] = DEFAULT_BAND,
    *,
    agree: tuple[float, float] = (2 / 3, 3 / 2),
    **counting: float,
) -> tuple[float, float]:
    """Rate (bpm) of a band-passed segment: validated cycle count guided by the spectral peak.

    1. ``spectral_rate`` with the sub-harmonic check gives the dominant rate R and the quality.
    2. ``cycle_rate`` counts zero-crossing cycles, dropping cycles shorter than
       ``min_cycle_fraction`` × 60/R seconds (and than one period of the band's upper edge).
    3. The count is the answer when it has ≥ 2 cycles and lies within ``agree`` × R; otherwise
       (too few cycles, or a count the spectrum contradicts) R is.
    Quality is the spectral quality (share of the in-band power at the peak). ``counting``: the
    keywords of :func:`_validated_cycles` (pad 8, harmonic 0.5, hysteresis 0.25,
    min_cycle_fraction 0.5), shared with :func:`adaptive_breaths`. The defaults are a-priori
    values checked on synthetic breathing (``thermcli synth breathing``, seeds 1–5), not tuned
    on real data.
    """
    spectral, quality, boundaries = _validated_cycles(values, fs, band, **counting)
    if boundaries is None:
        return math.nan, math.nan
    counted, cycles = _rate_of(boundaries, fs)
    if cycles >= 2 and agree[0] <= counted / spectral <= agree[1]:
        return float(counted), quality
    return spectral, quality


def _validated_cycles(values: np.ndarray, fs: float, band: tuple[float, float], *, pad: int = 8,
                      harmonic: float = 0.5, hysteresis: float = 0.25, min_cycle_fraction: float = 0.5):
    """The spectral rate (bpm), its quality, and the zero-crossing cycles (ups, downs) a count
    accepts: none shorter than ``min_cycle_fraction`` of the dominant period, nor than the band's
    upper edge. (NaN, NaN, None) without a spectral peak."""
    spectral, quality = spectral_rate(values, fs, band, pad=pad, harmonic=harmonic)
    if not math.isfinite(spectral):
        return math.nan, math.nan, None
    min_cycle = max(min_cycle_fraction * 60.0 / spectral, 1.0 / band[1])
    return spectral, quality, crossing_cycles(values, fs, hysteresis=hysteresis, min_cycle_s=min_cycle)


def adaptive_breaths(
    values: np.ndarray, fs: float, band: tuple[float, float] = DEFAULT_BAND, **counting: float
) -> np.ndarray:
    """The breaths ``adaptive_rate`` counts (same ``counting`` keywords), as sample indices: the
    validated upward zero crossings (for a signal that rises on exhalation, the starts of
    exhalation). (N,) → (B,)."""
    _, _, boundaries = _validated_cycles(values, fs, band, **counting)
    return boundaries[0] if boundaries is not None else np.zeros(0, np.int64)


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
    method: str = "auto",
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
        if method == "auto":
            rate, quality = adaptive_rate(segment, fs, band, pad=pad)
        elif method == "spectral":
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


def flow_breaths(flow: np.ndarray, fs: float, **counting: float | None) -> np.ndarray:
    """Starts of exhalation in a spirometer flow (> its zero = exhaling): the upward zero
    crossings of the flow minus ``level`` — or, by default, of the linearly detrended flow, whose
    zero is the mean flow of the segment (a min-max normalised flow stores no zero, and a
    sensor's offset drifts) — with hysteresis and cycle validation: a cycle shorter than
    ``min_cycle_s`` (90 bpm) or than ``relative`` × the median cycle is no breath
    (``crossing_cycles``). ``counting``: the keywords of :func:`_flow_cycles` (level None,
    hysteresis 0.25, min_cycle_s, relative 0.5), shared with :func:`flow_rate`. (N,) → (B,) int."""
    boundaries = _flow_cycles(flow, fs, **counting)
    return boundaries[0] if boundaries is not None else np.zeros(0, np.int64)


def _flow_cycles(flow: np.ndarray, fs: float, *, level: float | None = None, hysteresis: float = 0.25,
                 min_cycle_s: float = MIN_CYCLE_S, relative: float = 0.5):
    """``crossing_cycles`` (ups, downs) of the zero-centred flow; None when it has no usable samples."""
    x = _zero_centred_flow(flow, level)
    if x is None:
        return None
    return crossing_cycles(x, fs, hysteresis=hysteresis, min_cycle_s=min_cycle_s, relative=relative)


def _zero_centred_flow(flow: np.ndarray, level: float | None) -> np.ndarray | None:
    from scipy.signal import detrend as _detrend

    x = fill_gaps(flow)
    if len(x) < 3 or not np.isfinite(x).all():
        return None
    return _detrend(x, type="linear") if level is None else x - float(level)


def flow_rate(flow: np.ndarray, fs: float, **counting: float | None) -> float:
    """Reference breathing rate (bpm) from a spirometer flow: complete cycles of the detrended
    flow's zero crossings (both directions, see ``cycle_rate``), validated as in
    ``flow_breaths`` (same ``counting`` keywords). NaN with no complete cycle."""
    boundaries = _flow_cycles(flow, fs, **counting)
    return math.nan if boundaries is None else _rate_of(boundaries, fs)[0]
