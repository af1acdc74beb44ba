"""thermcli.ops.heatmaps: crops against OpenCV, Gaussian targets, sub-pixel decoding, flip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.ops import heatmaps as H


def test_crop_affine_matches_opencv_and_inverts():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 60, 80)).astype(np.float32)
    boxes = np.array([[10, 5, 20, 40], [30, 10, 40, 30], [0, 0, 80, 60]], float)
    center, size = H.box_to_center_scale(boxes, aspect=96 / 128)
    assert np.allclose(size[:, 0] / size[:, 1], 96 / 128)
    affine = H.crop_affines(center, size, (128, 96))
    crops = H.warp_crops(frames, affine, (128, 96))
    for frame, a, crop in zip(frames, affine, crops):
        ref = cv2.warpAffine(frame, a, (96, 128), flags=cv2.INTER_LINEAR)
        assert np.array_equal(ref, crop)
    pts = rng.random((3, 17, 2)) * [80, 60]
    back = H.apply_affine(H.apply_affine(pts, affine), H.invert_affines(affine))
    assert np.allclose(back, pts, atol=1e-9)
    # the box centre lands on the crop centre
    assert np.allclose(H.apply_affine(center[:, None], affine)[:, 0], [(96 - 1) / 2, (128 - 1) / 2])


@settings(max_examples=30, deadline=None)
@given(x=st.floats(2.0, 45.0), y=st.floats(2.0, 61.0), sigma=st.sampled_from([1.5, 2.0, 3.0]))
def test_dark_decoding_recovers_subpixel_gaussian(x, y, sigma):
    targets, weights = H.gaussian_targets(np.array([[[x, y, 2.0]]]), (64, 48), sigma=sigma)
    assert weights[0, 0] == 1
    assert targets.max() <= 1.0 + 1e-6
    coords, scores = H.decode_heatmaps(targets, method="dark", blur_kernel=0)
    assert np.abs(coords[0, 0] - [x, y]).max() < 0.05
    if 9 <= x <= 38 and 9 <= y <= 54:  # the blur is biased only where the border truncates it
        coords_blur, _ = H.decode_heatmaps(targets, method="dark", blur_kernel=11)
        assert np.abs(coords_blur[0, 0] - [x, y]).max() < 0.05
    argmax, _ = H.decode_heatmaps(targets, method="argmax")
    assert np.abs(argmax[0, 0] - [x, y]).max() <= 0.5 + 1e-6


def test_quarter_offset_moves_towards_the_true_peak():
    targets, _ = H.gaussian_targets(np.array([[[10.3, 20.0, 2]]]), (64, 48), sigma=2)
    coords, _ = H.decode_heatmaps(targets, method="quarter")
    assert coords[0, 0, 0] == pytest.approx(10.25)


def test_unlabelled_and_far_outside_keypoints_get_zero_weight():
    kp = np.array([[[5, 5, 0], [200, 5, 2], [-1, 3, 1]]], float)
    targets, weights = H.gaussian_targets(kp, (64, 48), sigma=2)
    assert weights.tolist() == [[0, 0, 1]]
    assert targets[0, 0].max() == 0 and targets[0, 1].max() == 0 and targets[0, 2].max() > 0


def test_flip_test_is_exact_under_udp_coordinates():
    # a keypoint at crop x; the mirrored crop holds it at W-1-x; flipping back recovers x
    W, h, w = 96, 32, 24
    x_in, y_in = 30.7, 50.2
    flip_pairs = [[0, 1]]
    kp = np.array([[[x_in, y_in, 2], [60.0, 20.0, 2]]])
    mirrored = kp.copy()
    mirrored[..., 0] = W - 1 - mirrored[..., 0]
    mirrored = mirrored[:, [1, 0]]  # left/right swap as a flipped image shows it
    in_heatmap = np.concatenate([H.input_to_heatmap(mirrored[..., :2], (128, W), (h, w)), mirrored[..., 2:]], -1)
    hm_flip, _ = H.gaussian_targets(in_heatmap, (h, w))
    back = H.flip_heatmaps(hm_flip, flip_pairs)
    coords, _ = H.decode_heatmaps(back, method="dark", blur_kernel=0)
    got = H.heatmap_to_input(coords, (128, W), (h, w))
    assert np.abs(got[0] - kp[0, :, :2]).max() < 0.2
