"""ROI masks (against OpenCV / direct geometry) and region statistics (against NumPy)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.ops.roi import (
    band_mask,
    box_mask,
    disc_mask,
    polygon_mask,
    region_stats,
    saturation_limits,
    segment_mask,
    stat_columns,
)


def test_box_mask_integer_box_is_slice():
    mask = box_mask((10, 12), (2, 3, 4, 5))
    expected = np.zeros((10, 12), bool)
    expected[3:8, 2:6] = True
    np.testing.assert_array_equal(mask, expected)


def test_box_mask_outside_frame_is_empty_and_partial_is_clipped():
    assert not box_mask((10, 12), (50, 50, 4, 4)).any()
    assert not box_mask((10, 12), (2, 2, 0, 4)).any()
    assert not box_mask((10, 12), (math.nan, 2, 3, 4)).any()
    partial = box_mask((10, 12), (10, 8, 5, 5))
    assert partial.sum() == 2 * 2 and partial[8:10, 10:12].all()


def test_polygon_rectangle_equals_box():
    poly = [[2, 3], [6, 3], [6, 8], [2, 8]]
    np.testing.assert_array_equal(polygon_mask((10, 12), poly), box_mask((10, 12), (2, 3, 4, 5)))


def test_polygon_triangle_matches_cv2_point_in_polygon():
    pts = np.array([[1.0, 1.0], [18.0, 4.0], [6.0, 15.0]])
    mask = polygon_mask((20, 20), pts)
    contour = (pts - 0.5).astype(np.float32).reshape(-1, 1, 2)
    inside = np.array(
        [[cv2.pointPolygonTest(contour, (float(c), float(r)), True) for c in range(20)] for r in range(20)]
    )
    # pixels clearly inside / outside agree; the boundary ring (< 1 px) may go either way
    assert mask[inside > 1].all()
    assert not mask[inside < -1].any()


def test_polygon_needs_three_points():
    with pytest.raises(ValueError, match="at least 3"):
        polygon_mask((5, 5), [[0, 0], [1, 1]])


@settings(max_examples=40, deadline=None)
@given(
    cx=st.floats(-5, 25), cy=st.floats(-5, 25), r=st.floats(0.5, 9),
)
def test_disc_mask_is_distance_rule(cx, cy, r):
    mask = disc_mask((20, 22), (cx, cy), r)
    rows, cols = np.mgrid[0:20, 0:22]
    expected = np.hypot(cols + 0.5 - cx, rows + 0.5 - cy) <= r
    np.testing.assert_array_equal(mask, expected)


def test_disc_zero_radius_is_empty():
    assert not disc_mask((5, 5), (2, 2), 0).any()


def test_segment_mask_axis_aligned_is_box():
    # horizontal segment (2, 5)→(10, 5), width 4: x in [2, 10], y in [3, 7]
    mask = segment_mask((12, 14), (2, 5), (10, 5), 4)
    np.testing.assert_array_equal(mask, box_mask((12, 14), (2, 3, 8, 4)))


def test_segment_mask_matches_cv2_rotated_rectangle():
    start, end, width = np.array([3.0, 4.0]), np.array([20.0, 17.0]), 5.0
    mask = segment_mask((24, 26), start, end, width)
    center = (start + end) / 2
    length = float(np.hypot(*(end - start)))
    angle = math.degrees(math.atan2(end[1] - start[1], end[0] - start[0]))
    corners = cv2.boxPoints(((center[0] - 0.5, center[1] - 0.5), (length, width), angle))
    contour = corners.astype(np.float32).reshape(-1, 1, 2)
    inside = np.array([[cv2.pointPolygonTest(contour, (float(c), float(r)), True) for c in range(26)] for r in range(24)])
    assert mask[inside > 0.75].all()
    assert not mask[inside < -0.75].any()
    assert abs(mask.sum() - length * width) < 0.25 * length * width


def test_segment_degenerate_is_empty():
    assert not segment_mask((5, 5), (1, 1), (1, 1), 3).any()
    assert not segment_mask((5, 5), (1, 1), (4, 1), 0).any()


def test_band_mask_threshold_and_largest_component():
    frame = np.full((20, 20), 22.0, np.float32)
    frame[2:12, 2:12] = 34.0  # big warm blob (100 px)
    frame[15:18, 15:18] = 33.0  # small warm blob (9 px)
    frame[5, 5] = np.nan
    raw = band_mask(frame, 30, 37)
    assert raw.sum() == 100 - 1 + 9 and not raw[5, 5]
    largest = band_mask(frame, 30, 37, largest=True)
    assert largest.sum() == 99 and not largest[16, 16]
    big_only = band_mask(frame, 30, 37, min_area=20)
    assert big_only.sum() == 99


def test_band_mask_morphology_matches_cv2():
    rng = np.random.default_rng(0)
    frame = (28 + 8 * rng.random((30, 30))).astype(np.float32)
    binary = ((frame >= 30) & (frame <= 35)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    expected = cv2.morphologyEx(cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    np.testing.assert_array_equal(band_mask(frame, 30, 35, open_px=3, close_px=3), expected.astype(bool))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), nan_share=st.floats(0, 0.5))
def test_region_stats_equal_numpy_on_masked_pixels(seed, nan_share):
    rng = np.random.default_rng(seed)
    frame = (20 + 15 * rng.random((16, 18))).astype(np.float32)
    frame[rng.random(frame.shape) < nan_share] = np.nan
    mask = rng.random(frame.shape) < 0.4
    mask[0, 0] = True
    frame[0, 0] = 25.0  # at least one finite pixel in the region
    stats = region_stats(frame, mask, percentiles=(5, 50, 95), saturation=(21.0, 34.0))
    pixels = frame[mask].astype(np.float64)
    finite = pixels[np.isfinite(pixels)]
    assert stats["mean"] == pytest.approx(np.mean(finite), rel=1e-12)
    assert stats["median"] == pytest.approx(np.median(finite), rel=1e-12)
    assert stats["min"] == finite.min() and stats["max"] == finite.max()
    assert stats["std"] == pytest.approx(np.std(finite), rel=1e-9, abs=1e-12)
    for p in (5, 50, 95):
        assert stats[f"p{p}"] == pytest.approx(np.percentile(finite, p), rel=1e-12)
    assert stats["area_px"] == mask.sum()
    assert stats["nan_fraction"] == pytest.approx(np.isnan(pixels).sum() / mask.sum())
    assert stats["saturated_fraction"] == pytest.approx(((finite <= 21) | (finite >= 34)).sum() / mask.sum())
    assert list(stats) == stat_columns((5, 50, 95))


def test_region_stats_integer_saturation_and_empty_region():
    frame = np.array([[0, 10, 255], [255, 20, 30]], np.uint8)
    stats = region_stats(frame, np.ones((2, 3), bool))
    assert saturation_limits(np.uint8) == (0.0, 255.0)
    assert stats["saturated_fraction"] == pytest.approx(3 / 6)
    assert stats["mean"] == pytest.approx(frame.mean())
    empty = region_stats(frame, np.zeros((2, 3), bool), percentiles=(50,))
    assert empty["area_px"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["p50"])
    assert math.isnan(empty["nan_fraction"])


def test_region_stats_all_nan_region():
    frame = np.full((3, 3), np.nan, np.float32)
    stats = region_stats(frame, np.ones((3, 3), bool))
    assert math.isnan(stats["mean"]) and stats["nan_fraction"] == 1.0 and stats["saturated_fraction"] == 0.0


def test_region_stats_never_mutates_input():
    frame = np.arange(12, dtype=np.float32).reshape(3, 4)
    before = frame.copy()
    region_stats(frame, frame > 3, percentiles=(10,))
    np.testing.assert_array_equal(frame, before)
