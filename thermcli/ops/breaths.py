"""Breath-by-breath respiration: each breath from a zero-mean breathing signal (a band-passed ROI
mean, or a signed spirometer flow), the instantaneous rate, and window rates counted from the
breaths inside each window, with a quality flag per window.

A window's rate is (breaths that start and end inside it) / (time from the first breath's start
to the last one's end) × 60 — the breaths themselves, not a spectral peak that blurs two breathing
patterns into one. The same detector counts the reference breaths of a signed flow (its zero is
known), so the estimate and the reference are measured alike.

>>> import numpy as np
>>> fs = 20.0
>>> t = np.arange(0, 60, 1 / fs)
>>> b = detect_breaths(np.sin(2 * np.pi * 0.25 * t), fs, filtered=True)
>>> round(float(np.median(instantaneous_rate(b, fs))), 1)
15.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from thermcli.ops.respiration import DEFAULT_BAND, bandpass, crossing_cycles


def detect_breaths(
    values: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    filtered: bool = False,
    hysteresis: float = 0.25,
    relative: float = 0.5,
) -> np.ndarray:
    """Breath boundaries as sample indices: the validated upward zero crossings of the signal
    (band-passed first unless ``filtered``), with a Schmitt trigger of ``hysteresis`` σ and cycles
    shorter than one period of the band's upper edge, or than ``relative`` × the median cycle,
    merged (``crossing_cycles``). Breath k spans [b[k], b[k+1]). (N,) → (B,) int64."""
    x = np.asarray(values, dtype=np.float64)
    if not filtered:
        x = bandpass(x, fs, band)
    ups, _ = crossing_cycles(x, fs, hysteresis=hysteresis, min_cycle_s=1.0 / band[1], relative=relative)
    return ups


def instantaneous_rate(breaths: np.ndarray, fs: float) -> np.ndarray:
    """60 / the duration of each breath (bpm): (B,) boundaries → (B − 1,) rates."""
    b = np.asarray(breaths, dtype=np.float64)
    return 60.0 * fs / np.diff(b) if len(b) > 1 else np.zeros(0)


@dataclass(frozen=True)
class BreathWindows:
    """Per window: start (s), breath count, rate (bpm, NaN with < 2 breaths), the flag and why."""

    start_s: np.ndarray
    count: np.ndarray
    rate: np.ndarray
    flagged: np.ndarray
    reasons: list[str] = field(default_factory=list)


def breath_windows(
    breaths: np.ndarray,
    n: int,
    fs: float,
    *,
    window_s: float = 30.0,
    step_s: float = 5.0,
    max_cv: float = 0.6,
    motion: np.ndarray | None = None,
    max_motion_px: float = 10.0,
) -> BreathWindows:
    """Window rates from the breaths inside each window of ``window_s`` every ``step_s`` over n
    samples. Flags: ``few`` (fewer than 2 whole breaths), ``irregular`` (coefficient of variation
    of the breath durations > ``max_cv``: talking, sighs, a pattern the count cannot summarise),
    ``motion`` (the ROI moved more than ``max_motion_px`` within the window; ``motion`` = per-sample
    displacement in px)."""
    b = np.asarray(breaths, dtype=np.int64)
    size, step = int(round(window_s * fs)), max(1, int(round(step_s * fs)))
    starts = list(range(0, n - size + 1, step)) if n >= size else []
    rates, counts, flags, reasons = [], [], [], []
    moved = None if motion is None else np.nancumsum(np.asarray(motion, dtype=np.float64))
    for lo in starts:
        inside = b[(b >= lo) & (b < lo + size)]
        whole = len(inside) - 1
        rate = 60.0 * whole * fs / (inside[-1] - inside[0]) if whole >= 1 else math.nan
        why = []
        if whole < 2:
            why.append("few")
        else:
            d = np.diff(inside)
            if d.std() / d.mean() > max_cv:
                why.append("irregular")
        if moved is not None and moved[lo + size - 1] - moved[lo] > max_motion_px:
            why.append("motion")
        rates.append(rate)
        counts.append(max(whole, 0))
        flags.append(bool(why))
        reasons.append(",".join(why))
    return BreathWindows(start_s=np.asarray(starts, dtype=np.float64) / fs, count=np.asarray(counts, np.int64),
                         rate=np.asarray(rates, dtype=np.float64), flagged=np.asarray(flags, bool), reasons=reasons)
