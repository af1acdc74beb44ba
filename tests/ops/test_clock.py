"""The sync-mark clock map, resampling onto frames and the phase from a signed flow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.errors import DataError
from thermcli.io.signals import read_leading_columns
from thermcli.ops.clock import (
    EXH,
    INH,
    estimate_sample_rate,
    fit_clock_map,
    flow_volume_agreement,
    phase_from_flow,
    resample_at,
)


def _marks(draw_gaps):
    return np.cumsum(np.asarray(draw_gaps, np.float64))


gaps = st.lists(st.floats(0.5, 60.0), min_size=2, max_size=8)


@settings(max_examples=60, deadline=None)
@given(gaps, st.floats(0.9, 1.1), st.floats(-10.0, 10.0))
def test_a_straight_clock_is_recovered_everywhere(g, slope, intercept):
    src = _marks(g)
    dst = slope * src + intercept
    clock = fit_clock_map(src, dst)
    t = np.linspace(src[0] - 30, src[-1] + 30, 57)
    np.testing.assert_allclose(clock(t), slope * t + intercept, atol=1e-7)
    s = clock.summary()
    assert s["rate_ratio"] == pytest.approx(slope, abs=1e-7)
    assert s["offset_s"] == pytest.approx(float(np.mean(dst - src)), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(gaps, st.lists(st.floats(-3.0, 3.0), min_size=8, max_size=8))
def test_the_map_passes_through_every_mark_and_keeps_order(g, jitter):
    src = _marks(g)
    dst = src + 2.0 + 0.1 * np.asarray(jitter[: len(src)])
    dst = np.maximum.accumulate(dst + np.arange(len(dst)) * 1e-3)  # keep it increasing
    clock = fit_clock_map(src, dst)
    np.testing.assert_allclose(clock(src), dst, atol=1e-9)
    t = np.sort(np.linspace(src[0] - 5, src[-1] + 5, 101))
    assert np.all(np.diff(clock(t)) >= -1e-12)  # monotone: the signal's clock never runs backwards
    s = clock.summary()
    np.testing.assert_allclose(s["offset_sd_s"], np.std(dst - src, ddof=1), atol=1e-12)


def test_one_mark_is_a_constant_offset_and_spreads_are_nan():
    clock = fit_clock_map([5.0], [6.5])
    np.testing.assert_allclose(clock(np.array([0.0, 5.0, 100.0])), [1.5, 6.5, 101.5])
    s = clock.summary()
    assert s["offset_s"] == 1.5 and np.isnan(s["offset_sd_s"]) and s["rate_ratio"] == 1.0


@pytest.mark.parametrize("src,dst,needle", [
    ([1, 2, 3], [1, 2], "pair one to one"),
    ([], [], "no sync marks"),
    ([1, 3, 2], [1, 2, 3], "strictly increasing"),
    ([1, np.nan], [1, 2], "finite"),
])
def test_bad_marks_are_data_errors(src, dst, needle):
    with pytest.raises(DataError, match=needle):
        fit_clock_map(src, dst, where="marks.txt")


def test_resampling_a_linear_signal_is_exact_inside_and_nan_outside():
    rate = 50.0
    k = np.arange(200)
    values = 3.0 * k / rate - 1.0  # a ramp in time
    t = np.array([-0.1, 0.0, 0.013, 1.5, 3.98, 4.5])
    out = resample_at(values, rate, t)
    np.testing.assert_allclose(out[1:5], 3.0 * t[1:5] - 1.0)
    assert np.isnan(out[0]) and np.isnan(out[5])
    np.testing.assert_allclose(resample_at(values, rate, t[1:5]), np.interp(t[1:5] * rate, k, values))


def test_sample_rate_from_the_marks_and_the_count():
    clock = fit_clock_map([0.0, 10.0], [2.0, 12.0])  # the signal started 2 s before the video
    assert estimate_sample_rate(clock, n_samples=2500, frames_end_s=98.0) == pytest.approx(25.0)
    with pytest.raises(DataError):
        estimate_sample_rate(fit_clock_map([0.0], [-200.0]), 100, 50.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=50), st.floats(0, 20))
def test_phase_follows_the_sign_outside_the_dead_band(flow, band):
    flow = np.asarray(flow)
    labels = phase_from_flow(flow, band)
    assert np.all(labels[flow > band] == EXH) and np.all(labels[flow < -band] == INH)
    assert np.all(labels[np.abs(flow) <= band] == -1)
    flipped = phase_from_flow(flow, band, positive="INH")
    np.testing.assert_array_equal(flipped[labels >= 0], 1 - labels[labels >= 0])
    assert phase_from_flow(np.array([np.nan]), 0.0).tolist() == [-1]


def test_volume_agreement_sees_the_sign_through_resets():
    rng = np.random.default_rng(0)
    flow = 40 * np.sin(np.arange(2000) / 15.0) + rng.normal(0, 2, 2000)
    volume = np.cumsum(flow) / 1200.0
    volume[700:] -= 3.0  # the device resets its volume now and then
    volume[1500:] += 5.0
    assert flow_volume_agreement(flow, volume) > 0.9
    assert flow_volume_agreement(-flow, volume) < -0.9


def test_leading_columns_of_ragged_rows(tmp_path):
    path = tmp_path / "spiro.txt"
    path.write_text("-6.9,0.04,-3.85,0,0,0\n-7.4,0.05,-3.92,92.2,44.8\n1.5,0.1,-3.9,0,0,0\n")
    table = read_leading_columns(path, ("flow", "pressure", "volume"))
    np.testing.assert_array_equal(table["flow"], [-6.9, -7.4, 1.5])
    np.testing.assert_array_equal(table["volume"], [-3.85, -3.92, -3.9])
    path.write_text("1,2\n3\n")
    with pytest.raises(DataError, match="row 2"):
        read_leading_columns(path, ("a", "b"))


@settings(max_examples=15, deadline=None)
@given(st.integers(-25, 25), st.integers(0, 2**16))
def test_xcorr_finds_a_known_lag(lag, seed):
    from thermcli.ops.clock import xcorr_lag

    fps = 20.0
    rng = np.random.default_rng(seed)
    n = 2400
    # irregular breathing: a random walk of the rate, so the lag is unambiguous
    phase = np.cumsum(2 * np.pi * np.clip(0.3 + 0.05 * np.cumsum(rng.normal(0, 0.05, n + 100)) / 10, 0.1, 0.8) / fps)
    flow = np.sin(phase) + 0.1 * rng.normal(size=n + 100)
    video = np.roll(flow, lag)[50:50 + n] + 0.2 * rng.normal(size=n)  # the video trails by `lag` frames
    got = xcorr_lag(video, flow[50:50 + n], fps)
    assert got["windows_used"] >= 3
    assert abs(got["lag_s"] - lag / fps) <= 1 / fps
    assert got["lag_sd_s"] <= 2 / fps
