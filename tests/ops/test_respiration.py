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
    bandpass,
    breath_peaks,
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
    starts = flow_breaths(flow, fs)
    assert len(starts) == 6  # the recording starts in a pause, so the first exhalation counts
    np.testing.assert_allclose(np.diff(starts) / fs, 5.0, atol=0.2)
    assert flow_rate(flow, fs) == pytest.approx(12.0, abs=0.3)
    assert math.isnan(flow_rate(np.full(100, 0.4), fs))


def test_zero_level_within_a_range_and_flow_phase():
    from thermcli.ops.respiration import flow_phase

    # bimodal breathing without pauses: the global mode is a plateau, the restricted one the pause level
    x = np.concatenate([np.full(200, 0.25), np.full(150, 0.65), np.full(40, 0.402), np.linspace(0, 1, 30)])
    assert abs(zero_level(x) - 0.25) < 0.02
    assert abs(zero_level(x, within=(0.38, 0.42), bin_width=0.005) - 0.4025) < 1e-9
    flow = np.array([0.1, 0.39, 0.40, 0.41, 0.43, np.nan])
    np.testing.assert_array_equal(flow_phase(flow, 0.40, pause=0.02), [INH, -1, -1, -1, EXH, -1])
