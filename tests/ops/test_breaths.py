"""Breath-by-breath detection and window rates on synthetic signals with known breaths."""

import numpy as np
from hypothesis import given, settings, strategies as st

from thermcli.ops.breaths import breath_windows, detect_breaths, instantaneous_rate

FS = 20.0


def _breathing(rates_bpm, seconds_each, amp=1.0, noise=0.0, seed=0):
    """A signal whose instantaneous frequency steps through ``rates_bpm`` (phase-continuous)."""
    f = np.concatenate([np.full(int(s * FS), r / 60.0) for r, s in zip(rates_bpm, seconds_each)])
    phase = 2 * np.pi * np.cumsum(f) / FS
    x = amp * np.sin(phase) + np.random.default_rng(seed).normal(0, noise, len(f))
    return x, phase


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(8, 60), noise=st.floats(0, 0.2), seed=st.integers(0, 99))
def test_counts_every_breath_of_a_steady_pattern(rate, noise, seed):
    x, phase = _breathing([rate], [60], noise=noise, seed=seed)
    b = detect_breaths(x, FS)
    true = int(phase[-1] // (2 * np.pi))
    assert abs((len(b) - 1) - true) <= 2  # B boundaries hold B − 1 whole breaths; a breath lost at each edge
    assert abs(np.median(instantaneous_rate(b, FS)) - rate) < 0.05 * rate + 0.5


def test_window_rate_follows_a_pattern_change_that_a_spectrum_would_blur():
    x, _ = _breathing([12, 36], [60, 60])
    w = breath_windows(detect_breaths(x, FS), len(x), FS)
    t = w.start_s + 15
    assert np.all(np.abs(w.rate[t < 40] - 12) < 1)
    assert np.all(np.abs(w.rate[t > 80] - 36) < 1.5)
    mixed = (t > 50) & (t < 70)  # windows holding both patterns: the breaths' mean, between the two
    assert np.all((w.rate[mixed] > 12) & (w.rate[mixed] < 36))
    assert not w.flagged[~mixed].any()


def test_flags_few_breaths_and_motion():
    x = np.r_[_breathing([15], [30])[0], np.zeros(600)]
    motion = np.zeros(len(x))
    motion[100:110] = 2.0  # 20 px within the first window
    w = breath_windows(detect_breaths(x, FS), len(x), FS, motion=motion)
    assert "motion" in w.reasons[0]
    assert "few" in w.reasons[-1] and w.flagged[-1]


def test_irregular_breaths_are_flagged():
    x, _ = _breathing([10, 50, 10, 50], [8, 6, 8, 8])
    w = breath_windows(detect_breaths(x, FS), len(x), FS, max_cv=0.3)
    assert w.flagged[0] and "irregular" in w.reasons[0]


def test_instantaneous_rate_is_sixty_over_the_breath_duration():
    assert np.allclose(instantaneous_rate(np.array([0, 80, 120]), FS), [15.0, 30.0])
    assert instantaneous_rate(np.array([5]), FS).size == 0
