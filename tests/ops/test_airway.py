"""The airway power map and tracker on synthetic video with a known oscillating patch."""

import numpy as np
from hypothesis import given, settings, strategies as st

from thermcli.ops.airway import airway_score, locate_airway, power_map, running_median


def _video(n=400, fs=20.0, cx=50, cy=30, rate_hz=0.3, amp=5.0, seed=0, streak=True):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    frames = 30 + rng.normal(0, 0.3, (n, 60, 80)).astype(np.float32)
    yy, xx = np.mgrid[0:60, 0:80]
    patch = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= 6 ** 2
    frames[:, patch] += (amp * np.sin(2 * np.pi * rate_hz * t))[:, None]
    if streak:  # a thin line that oscillates more strongly (a moving tube's edge)
        frames[:, 5:55, 10] += (3 * amp * np.sin(2 * np.pi * rate_hz * t))[:, None]
    return frames


def test_power_map_is_rms_of_an_in_band_sine():
    fs, n = 20.0, 400
    t = np.arange(n) / fs
    frames = np.zeros((n, 2, 2), np.float32)
    frames[:, 0, 0] = 4 * np.sin(2 * np.pi * 0.5 * t)
    frames[:, 1, 1] = 4 * np.sin(2 * np.pi * 5.0 * t)  # out of band
    amp = power_map(frames, fs)
    assert abs(amp[0, 0] - 4 / np.sqrt(2)) < 0.1
    assert amp[1, 1] < 0.05 and amp[0, 1] == 0


@settings(max_examples=4, deadline=None)
@given(cx=st.integers(25, 68), cy=st.integers(16, 44), seed=st.integers(0, 100))
def test_tracker_finds_the_patch_not_the_streak(cx, cy, seed):
    track = locate_airway(_video(n=200, cx=cx, cy=cy, seed=seed), 20.0, window_s=5, step_s=5, scale=1, open_radius_px=3)
    # the opening flattens the patch (radius 6) to a plateau of radius 6 − 3: the maximum sits on it
    assert np.all(np.hypot(track.x - cx, track.y - cy) <= 4.0)


def test_without_opening_the_streak_wins():
    frames = _video()
    raw = power_map(frames, 20.0)
    r, c = np.unravel_index(np.argmax(raw), raw.shape)
    assert c == 10  # the streak: why the opening is needed
    opened = airway_score(raw, 3)
    r, c = np.unravel_index(np.argmax(opened), opened.shape)
    assert abs(c + 0.5 - 50) <= 3 and abs(r + 0.5 - 30) <= 3  # on the plateau of radius 6 − 3


def test_tracker_follows_a_moving_patch():
    a = _video(n=400, cx=30, streak=False)
    b = _video(n=400, cx=55, streak=False, seed=1)
    track = locate_airway(np.concatenate([a, b]), 20.0, window_s=10, step_s=5, scale=2, open_radius_px=4, smooth=1)
    assert abs(track.x[100] - 30) <= 2 and abs(track.x[700] - 55) <= 2


def test_running_median_drops_a_single_jump():
    v = np.array([[1.0], [1.0], [50.0], [1.0], [1.0]])
    assert np.all(running_median(v, 3) == 1.0)
