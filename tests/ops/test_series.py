"""Series smoothing (against SciPy / direct loops) and per-recording summaries (by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from thermcli.ops.series import fill_gaps, recording_bounds, smooth, summarize_series


def test_fill_gaps_linear():
    np.testing.assert_allclose(fill_gaps(np.array([np.nan, 1.0, np.nan, 3.0, np.nan])), [1, 1, 2, 3, 3])
    assert np.isnan(fill_gaps(np.array([np.nan, np.nan]))).all()


def test_smooth_moving_average_by_hand():
    x = np.array([1.0, 2.0, 6.0, 4.0, 5.0])
    # centred window 3, shrinking at the ends
    np.testing.assert_allclose(smooth(x, "moving", 3), [1.5, 3.0, 4.0, 5.0, 4.5])


def test_smooth_median_and_savgol_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    np.testing.assert_allclose(smooth(x, "median", 5), median_filter(x, size=5, mode="nearest"))
    np.testing.assert_allclose(smooth(x, "savgol", 7), savgol_filter(x, 7, 2, mode="interp"))


def test_smooth_ema_by_hand_and_nan_kept():
    x = np.array([0.0, 3.0, np.nan, 3.0])
    out = smooth(x, "ema", 2)  # alpha = 2/3; the NaN sample is interpolated (3.0) then re-masked
    a = 2 / 3
    e1 = a * 3
    e2 = a * 3 + (1 - a) * e1
    e3 = a * 3 + (1 - a) * e2
    np.testing.assert_allclose(out[[0, 1, 3]], [0.0, e1, e3])
    assert math.isnan(out[2])


def test_smooth_unknown_method():
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth(np.zeros(3), "gauss", 3)


def test_summary_by_hand():
    t = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    y = np.array([30.0, 30.2, 31.0, 33.0, 32.0, np.nan])
    s = summarize_series(t, y, baseline=(0.0, 1.0))
    assert s["baseline"] == pytest.approx(30.1)
    assert s["end"] == 32.0 and s["change"] == pytest.approx(1.9)
    assert s["peak"] == 33.0 and s["time_to_peak_s"] == 3.0 and s["peak_change"] == pytest.approx(2.9)
    assert s["trough"] == 30.0 and s["time_to_trough_s"] == 0.0
    # least squares through (10,30) (11,30.2) (12,31) (13,33) (14,32): Σ(t−12)(y−31.24)/Σ(t−12)² = 6.8/10
    tt, yy = t[:5], y[:5]
    slope = ((tt - tt.mean()) * (yy - yy.mean())).sum() / ((tt - tt.mean()) ** 2).sum()
    assert slope == pytest.approx(0.68)
    assert s["slope_per_min"] == pytest.approx(0.68 * 60)
    # trapezoids of y - 30.1: (-0.1, 0.1, 0.9, 2.9, 1.9)
    dev = [-0.1, 0.1, 0.9, 2.9, 1.9]
    assert s["auc"] == pytest.approx(sum((dev[i] + dev[i + 1]) / 2 for i in range(4)))
    assert s["n_frames"] == 6 and s["duration_s"] == 5.0


def test_summary_baseline_window_empty_gives_nan():
    s = summarize_series(np.arange(5.0), np.ones(5), baseline=(100.0, 200.0))
    assert math.isnan(s["baseline"]) and math.isnan(s["change"]) and math.isnan(s["auc"])
    assert s["mean"] == 1.0


def test_summary_all_nan_and_empty():
    s = summarize_series(np.arange(3.0), np.full(3, np.nan))
    assert math.isnan(s["mean"]) and s["n_frames"] == 3
    assert summarize_series(np.zeros(0), np.zeros(0))["n_frames"] == 0


def test_recording_bounds():
    assert recording_bounds(["a", "a", "b", "b", "b", "a"]) == [("a", 0, 2), ("b", 2, 5), ("a", 5, 6)]
    assert recording_bounds([]) == []
