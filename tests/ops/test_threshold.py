"""ops.threshold: every method equals the direct OpenCV/NumPy call on the same windowed frame,
bit for bit; windowing, NaN masking and emit modes are property-tested."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.ops.threshold import (
    ThresholdConfig,
    auto_window,
    emit_copy,
    multi_otsu_thresholds,
    threshold_frames,
    to_gray,
    window_to_u8,
    windowed,
)


def thermal_frames(n=3, h=48, w=64, seed=0, nan=False):
    """Smooth warm blobs on a cool background plus sensor noise, °C."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.2 * w) ** 2))
        frames[i] = 22 + 13 * blob + rng.normal(0, 0.3, (h, w))
    if nan:
        frames[:, :5, :7] = np.nan
    return frames


def masks(frames, **kwargs):
    cfg = ThresholdConfig(emit="mask", **kwargs)
    return threshold_frames(frames, cfg).frames, cfg


def working(frame, cfg):
    return windowed(frame, cfg.window, cfg.percentiles)[0]


@pytest.mark.parametrize("window", [None, (20.0, 40.0)])
def test_binary_equals_cv2(window):
    frames = thermal_frames()
    out, cfg = masks(frames, method="binary", levels=(50.0, 150.0, 250.0), window=window)
    for i, frame in enumerate(frames):
        u8 = working(frame, cfg)
        for j, level in enumerate(cfg.levels):
            ref = cv2.threshold(u8, level, 255, cv2.THRESH_BINARY)[1]
            assert np.array_equal(out[i * 3 + j], ref)


def test_canny_equals_cv2():
    frames = thermal_frames(seed=1)
    out, cfg = masks(frames, method="canny", levels=(40.0, 120.0), canny_ratio=0.4)
    for i, frame in enumerate(frames):
        u8 = working(frame, cfg)
        for j, level in enumerate(cfg.levels):
            ref = cv2.Canny(u8, 0.4 * level, level)
            assert np.array_equal(out[i * 2 + j], ref)
            assert ref.any()  # the test compares real edges, not two empty maps


def test_otsu_equals_cv2():
    frames = thermal_frames(seed=2)
    out, cfg = masks(frames, method="otsu", levels=(128.0, 255.0))
    for i, frame in enumerate(frames):
        u8 = working(frame, cfg)
        ref_plain = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
        assert np.array_equal(out[i * 2 + 1], ref_plain)  # level 255 = plain Otsu
        truncated = cv2.threshold(u8, 128, 255, cv2.THRESH_TRUNC)[1]
        ref = cv2.threshold(truncated, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
        assert np.array_equal(out[i * 2], ref)


@pytest.mark.parametrize("method,flag", [("adaptive-mean", cv2.ADAPTIVE_THRESH_MEAN_C), ("adaptive-gaussian", cv2.ADAPTIVE_THRESH_GAUSSIAN_C)])
def test_adaptive_equals_cv2(method, flag):
    frames = thermal_frames(seed=3)
    out, cfg = masks(frames, method=method, levels=(0.0, 100.0), block_size=9, offset=-1.0)
    for i, frame in enumerate(frames):
        u8 = working(frame, cfg)
        local = cv2.adaptiveThreshold(u8, 255, flag, cv2.THRESH_BINARY, 9, -1.0)
        for j, level in enumerate(cfg.levels):
            ref = np.where((local == 255) & (u8 > level), 255, 0).astype(np.uint8)
            assert np.array_equal(out[i * 2 + j], ref)


def test_temperature_equals_numpy():
    frames = thermal_frames(seed=4, nan=True)
    out, cfg = masks(frames, method="temperature", levels=(25.0, 30.0))
    for i, frame in enumerate(frames):
        for j, level in enumerate(cfg.levels):
            with np.errstate(invalid="ignore"):
                ref = np.where(frame >= level, 255, 0).astype(np.uint8)
            assert np.array_equal(out[i * 2 + j], ref)
    band, _ = masks(frames, method="temperature", band=(30.0, 37.0))
    with np.errstate(invalid="ignore"):
        ref = np.where((frames >= 30) & (frames <= 37), 255, 0).astype(np.uint8)
    assert np.array_equal(band, ref)


def brute_force_multi_otsu(u8: np.ndarray, classes: int) -> list[int]:
    """Reference: try every set of class boundaries, maximise Σ w_k μ_k² (class terms added
    left to right); ties go to the lowest last threshold, then the one before it."""
    hist = np.bincount(u8.ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    w = np.concatenate([[0.0], np.cumsum(p)])
    m = np.concatenate([[0.0], np.cumsum(p * np.arange(256))])

    def term(i, j):
        dw = w[j] - w[i]
        return (m[j] - m[i]) ** 2 / dw if dw > 0 else 0.0

    best, best_key = -1.0, None
    for cut in itertools.combinations(range(1, 256), classes - 1):
        bounds = (0, *cut, 256)
        total = 0.0
        for a, b in zip(bounds[:-1], bounds[1:]):
            total = total + term(a, b)
        key = tuple(reversed(cut))
        if total > best or (total == best and key < best_key):
            best, best_key, best_cut = total, key, cut
    return [c - 1 for c in best_cut]


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_otsu_equals_brute_force(classes, seed):
    # scikit-image is not a dependency, so the reference is the exhaustive search above
    rng = np.random.default_rng(seed)
    if seed == 2:  # few distinct values: wide empty gaps, exact ties
        u8 = rng.choice(np.array([10, 40, 41, 200, 230], np.uint8), size=(24, 24))
    else:
        u8 = window_to_u8(thermal_frames(1, 24, 24, seed=seed)[0], 20, 40)
    assert multi_otsu_thresholds(u8, classes) == brute_force_multi_otsu(u8, classes)


def test_multi_otsu_mask_is_warmest_class():
    frames = thermal_frames(seed=5)
    out, cfg = masks(frames, method="multi-otsu", levels=(2.0, 3.0))
    for i, frame in enumerate(frames):
        u8 = working(frame, cfg)
        for j, k in enumerate((2, 3)):
            top = brute_force_multi_otsu(u8, k)[-1] if k == 2 else multi_otsu_thresholds(u8, k)[-1]
            ref = cv2.threshold(u8, top, 255, cv2.THRESH_BINARY)[1]
            assert np.array_equal(out[i * 2 + j], ref)


@given(
    lo=st.floats(-50, 100, allow_nan=False),
    width=st.floats(0.5, 100, allow_nan=False),
    values=st.lists(st.floats(-100, 250, allow_nan=False, width=32), min_size=2, max_size=40),
)
@settings(max_examples=60, deadline=None)
def test_window_to_u8_properties(lo, width, values):
    x = np.array(values, np.float32)[None, :]
    hi = lo + width
    u8 = window_to_u8(x, lo, hi)
    assert u8.dtype == np.uint8
    assert np.all(u8[x <= lo] == 0) and np.all(u8[x >= hi] == 255)
    order = np.argsort(x[0], kind="stable")
    assert np.all(np.diff(u8[0][order].astype(int)) >= 0)  # monotone
    expected = np.clip((x.astype(np.float64) - lo) * 255 / width, 0, 255)
    assert np.all(np.abs(u8 - expected) <= 0.5 + 1e-3)


def test_auto_window_is_percentiles_of_finite_pixels():
    frame = thermal_frames(1, seed=6, nan=True)[0]
    lo, hi = auto_window(frame, (2, 98))
    finite = frame[np.isfinite(frame)]
    assert [lo, hi] == [float(v) for v in np.percentile(finite, (2, 98))]
    assert auto_window(np.full((4, 4), 30.0, np.float32)) == (30.0, 31.0)  # flat frame: no crash


@pytest.mark.parametrize("method", ["binary", "canny", "otsu", "multi-otsu", "adaptive-mean", "adaptive-gaussian", "temperature"])
def test_nan_pixels_are_masked_never_a_crash(method):
    frames = thermal_frames(2, seed=7, nan=True)
    levels = (2.0, 3.0) if method == "multi-otsu" else (25.0, 30.0) if method == "temperature" else (10.0, 100.0)
    for emit in ("mask", "masked", "stack"):
        result = threshold_frames(frames, ThresholdConfig(method=method, levels=levels, emit=emit))
        out = result.frames
        assert len(out) == 4
        if emit == "mask":
            assert not out[:, :5, :7].any()
        elif emit == "masked":
            assert np.isfinite(out).all()  # masked-out pixels hold the window's low end
            np.testing.assert_array_equal(out[:, :5, :7], np.repeat(result.window_lo, 1)[:, None, None] * np.ones((1, 5, 7), np.float32))
        else:
            assert out.shape == (4, 48, 64, 2) and not out[:, :5, :7, 1].any()


def test_emit_modes_keep_temperatures_and_stack():
    frame = thermal_frames(1, seed=8)[0]
    mask = cv2.threshold(window_to_u8(frame, 20, 40), 128, 255, cv2.THRESH_BINARY)[1]
    masked = emit_copy(frame, mask, "masked", np.float32(20.0))
    on = mask == 255
    assert np.array_equal(masked[on], frame[on]) and np.all(masked[~on] == 20.0)
    stack = emit_copy(frame, mask, "stack", np.float32(20.0))
    assert stack.shape == frame.shape + (2,) and np.array_equal(stack[..., 0], frame)
    assert set(np.unique(stack[..., 1])) <= {0.0, 1.0}
    rgb = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    m = np.zeros((8, 9), np.uint8)
    m[2:5] = 255
    out = emit_copy(rgb, m, "masked", np.uint8(0))
    assert np.array_equal(out[2:5], rgb[2:5]) and not out[:2].any()
    assert emit_copy(rgb, m, "stack", np.uint8(0)).shape == (8, 9, 4)


def test_rgb_frames_go_grey_with_cv2():
    rgb = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    assert np.array_equal(to_gray(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    out = threshold_frames(rgb[None], ThresholdConfig(method="binary", levels=(100.0,), emit="mask")).frames[0]
    assert np.array_equal(out, cv2.threshold(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 100, 255, cv2.THRESH_BINARY)[1])


def test_inputs_are_not_modified():
    frames = thermal_frames(2, seed=9, nan=True)
    before = frames.copy()
    threshold_frames(frames, ThresholdConfig(method="otsu", levels=(255.0,), emit="masked"))
    assert np.array_equal(frames, before, equal_nan=True)
