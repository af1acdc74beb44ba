"""Top-down crops: aspect ratio, reference against OpenCV, and the 1e-4 px round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.ops.crops import apply_affine, crop_affine, crop_image, invert_affine, map_boxes, map_keypoints, padded_box

cv2 = pytest.importorskip("cv2")

boxes = st.tuples(
    st.floats(-50, 600), st.floats(-50, 400), st.floats(1, 400), st.floats(1, 400)
).map(lambda b: np.array(b))


@settings(max_examples=100, deadline=None)
@given(box=boxes, crop=st.sampled_from([(256, 192), (64, 48), (128, 128), (100, 300)]),
       padding=st.floats(1.0, 1.5), seed=st.integers(0, 2**31 - 1))
def test_keypoints_round_trip_within_1e4_px(box, crop, padding, seed):
    rng = np.random.default_rng(seed)
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = box[0] + rng.random(17) * box[2]
    kp[:, 1] = box[1] + rng.random(17) * box[3]
    kp[:, 2] = rng.integers(0, 3, 17)
    affine = crop_affine(box, crop, padding)
    in_crop = map_keypoints(affine, kp).astype(np.float32)  # stored as float32, like the dataset
    back = apply_affine(invert_affine(affine), in_crop[:, :2].astype(np.float64))
    labelled = kp[:, 2] > 0
    assert np.abs(back[labelled] - kp[labelled, :2]).max() < 1e-4
    assert np.all(in_crop[~labelled] == 0)


@settings(max_examples=60, deadline=None)
@given(box=boxes, crop=st.sampled_from([(256, 192), (64, 48), (100, 300)]), padding=st.floats(1.0, 1.5))
def test_padded_box_keeps_the_box_and_takes_the_crop_aspect(box, crop, padding):
    px, py, pw, ph = padded_box(box, crop, padding)
    assert pw / ph == pytest.approx(crop[1] / crop[0], rel=1e-9)
    assert px <= box[0] + 1e-9 and py <= box[1] + 1e-9
    assert px + pw >= box[0] + box[2] - 1e-9 and py + ph >= box[1] + box[3] - 1e-9
    # the padded box fills the crop exactly
    corners = apply_affine(crop_affine(box, crop, padding), np.array([[px, py], [px + pw, py + ph]]))
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [crop[1] - 0.5, crop[0] - 0.5]], atol=1e-7)


def test_affine_matches_opencv_three_point_reference():
    box = np.array([30.0, 10.0, 20.0, 50.0])
    affine = crop_affine(box, (256, 192), 1.25)
    px, py, pw, ph = padded_box(box, (256, 192), 1.25)
    src = np.float32([[px, py], [px + pw, py], [px, py + ph]])
    dst = np.float32([[-0.5, -0.5], [191.5, -0.5], [-0.5, 255.5]])
    np.testing.assert_allclose(affine, cv2.getAffineTransform(src, dst), atol=1e-4)


def test_crop_image_samples_like_warp_affine_and_fills_room_temperature():
    frame = np.full((60, 80), 22.0, np.float32)
    frame[20:40, 30:40] = 33.0
    affine = crop_affine(np.array([0.0, 0.0, 20.0, 60.0]), (64, 48))  # sticks out of the frame
    crop = crop_image(frame, affine, (64, 48))
    assert crop.shape == (64, 48) and crop.dtype == np.float32
    assert np.isfinite(crop).all() and crop.min() >= 22.0 - 1e-5  # no fake 0 °C outside the frame
    rgb = np.full((60, 80, 3), 200, np.uint8)
    assert crop_image(rgb, affine, (64, 48))[:, 0].max() == 0  # black outside for RGB


def test_map_boxes_nan_rows_stay_nan():
    affine = crop_affine(np.array([0.0, 0.0, 10.0, 10.0]), (64, 48))
    out = map_boxes(affine, np.array([[np.nan] * 4, [0, 0, 10, 10]]))
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
