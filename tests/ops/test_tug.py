"""The TUG analysis on hand-built keypoint tracks with known phase boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tug_tracks import BOUNDS, track
from thermcli.ops.tug import BOUNDARIES, analyse_track, fit_step


def _errors(result, t0=100.0, bounds=BOUNDS):
    return np.array([result.boundaries[b] - (t0 + v) for b, v in zip(BOUNDARIES, bounds)])


@pytest.mark.parametrize("fps", [10.0, 8.0, 1.25])
def test_known_boundaries_recovered(fps):
    t, kp, _ = track(fps)
    result = analyse_track(t, kp)
    assert result.found, result.reason
    assert np.abs(_errors(result)).max() < 0.15
    assert result.total_s == pytest.approx(BOUNDS[-1] - BOUNDS[0], abs=0.15)
    assert set(result.durations) == {"stand_up", "walk_out", "turn", "walk_back", "turn_and_sit"}
    assert all(0.5 < c <= 1 for c in result.confidence.values())


def test_other_timing_and_clock_offset():
    bounds = (2.0, 3.2, 6.0, 7.0, 9.5, 12.6)
    t, kp, _ = track(8.0, bounds=bounds, duration=14.0, t0=5000.0)
    result = analyse_track(t, kp)
    assert np.abs(_errors(result, 5000.0, bounds)).max() < 0.2


def test_missing_frames_and_keypoints():
    t, kp, _ = track(8.0, seed=3)
    rng = np.random.default_rng(1)
    keep = np.sort(rng.choice(len(t), int(0.7 * len(t)), replace=False))  # 30% of the frames dropped
    t, kp = t[keep], kp[keep].copy()
    gone = rng.random(len(t)) < 0.2
    kp[gone, 11, 2] = 0  # one hip missing: the other carries the mid-hip (shifted by 3 px)
    kp[gone, 11, :2] = 0
    kp[rng.random(len(t)) < 0.05, :, 2] = 0  # whole frames without a person
    shuffled = rng.permutation(len(t))  # order does not matter: timestamps do
    result = analyse_track(t[shuffled], kp[shuffled])
    assert result.found, result.reason
    assert np.abs(_errors(result)).mean() < 0.3
    assert abs(result.total_s - (BOUNDS[-1] - BOUNDS[0])) < 0.3


def test_reversed_direction_gives_the_same_times():
    t, kp, _ = track(8.0)
    forward = analyse_track(t, kp)
    t, kp, _ = track(8.0, reverse=True)
    backward = analyse_track(t, kp)
    assert forward.direction == "left-to-right" and backward.direction == "right-to-left"
    for b in BOUNDARIES:
        assert backward.boundaries[b] == pytest.approx(forward.boundaries[b], abs=0.05)


def test_no_standing_up_is_not_found():
    t, kp, _ = track(8.0, stands=False)
    result = analyse_track(t, kp)
    assert not result.found
    assert "no standing up" in result.reason
    assert result.total_s is None and all(v is None for v in result.boundaries.values())


def test_still_standing_at_the_end_is_not_found():
    t, kp, _ = track(8.0)
    keep = t < 100.0 + 7.0
    result = analyse_track(t[keep], kp[keep])
    assert not result.found and "no sitting back" in result.reason


def test_too_few_frames_is_not_found():
    t, kp, _ = track(8.0)
    result = analyse_track(t[:3], kp[:3])
    assert not result.found and "too few frames" in result.reason


def test_gait_speed_and_steps():
    t, kp, _ = track(10.0, step_hz=1.0)
    result = analyse_track(t, kp, pixel_size=0.05)
    walked = 40.0 / (BOUNDS[2] - BOUNDS[1])
    assert result.gait["walking_speed_px_s"] == pytest.approx(walked, rel=0.05)
    assert result.gait["walking_speed_m_s"] == pytest.approx(walked * 0.05, rel=0.05)
    walking_s = (BOUNDS[2] - BOUNDS[1]) + (BOUNDS[4] - BOUNDS[3])
    assert abs(result.gait["steps"] - 2 * 1.0 * walking_s) <= 2  # two steps per gait cycle
    slow = analyse_track(*track(1.25)[:2])
    assert slow.gait["steps"] is None and "cannot resolve steps" in slow.gait["steps_note"]


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 4.0), st.floats(0.6, 3.0), st.floats(-5, 5), st.floats(0.5, 20))
def test_fit_step_recovers_a_ramp(t0, duration, level, height):
    t = np.arange(0.0, 8.0, 0.25)
    y = level + height * np.clip((t - t0) / duration, 0, 1)
    start, end, a, b, rms = fit_step(t, y, shape="linear", lo_t=0.0, hi_t=5.0)
    assert start == pytest.approx(t0, abs=0.06)
    assert end == pytest.approx(t0 + duration, abs=0.1)
    assert b == pytest.approx(height, rel=0.05)
    assert rms < 0.05 * height
