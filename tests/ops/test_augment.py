"""ops.augment: geometry against OpenCV's own matrices and warps, keypoint/box transforms as
properties (flip swap, out-of-frame visibility, clipped boxes), photometric ops against direct
OpenCV/NumPy calls, sampling determinism and exact replay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.io import COCO_FLIP_PAIRS
from thermcli.ops.augment import (
    IDENTITY,
    AugmentConfig,
    AugmentParams,
    affine_matrix,
    augment_sample,
    params_from_columns,
    params_to_columns,
    photometric,
    row_rng,
    sample_params,
    transform_boxes,
    transform_keypoints,
)

H, W = 40, 56


def blob_frame(x, y, h=H, w=W, sigma=1.5):
    """A warm Gaussian spot centred at continuous coordinates (x, y) on a 20 °C background."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    return (20 + 15 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))).astype(np.float32)


def centroid(frame):
    weights = np.clip(np.nan_to_num(frame) - 20, 0, None)
    weights[weights < 1.0] = 0  # ignore the reflected background tails
    yy, xx = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]] + 0.5
    return float((weights * xx).sum() / weights.sum()), float((weights * yy).sum() / weights.sum())


def test_rotation_scale_matches_cv2_rotation_matrix():
    params = AugmentParams(angle=23.0, scale=1.2, tx=0.1, ty=-0.05)
    m = affine_matrix(params, W, H)
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    pixel = (np.linalg.inv(half) @ m @ half)[:2]
    ref = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 23.0, 1.2)
    ref[:, 2] += (0.1 * W, -0.05 * H)
    np.testing.assert_allclose(pixel, ref, atol=1e-9)


def test_warp_equals_cv2_warp_affine():
    frame = blob_frame(20, 15)
    params = AugmentParams(angle=-12.0, scale=0.9, tx=0.03)
    out = augment_sample(frame, None, None, params, border="reflect")[0]
    ref = cv2.warpAffine(
        frame, cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), -12.0, 0.9) + [[0, 0, 0.03 * W], [0, 0, 0]],
        (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101,
    )
    assert np.array_equal(out, ref)


@given(
    x=st.floats(15, W - 15), y=st.floats(12, H - 12),
    angle=st.floats(-30, 30), scale=st.floats(0.8, 1.2), tx=st.floats(-0.05, 0.05), ty=st.floats(-0.05, 0.05),
    flip=st.integers(0, 1), crop=st.floats(0.85, 1.0), u=st.floats(0, 1), v=st.floats(0, 1),
)
@settings(max_examples=40, deadline=None)
def test_keypoint_follows_the_pixels(x, y, angle, scale, tx, ty, flip, crop, u, v):
    """A keypoint on a warm spot lands where the warped frame puts the spot (within 0.35 px)."""
    params = AugmentParams(angle=angle, scale=scale, tx=tx, ty=ty, flip=flip, crop=crop, crop_u=u, crop_v=v)
    keypoints = np.array([[[x, y, 2.0]]], np.float32)
    frame, kp, _, _ = augment_sample(blob_frame(x, y), keypoints, None, params, None, border="constant")
    if kp[0, 0, 2] == 0 or not (3 < kp[0, 0, 0] < W - 3 and 3 < kp[0, 0, 1] < H - 3):
        return  # the spot left the frame (or touches its edge): nothing to compare
    cx, cy = centroid(frame)
    assert abs(cx - kp[0, 0, 0]) < 0.35 and abs(cy - kp[0, 0, 1]) < 0.35


def test_flip_swaps_left_and_right_keypoints():
    rng = np.random.default_rng(0)
    keypoints = np.zeros((2, 17, 3), np.float32)
    keypoints[..., 0] = rng.uniform(0, W, (2, 17))
    keypoints[..., 1] = rng.uniform(0, H, (2, 17))
    keypoints[..., 2] = rng.integers(1, 3, (2, 17))
    m = affine_matrix(AugmentParams(flip=1), W, H)
    out = transform_keypoints(keypoints, m, W, H, flip=True, flip_pairs=COCO_FLIP_PAIRS)
    for left, right in COCO_FLIP_PAIRS:
        np.testing.assert_allclose(out[:, left, 0], W - keypoints[:, right, 0], atol=1e-4)
        np.testing.assert_array_equal(out[:, left, 1:], keypoints[:, right, 1:])
        np.testing.assert_allclose(out[:, right, 0], W - keypoints[:, left, 0], atol=1e-4)
    np.testing.assert_allclose(out[:, 0, 0], W - keypoints[:, 0, 0], atol=1e-4)  # the nose has no pair
    twice = transform_keypoints(out, m, W, H, flip=True, flip_pairs=COCO_FLIP_PAIRS)
    np.testing.assert_allclose(twice, keypoints, atol=1e-4)


@given(tx=st.floats(-0.6, 0.6), ty=st.floats(-0.6, 0.6), angle=st.floats(-45, 45))
@settings(max_examples=50, deadline=None)
def test_keypoints_leaving_the_frame_get_visibility_zero(tx, ty, angle):
    rng = np.random.default_rng(1)
    keypoints = np.stack([rng.uniform(0, W, (1, 17)), rng.uniform(0, H, (1, 17)), np.full((1, 17), 2.0)], -1).astype(np.float32)
    keypoints[0, 3, 2] = 0  # an absent joint stays absent
    m = affine_matrix(AugmentParams(angle=angle, tx=tx, ty=ty), W, H)
    out = transform_keypoints(keypoints, m, W, H, flip=False, flip_pairs=None)
    ref = cv2.transform(keypoints[..., :2].reshape(-1, 1, 2).astype(np.float64), m[:2]).reshape(1, 17, 2)
    np.testing.assert_allclose(out[..., :2], ref, atol=1e-3)
    inside = (ref[..., 0] >= 0) & (ref[..., 0] < W) & (ref[..., 1] >= 0) & (ref[..., 1] < H)
    assert np.array_equal(out[..., 2] > 0, inside & (keypoints[..., 2] > 0))
    assert np.all(out[..., 2][inside & (keypoints[..., 2] > 0)] == 2)


@given(
    x=st.floats(-5, W), y=st.floats(-5, H), w=st.floats(1, 30), h=st.floats(1, 30),
    angle=st.floats(-40, 40), tx=st.floats(-0.5, 0.5), flip=st.integers(0, 1),
)
@settings(max_examples=50, deadline=None)
def test_boxes_are_clipped_bounding_boxes_of_transformed_corners(x, y, w, h, angle, tx, flip):
    boxes = np.array([[x, y, w, h], [np.nan] * 4], np.float32)
    m = affine_matrix(AugmentParams(angle=angle, tx=tx, flip=flip), W, H)
    out = transform_boxes(boxes, m, W, H)
    assert np.all(np.isnan(out[1]))  # "no person" stays "no person"
    b = boxes[0].astype(np.float64)
    corners = np.array([[b[0], b[1]], [b[0] + b[2], b[1]], [b[0], b[1] + b[3]], [b[0] + b[2], b[1] + b[3]]])
    moved = cv2.transform(corners[:, None, :], m[:2])[:, 0]
    x0, y0 = np.clip(moved.min(0), 0, (W, H))
    x1, y1 = np.clip(moved.max(0), 0, (W, H))
    if x1 > x0 and y1 > y0:
        np.testing.assert_allclose(out[0], [x0, y0, x1 - x0, y1 - y0], atol=1e-3)
        assert out[0, 0] >= 0 and out[0, 1] >= 0 and out[0, 0] + out[0, 2] <= W + 1e-3 and out[0, 1] + out[0, 3] <= H + 1e-3
    else:
        assert np.all(np.isnan(out[0]))


def test_flip_keeps_a_full_frame_box():
    m = affine_matrix(AugmentParams(flip=1), W, H)
    np.testing.assert_allclose(transform_boxes(np.array([[0, 0, W, H]], np.float32), m, W, H), [[0, 0, W, H]], atol=1e-4)


def test_photometric_matches_direct_calls():
    frame = blob_frame(20, 15)
    params = AugmentParams(gain=1.03, offset=-0.7)
    expected = frame * np.float32(1.03) + np.float32(-0.7)
    np.testing.assert_array_equal(photometric(frame, params, "celsius"), expected)
    kelvin = frame + np.float32(273.15)
    np.testing.assert_allclose(photometric(kelvin, params, "kelvin"), (kelvin - 273.15) * 1.03 + 273.15 - 0.7, atol=1e-3)
    blur = photometric(frame, AugmentParams(blur=1.2), "celsius")
    assert np.array_equal(blur, cv2.GaussianBlur(frame, (0, 0), 1.2))
    low = photometric(frame, AugmentParams(lowres=4.0), "celsius")
    small = cv2.resize(frame, (14, 10), interpolation=cv2.INTER_AREA)
    assert np.array_equal(low, cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR))
    inverted = photometric(frame, AugmentParams(invert=1), "celsius")
    np.testing.assert_allclose(inverted, frame.min() + frame.max() - frame, atol=1e-5)
    u8 = np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)
    assert np.array_equal(photometric(u8, AugmentParams(invert=1), "intensity"), 255 - u8)
    bright = photometric(u8, AugmentParams(gain=1.5, offset=10), "intensity")
    assert np.array_equal(bright, np.clip(np.rint((u8.astype(np.float32) - 128) * 1.5 + 138), 0, 255).astype(np.uint8))


def test_noise_is_in_millikelvin_and_replays():
    frame = np.full((200, 200), 30.0, np.float32)
    params = AugmentParams(noise=0.05, noise_seed=7)  # 50 mK
    noisy = photometric(frame, params, "celsius")
    assert abs(float(np.std(noisy - frame)) - 0.05) < 0.002
    assert np.array_equal(noisy, photometric(frame, params, "celsius"))
    fpn = photometric(frame, AugmentParams(fpn_row=0.1, noise_seed=3), "celsius") - frame
    assert np.allclose(fpn, fpn[:, :1], atol=1e-6) and np.std(fpn[:, 0]) > 0.05  # one offset per row


def test_identity_returns_an_equal_copy_and_inputs_are_untouched():
    frame = blob_frame(10, 10)
    frame[0, 0] = np.nan
    keypoints = np.ones((1, 17, 3), np.float32)
    before = (frame.copy(), keypoints.copy())
    out, kp, bx, _ = augment_sample(frame, keypoints, None, IDENTITY)
    assert np.array_equal(out, frame, equal_nan=True) and out is not frame and np.array_equal(kp, keypoints)
    augment_sample(frame, keypoints, None, AugmentParams(angle=20, noise=1, noise_seed=1, flip=1), COCO_FLIP_PAIRS)
    assert np.array_equal(frame, before[0], equal_nan=True) and np.array_equal(keypoints, before[1])


def test_sampling_depends_on_seed_row_and_copy_only():
    config = AugmentConfig(blur=0.5, lowres=0.5, invert=0.5, fpn=0.02, noise=0.05, crop=0.8)
    a = sample_params(row_rng(3, 17, 1), config)
    assert a == sample_params(row_rng(3, 17, 1), config)
    assert a != sample_params(row_rng(3, 18, 1), config) and a != sample_params(row_rng(4, 17, 1), config)
    assert a != sample_params(row_rng(3, 17, 2), config)
    draws = [sample_params(row_rng(0, r, 0), config) for r in range(400)]
    assert all(-10 <= p.angle <= 10 and 0.9 <= p.scale <= 1.1 and 0.8 <= p.crop <= 1 for p in draws)
    assert 0.4 < np.mean([p.flip for p in draws]) < 0.6
    # turning an op off leaves the other draws unchanged
    off = sample_params(row_rng(3, 17, 1), AugmentConfig(blur=0.0, lowres=0.5, invert=0.5, fpn=0.02, noise=0.05, crop=0.8))
    assert (off.angle, off.scale, off.flip, off.noise_seed) == (a.angle, a.scale, a.flip, a.noise_seed)


def test_recorded_columns_replay_bit_for_bit():
    config = AugmentConfig(blur=0.5, lowres=0.5, invert=0.3, fpn=0.02, noise=0.05, crop=0.8)
    frame = blob_frame(25, 20)
    rows = [sample_params(row_rng(1, r, 0), config) for r in range(12)]
    columns = params_to_columns(rows)
    for r, params in enumerate(rows):
        again = params_from_columns(columns, r)
        assert again == params
        first = augment_sample(frame, None, None, params)[0]
        assert np.array_equal(first, augment_sample(frame, None, None, again)[0], equal_nan=True)


@pytest.mark.parametrize("dtype,unit", [(np.uint8, "intensity"), (np.uint16, "counts")])
def test_integer_frames_stay_in_their_dtype(dtype, unit):
    frame = np.random.default_rng(2).integers(0, 200, (H, W, 3) if dtype == np.uint8 else (H, W), dtype=dtype)
    params = sample_params(row_rng(0, 0, 0), AugmentConfig(offset=5, noise=2, blur=1, lowres=1, invert=1))
    out = augment_sample(frame, None, None, params, unit=unit)[0]
    assert out.dtype == dtype and out.shape == frame.shape


def test_rgb_pair_follows_the_same_geometry():
    thermal = blob_frame(20, 15)
    rgb = np.zeros((H * 2, W * 2, 3), np.uint8)
    yy, xx = np.mgrid[0 : H * 2, 0 : W * 2] + 0.5
    rgb[..., 1] = (255 * np.exp(-((xx - 40) ** 2 + (yy - 30) ** 2) / (2 * 3.0**2))).astype(np.uint8)
    params = AugmentParams(angle=15, tx=0.05, flip=1)
    out, _, _, rgb_out = augment_sample(thermal, None, None, params, rgb=rgb, border="constant")
    tx, ty = centroid(out)
    weights = rgb_out[..., 1].astype(float)
    rx, ry = (weights * xx).sum() / weights.sum(), (weights * yy).sum() / weights.sum()
    assert abs(rx / 2 - tx) < 0.5 and abs(ry / 2 - ty) < 0.5
