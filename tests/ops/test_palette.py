"""Palettes: apply/invert round trip (property), OpenCV reference, temperature windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from thermcli.errors import UsageError
from thermcli.ops.palette import (
    apply_palette,
    invert_palette,
    is_invertible,
    palette_lut,
    palette_names,
    uint8_to_window,
    window_to_uint8,
)

INVERTIBLE = [name for name in palette_names() if is_invertible(name)]


def test_required_palettes_exist_and_are_invertible():
    for name in ("ironbow", "rainbow", "white-hot", "black-hot"):
        assert name in INVERTIBLE
        assert palette_lut(name).shape == (256, 3)


@pytest.mark.parametrize("name", INVERTIBLE)
@settings(max_examples=25, deadline=None)
@given(values=arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_invert_apply_is_identity(name, values):
    rgb = apply_palette(values, name)
    assert rgb.shape == (*values.shape, 3)
    np.testing.assert_array_equal(invert_palette(rgb, name), values)


@pytest.mark.parametrize("name", INVERTIBLE)
def test_invert_is_nearest_entry_under_noise(name):
    """A colour near entry v (JPEG noise) inverts to the entry closest to it, brute force."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    noisy = np.clip(apply_palette(values, name).astype(int) + rng.integers(-6, 7, (40, 40, 3)), 0, 255).astype(np.uint8)
    lut = palette_lut(name).astype(np.int64)
    dist = ((noisy.reshape(-1, 1, 3).astype(np.int64) - lut[None]) ** 2).sum(-1)
    best = dist.min(axis=1)
    got = invert_palette(noisy, name).reshape(-1)
    # the answer is one of the nearest entries (ties are allowed to resolve either way)
    np.testing.assert_array_equal(dist[np.arange(len(got)), got], best)


def test_opencv_palette_matches_applycolormap():
    import cv2

    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    want = cv2.applyColorMap(values, cv2.COLORMAP_JET)[:, :, ::-1]
    np.testing.assert_array_equal(apply_palette(values, "jet"), want)


def test_grey_palettes():
    values = np.array([[0, 128, 255]], np.uint8)
    np.testing.assert_array_equal(apply_palette(values, "white-hot")[..., 0], values)
    np.testing.assert_array_equal(apply_palette(values, "black-hot")[..., 0], 255 - values)


def test_invert_batch_shape():
    values = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    np.testing.assert_array_equal(invert_palette(apply_palette(values, "ironbow"), "ironbow"), values)


def test_unknown_palette_is_usage_error():
    with pytest.raises(UsageError, match="did you mean ironbow"):
        apply_palette(np.zeros((2, 2), np.uint8), "ironbw")


@settings(max_examples=50, deadline=None)
@given(
    lo=st.floats(-50, 50),
    width=st.floats(0.5, 100),
    values=arrays(np.float32, 20, elements=st.floats(-100, 200, width=32)),
)
def test_window_roundtrip_within_one_step(lo, width, values):
    hi = lo + width
    codes = window_to_uint8(values, lo, hi)
    back = uint8_to_window(codes, lo, hi)
    inside = (values >= lo) & (values <= hi)
    step = width / 255
    assert np.all(np.abs(back[inside] - values[inside]) <= step / 2 + 1e-4 * max(1, abs(lo) + width))
    assert np.all(codes[values < lo] == 0) and np.all(codes[values > hi] == 255)


def test_window_nan_is_zero():
    codes = window_to_uint8(np.array([np.nan, 30.0]), 20, 40)
    assert codes.tolist() == [0, 128]
