"""Respiration: band-pass (against SciPy), rate on signals of known frequency (property tests),
peak counting, quality, phase and the flow reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, detrend, sosfiltfilt

from thermcli.ops.respiration import (
    DEFAULT_BAND,
    EXH,
    INH,
    adaptive_breaths,
    adaptive_rate,
    bandpass,
    breath_peaks,
    crossing_cycles,
    cycle_rate,
    flow_breaths,
    flow_rate,
    peak_rate,
    phase,
    sliding_rate,
    spectral_rate,
    zero_level,
)


def test_bandpass_equals_scipy_zero_phase():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=400))
    sos = butter(2, list(DEFAULT_BAND), btype="bandpass", fs=20, output="sos")
    np.testing.assert_allclose(bandpass(x, 20.0), sosfiltfilt(sos, detrend(x)), atol=1e-12)


def test_bandpass_rejects_band_above_nyquist():
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(np.zeros(100), 1.0, (0.1, 0.7))
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(np.zeros(100), 3.0, DEFAULT_BAND)  # the default's 1.5 Hz needs more than 3 fps


@settings(max_examples=30, deadline=None)
@given(bpm=st.floats(8, 40), phase0=st.floats(0, 6.28), fs=st.sampled_from([8.0, 10.0, 20.0]))
def test_spectral_rate_recovers_sinusoid_within_a_tenth(bpm, phase0, fs):
    t = np.arange(0, 30, 1 / fs)
    x = np.sin(2 * np.pi * bpm / 60 * t + phase0) + 0.05 * t
    rate, quality = spectral_rate(bandpass(x, fs), fs)
    assert abs(rate - bpm) < 0.1  # zero padding + parabolic interpolation: far finer than 60/30 s = 2 bpm bins
    assert quality > 0.8


def test_interpolation_beats_plain_bins():
    fs, bpm = 10.0, 13.37
    t = np.arange(0, 20, 1 / fs)
    x = np.sin(2 * np.pi * bpm / 60 * t)
    coarse, _ = spectral_rate(x, fs, pad=1)
    fine, _ = spectral_rate(x, fs, pad=8)
    assert abs(fine - bpm) < abs(coarse - bpm) or abs(fine - bpm) < 0.05


def test_quality_drops_for_noise():
    rng = np.random.default_rng(3)
    noise = bandpass(rng.normal(size=600), 10.0)
    t = np.arange(600) / 10
    clean = bandpass(np.sin(2 * np.pi * 0.3 * t), 10.0)
    assert spectral_rate(noise, 10.0)[1] < spectral_rate(clean, 10.0)[1] - 0.3


def test_peak_rate_counts_breaths():
    fs = 10.0
    t = np.arange(0, 40, 1 / fs)
    x = np.sin(2 * np.pi * 0.25 * t)  # 15 bpm: peaks at 1, 5, 9, ... s
    peaks = breath_peaks(x, fs)
    np.testing.assert_allclose(peaks / fs, np.arange(1, 40, 4), atol=0.11)
    rate, quality = peak_rate(x, fs)
    assert rate == pytest.approx(15.0, abs=0.05) and quality > 0.95
    assert math.isnan(peak_rate(np.zeros(50), fs)[0])


def test_sliding_windows_and_short_recording():
    fs = 10.0
    t = np.arange(0, 60, 1 / fs)
    x = bandpass(np.sin(2 * np.pi * (12 / 60) * t), fs)
    windows = sliding_rate(x, fs, window_s=30, step_s=10)
    np.testing.assert_allclose(windows.start_s, [0, 10, 20, 30])
    np.testing.assert_allclose(windows.stop_s, [30, 40, 50, 60])
    np.testing.assert_allclose(windows.rate_bpm, 12.0, atol=0.15)
    whole = sliding_rate(x, fs, window_s=None)
    assert len(whole) == 1 and whole.stop_s[0] == 60
    assert len(sliding_rate(x[:100], fs, window_s=30)) == 0  # 10 s < one 30 s window
    peaks = sliding_rate(x, fs, window_s=30, step_s=30, method="peaks")
    np.testing.assert_allclose(peaks.rate_bpm, 12.0, atol=0.3)


def test_phase_slope_and_level():
    fs = 10.0
    t = np.arange(0, 10, 1 / fs)
    x = np.sin(2 * np.pi * 0.2 * t)
    slope = phase(x, fs, method="slope")
    cos = np.cos(2 * np.pi * 0.2 * t)
    inner = np.abs(cos) > 0.1  # away from turning points
    np.testing.assert_array_equal(slope[inner], np.where(cos[inner] > 0, EXH, INH))
    level = phase(x, fs, method="level")
    np.testing.assert_array_equal(level[np.abs(x) > 0.01], np.where(x[np.abs(x) > 0.01] > 0, EXH, INH))
    nan_in = x.copy()
    nan_in[5] = np.nan
    assert phase(nan_in, fs, method="level")[5] == -1


def test_zero_level_is_histogram_mode():
    x = np.concatenate([np.full(100, 0.4), np.linspace(0, 1, 50)])
    assert abs(zero_level(x) - 0.4) < 0.02


def test_flow_breaths_ignore_noise_at_pauses():
    fs = 20.0
    t = np.arange(0, 30, 1 / fs)
    flow = 0.4 + 0.3 * np.clip(np.sin(2 * np.pi * 0.2 * t), -0.3, 1)  # exhalations every 5 s, pauses between
    flow += 0.01 * np.random.default_rng(0).normal(size=len(t))
    starts = flow_breaths(flow, fs, level=0.4)
    # exhalation starts at 0, 5, 10, … s; the one at t = 0 has no inhalation before it
    np.testing.assert_allclose(starts / fs, np.arange(5, 30, 5), atol=0.1)
    assert flow_rate(flow, fs, level=0.4) == pytest.approx(12.0, abs=0.3)
    assert flow_rate(flow, fs) == pytest.approx(12.0, abs=0.3)  # the detrended flow: same breaths
    assert math.isnan(flow_rate(np.full(100, 0.4), fs))


@settings(max_examples=25, deadline=None)
@given(bpm=st.floats(6, 80), offset=st.floats(-1, 1), drift=st.floats(-0.02, 0.02), phase0=st.floats(0, 6.28), seed=st.integers(0, 99))
def test_flow_rate_counts_cycles_despite_offset_drift_and_flicker(bpm, offset, drift, phase0, seed):
    """The reference counts breaths of a flow with an unknown zero (min-max normalised), a drifting
    offset and sensor flicker: the count equals the true cycle rate (cycles / the time they span)."""
    fs = 20.0
    t = np.arange(0, 30, 1 / fs)
    rng = np.random.default_rng(seed)
    flow = np.sin(2 * np.pi * bpm / 60 * t + phase0) + offset + drift * t + 0.05 * rng.normal(size=len(t))
    assert flow_rate(flow, fs) == pytest.approx(bpm, rel=0.03)
    # a signed flow's sign is respected: exhalation (positive) starts are the upward crossings
    starts = flow_breaths(np.sin(2 * np.pi * bpm / 60 * t), fs, level=0.0)
    assert len(starts) and np.all(np.sin(2 * np.pi * bpm / 60 * t[starts]) > 0)  # the first sample above zero


def test_flow_rate_validates_cycles():
    """A flicker within a breath (a short dip through zero) is not a breath: cycles shorter than
    the 90 bpm limit, or than half the median cycle, are dropped."""
    fs = 20.0
    t = np.arange(0, 40, 1 / fs)
    flow = np.sin(2 * np.pi * 0.2 * t)  # 12 bpm
    dips = [int(s * fs) for s in (6.0, 16.0, 26.0)]  # in the middle of each exhalation... of some
    flicker = flow.copy()
    for d in dips:
        flicker[d : d + 4] = -0.8  # 0.2 s through zero and back
    assert cycle_rate(flicker, fs)[0] > 13  # without validation the dips count as breaths
    assert flow_rate(flicker, fs) == pytest.approx(12.0, abs=0.3)
    # a dip at the very end of a slow recording: dropped by the relative rule (half the median cycle)
    end = flow.copy()
    end[-12:-8] = -0.8
    assert flow_rate(end, fs) == pytest.approx(12.0, abs=0.3)


def _brute_force_cycles(x, margin):
    """Independent reference for crossing_cycles without validation: walk the signal's excursions
    beyond ±margin and take, for each new excursion, the last zero crossing before it."""
    sign = np.where(x > margin, 1, np.where(x < -margin, -1, 0))
    events = [(i, s) for i, s in enumerate(sign) if s != 0]
    ups, downs = [], []
    for (_i_prev, s_prev), (i, s) in zip(events, events[1:]):
        if s == s_prev:
            continue
        j = i
        while not ((x[j - 1] <= 0 < x[j]) if s > 0 else (x[j - 1] >= 0 > x[j])):
            j -= 1
        (ups if s > 0 else downs).append(j)
    return ups, downs


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), hysteresis=st.floats(0.0, 1.0))
def test_crossing_cycles_equal_brute_force(seed, hysteresis):
    rng = np.random.default_rng(seed)
    x = bandpass(np.cumsum(rng.normal(size=300)), 10.0, (0.1, 2.0))
    ups, downs = crossing_cycles(x, 10.0, hysteresis=hysteresis)
    ref_ups, ref_downs = _brute_force_cycles(x, hysteresis * x.std())
    np.testing.assert_array_equal(ups, ref_ups)
    np.testing.assert_array_equal(downs, ref_downs)


def test_crossing_cycles_edge_cases():
    assert all(len(e) == 0 for e in crossing_cycles(np.zeros(50), 10.0))
    assert all(len(e) == 0 for e in crossing_cycles(np.array([1.0, np.nan, -1.0, 1.0]), 10.0))
    assert cycle_rate(np.sin(np.linspace(0, 3, 30)), 10.0) == (pytest.approx(math.nan, nan_ok=True), 0)


def _breaths(fs: float, periods: np.ndarray, shape: str) -> tuple[np.ndarray, float]:
    """A breathing signal from a list of cycle periods: sinusoidal cycles, or breath-like ones
    (a short sharp exhalation, a long flat end-expiratory part: a strong 2nd harmonic).
    Returns the signal and its true mean rate, cycles / the time they span (bpm)."""
    bounds = np.concatenate([[0.0], np.cumsum(periods)])
    t = np.arange(0, bounds[-1], 1 / fs)
    k = np.searchsorted(bounds, t, side="right") - 1
    u = (t - bounds[k]) / periods[k]  # position within its cycle, 0..1
    if shape == "sine":
        x = np.sin(2 * np.pi * u)
    else:
        x = np.where(u < 0.45, np.sin(np.pi * u / 0.45) ** 3, -0.25 * np.sin(np.pi * (u - 0.45) / 0.55))
    return x, 60.0 * len(periods) / periods.sum()


@settings(max_examples=30, deadline=None)
@given(bpm=st.floats(8, 75), jitter=st.floats(0, 0.15), shape=st.sampled_from(["sine", "breath"]), seed=st.integers(0, 999))
def test_adaptive_rate_recovers_mean_cycle_rate(bpm, jitter, shape, seed):
    """Irregular breaths (each period jittered ±15 %, so every cycle stays inside the 6–90 bpm
    band), sinusoidal or breath-shaped: the adaptive estimate is within 3 % (or 0.3 bpm) of the
    true rate for regular breaths, and within the range of the cycles' own rates (± 3 %) for
    irregular ones (a count over the cycles a window holds whole is the mean of some of them)."""
    fs = 20.0
    rng = np.random.default_rng(seed)
    n = max(4, int(round(30 * bpm / 60)))
    periods = 60.0 / bpm * rng.uniform(1 - jitter, 1 + jitter, n)
    x, truth = _breaths(fs, periods, shape)
    x = x + 0.05 * rng.normal(size=len(x))
    rate, quality = adaptive_rate(bandpass(x, fs), fs)
    if jitter == 0:
        assert abs(rate - truth) <= max(0.03 * truth, 0.3)
    assert min(0.97 * 60 / periods.max(), truth - 0.3) <= rate <= max(1.03 * 60 / periods.min(), truth + 0.3)
    assert 0 <= quality <= 1


def test_adaptive_rate_follows_a_rate_change_the_spectral_peak_misses():
    """Half a recording at 24 bpm, half at 44 bpm: the mean cycle rate (what a spirometer's breath
    count gives) is ~31 bpm; the spectral peak picks one half; the validated count does not."""
    fs = 20.0
    periods = np.r_[np.full(5, 2.5), np.full(9, 60 / 44)]
    x, truth = _breaths(fs, periods, "sine")
    filtered = bandpass(x, fs)
    spectral, _ = spectral_rate(filtered, fs)
    counted, _ = adaptive_rate(filtered, fs)
    assert abs(counted - truth) < 1.0
    assert abs(spectral - truth) > 3 * abs(counted - truth)
    breaths = adaptive_breaths(filtered, fs)
    assert len(breaths) in (13, 14)  # one boundary per cycle (the first cycle's start has no lead-in)


def test_spectral_harmonic_check():
    """A breath whose 2nd harmonic carries more power than its fundamental: the plain peak reads
    double the rate; the sub-harmonic check returns the breath rate."""
    fs, bpm = 20.0, 15.0
    t = np.arange(0, 40, 1 / fs)
    f0 = bpm / 60
    x = 0.6 * np.sin(2 * np.pi * f0 * t) + np.sin(2 * np.pi * 2 * f0 * t + 0.4)
    assert spectral_rate(x, fs)[0] == pytest.approx(2 * bpm, abs=0.3)
    assert spectral_rate(x, fs, harmonic=0.3)[0] == pytest.approx(bpm, abs=0.3)
    # a sinusoid has no sub-harmonic: the check changes nothing
    clean = np.sin(2 * np.pi * f0 * t)
    assert spectral_rate(clean, fs, harmonic=0.5)[0] == pytest.approx(spectral_rate(clean, fs)[0])


def test_default_band_is_six_to_ninety_breaths_a_minute():
    assert tuple(round(60 * f) for f in DEFAULT_BAND) == (6, 90)


def test_zero_level_within_a_range_and_flow_phase():
    from thermcli.ops.respiration import flow_phase

    # bimodal breathing without pauses: the global mode is a plateau, the restricted one the pause level
    x = np.concatenate([np.full(200, 0.25), np.full(150, 0.65), np.full(40, 0.402), np.linspace(0, 1, 30)])
    assert abs(zero_level(x) - 0.25) < 0.02
    assert abs(zero_level(x, within=(0.38, 0.42), bin_width=0.005) - 0.4025) < 1e-9
    flow = np.array([0.1, 0.39, 0.40, 0.41, 0.43, np.nan])
    np.testing.assert_array_equal(flow_phase(flow, 0.40, pause=0.02), [INH, -1, -1, -1, EXH, -1])
