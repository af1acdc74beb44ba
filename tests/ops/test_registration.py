"""Registration: homography helpers against OpenCV, calibration targets and automatic ECC on
synthetic pairs with a known homography, and the real data in ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ops import _cases as cases
from thermcli.errors import DataError
from thermcli.ops.registration import (
    apply_homography,
    corner_error,
    distort_points,
    estimate_homography,
    find_target,
    homography_problem,
    parse_intrinsics,
    random_homography,
    register_ecc,
    reprojection_errors,
    undistort_points,
    warp_to_target,
)

cv2 = pytest.importorskip("cv2")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_apply_homography_matches_opencv(seed):
    rng = np.random.default_rng(seed)
    h = random_homography(rng, (160, 120), max_shift=30)
    pts = rng.uniform(-10, 170, (25, 2))
    expected = cv2.perspectiveTransform(pts[None].astype(np.float64), h)[0]
    np.testing.assert_allclose(apply_homography(h, pts), expected, rtol=1e-9, atol=1e-7)


def test_estimate_homography_recovers_exact_points_and_rejects_outliers():
    rng = np.random.default_rng(1)
    h = random_homography(rng, (320, 240), max_shift=25)
    src = rng.uniform(0, 320, (40, 2))
    dst = apply_homography(h, src)
    dst[:5] += rng.uniform(30, 60, (5, 2))  # clicked wrongly
    est, inliers = estimate_homography(src, dst, ransac_px=2.0, source_size=(320, 240))
    assert not inliers[:5].any() and inliers[5:].all()
    assert corner_error(est, h, (320, 240)) < 1e-4
    reference, _ = cv2.findHomography(src[5:], dst[5:], 0)
    np.testing.assert_allclose(est, reference / reference[2, 2], atol=1e-8)
    assert reprojection_errors(est, src[5:], dst[5:]).max() < 1e-4


@pytest.mark.parametrize(
    "src, message",
    [
        (np.array([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4.0]]), "collinear"),
        (np.array([[0, 0], [1, 0], [0, 1.0]]), "at least 4"),
    ],
)
def test_estimate_homography_degenerate_points(src, message):
    with pytest.raises(DataError, match=message):
        estimate_homography(src, src * 2 + 1, where="pairs.csv")


def test_homography_problems_are_named():
    assert "singular" in homography_problem(np.zeros((3, 3)) + np.eye(3) * [1, 1, 0])
    mirror = np.diag([-1.0, 1.0, 1.0])
    assert "mirror" in homography_problem(mirror, (100, 80))
    horizon = np.array([[1, 0, 0], [0, 1, 0], [0.02, 0, 1.0]])  # w < 0 on the left of the image
    assert "horizon" in homography_problem(np.array([[1, 0, 0], [0, 1, 0], [-0.02, 0, 1.0]]), (100, 80))
    assert homography_problem(horizon, (10, 8)) is None
    assert "NaN" in homography_problem(np.full((3, 3), np.nan))
    assert "area" in homography_problem(np.diag([1e-3, 1e-3, 1.0]), (100, 80))


def test_undistort_inverts_distort_and_matches_opencv():
    camera, dist = parse_intrinsics("thermal_intrinsic: [767.9, 767.1, 317.2, 231.6]\n"
                                    "thermal_distortion: [-0.504, 0.269, 0.00345, -0.00075, 0.0]")
    rng = np.random.default_rng(2)
    ideal = rng.uniform([100, 80], [540, 400], (50, 2))
    distorted = distort_points(ideal, camera, dist)
    reference = cv2.projectPoints(
        np.concatenate([(ideal - camera[:2, 2]) / [camera[0, 0], camera[1, 1]], np.ones((50, 1))], axis=1),
        np.zeros(3), np.zeros(3), camera, dist)[0].reshape(-1, 2)
    np.testing.assert_allclose(distorted, reference, atol=1e-6)
    np.testing.assert_allclose(undistort_points(distorted, camera, dist), ideal, atol=1e-3)


def test_parse_intrinsics_rejects_bad_text():
    with pytest.raises(DataError, match="expected fx fy cx cy"):
        parse_intrinsics("1 2 3", where="k.txt")


def test_find_target_both_polarities_and_canonical_order():
    rng = np.random.default_rng(3)
    h = cases.true_homography(rng)
    rgb, thermal = cases.chessboard_pair(rng, h)
    a, pol_a = find_target(rgb, (6, 5))
    b, pol_b = find_target(thermal, (6, 5))
    assert a is not None and b is not None and a.shape == (30, 2)
    # the heated board is light-on-dark: the thermal image needed the other polarity than... or
    # OpenCV's SB detector found it directly; either way the corners correspond one to one
    assert np.median(np.linalg.norm(apply_homography(h, a) - b, axis=1)) < 0.5
    assert b[1, 0] > b[0, 0] and b[6, 1] > b[0, 1]  # rows left to right, top to bottom
    assert find_target(np.full((120, 160), 22.0, np.float32), (6, 5)) == (None, None)
    assert pol_a in ("normal", "inverted") and pol_b in ("normal", "inverted")


def test_target_based_corner_error_under_1px_on_synthetic_pairs():
    """Done-when: target-based mean corner error < 1 px (thermal pixels) on ≥ 90% of cases."""
    rng = np.random.default_rng(10)
    errors = []
    for _ in range(10):
        h = cases.true_homography(rng)
        rgb, thermal = cases.chessboard_pair(rng, h)
        a, _ = find_target(rgb, (6, 5))
        b, _ = find_target(thermal, (6, 5))
        assert a is not None and b is not None
        est, _ = estimate_homography(a, b, source_size=cases.RGB_SIZE)
        errors.append(corner_error(est, h, cases.RGB_SIZE))
    errors = np.array(errors)
    assert np.mean(errors < 1.0) >= 0.9, errors
    assert np.median(errors) < 0.6, errors


def test_automatic_corner_error_under_2px_on_synthetic_pairs():
    """Done-when: automatic (ECC on edge maps) mean corner error < 2 px on ≥ 90% of cases, from
    the rig's nominal homography as initial guess (true corners up to 6 px away)."""
    rng = np.random.default_rng(0)
    errors, initial_errors = [], []
    for _ in range(10):
        h = cases.true_homography(rng)
        rgb, thermal = cases.scene_pair(rng, h)
        est, correlation = register_ecc(rgb, thermal, initial=cases.nominal_homography(), levels=3)
        errors.append(corner_error(est, h, cases.RGB_SIZE))
        initial_errors.append(corner_error(cases.nominal_homography(), h, cases.RGB_SIZE))
    errors = np.array(errors)
    assert np.mean(errors < 2.0) >= 0.9, errors
    assert np.median(errors) < np.median(initial_errors) / 2


def test_warp_to_target_matches_opencv_warp():
    rng = np.random.default_rng(4)
    h = random_homography(rng, (64, 48), max_shift=5)
    image = rng.uniform(20, 30, (48, 64)).astype(np.float32)
    ours = warp_to_target(image, h, (64, 48))
    ref = cv2.warpPerspective(image, h, (64, 48), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = np.isfinite(ours)
    assert inside.mean() > 0.7
    np.testing.assert_allclose(ours[inside], ref[inside], atol=1e-3)


# ---- real data -------------------------------------------------------------------------------


def test_real_checkerboard_pair_aligns(shared_data):
    from thermcli.stages.align import calibrate

    folder = shared_data / "rgbt-calib-pair" / "example_input"
    plain = calibrate(folder, pattern=(6, 5))
    undistorted = calibrate(folder, pattern=(6, 5), undistort=True)
    assert plain.details["views"]["used"] == 1
    assert plain.details["reprojection"]["points"] == 30
    assert plain.error_px < 1.5
    assert undistorted.error_px < plain.error_px  # the thermal lens's strong barrel distortion


@pytest.mark.slow
@pytest.mark.shared_data
def test_llvip_recovers_known_warp(shared_data):
    """Done-when: the LLVIP pairs are registered; warp the visible side of each of the 32 by a
    random known homography G (corners moved up to ±4% of the width, ±51 px at full resolution;
    see ``_cases.llvip_warped_pairs``) and recover it: mean corner error < 2 px on ≥ 90% of cases,
    measured against the method's own estimate on the unwarped pair composed with G⁻¹.

    Against LLVIP's registration itself the error is ~15 px for every pair, warped or not (see
    the README: one homography of the edge-correlation optimum differs from the dataset's
    registration by that much at the visible frame's corners); that is checked to stay put."""
    result = cases.llvip_recovery(shared_data)
    relative, absolute = result["relative"], result["absolute"]
    assert len(relative) == 32
    print(f"LLVIP: known warp recovered within 2 px in {np.mean(relative < 2):.0%} (median {np.median(relative):.2f} px, "
          f"initial {np.median(result['initial']):.1f} px); against the dataset's registration median "
          f"{np.median(absolute):.1f} px")
    assert np.mean(relative < 2.0) >= 0.9, relative
    # ... and not by landing twice on the same wrong optimum: both runs near the ~15 px offset
    near = (absolute < 30) & (result["own"] < 30)
    assert np.mean((relative < 2.0) & near) >= 0.9, (relative, absolute, result["own"])
    assert np.median(relative) < 0.5, relative


def test_multistart_finds_a_shift_that_a_single_start_misses():
    """The start search: a target whose content is shifted by 12% of the width from the initial
    guess (outside single-start ECC's basin on a repetitive pattern) is found."""
    rng = np.random.default_rng(7)
    h = cases.nominal_homography()
    shift = np.array([[1, 0, 19.0], [0, 1, -7.0], [0, 0, 1]])  # thermal px
    rgb, thermal = cases.scene_pair(rng, shift @ h)
    est, correlation = register_ecc(rgb, thermal, initial=h, levels=3)
    assert corner_error(est, shift @ h, cases.RGB_SIZE) < 2.0
    assert correlation > 0.2
    try:  # the plain single-start ECC from the same guess does not get there
        single, _ = register_ecc(rgb, thermal, initial=h, levels=3, search=0, affine_below=0, cross_check=False)
        assert corner_error(single, shift @ h, cases.RGB_SIZE) > 2.0
    except DataError:
        pass


def test_starting_at_the_optimum_is_not_an_error():
    rng = np.random.default_rng(8)
    h = cases.true_homography(rng)
    rgb, thermal = cases.scene_pair(rng, h)
    first, cc = register_ecc(rgb, thermal, initial=h, levels=3)
    again, cc_again = register_ecc(rgb, thermal, initial=first, levels=3, search=0)
    assert corner_error(again, first, cases.RGB_SIZE) < 0.3
    assert cc_again >= cc - 0.01  # (ECC and the plain correlation differ by interpolation details)


@pytest.mark.parametrize("light_on_dark", [False, True])
def test_circle_grid_both_polarities(light_on_dark):
    image = np.full((240, 320), 230, np.uint8)
    centres = np.array([[60 + 30 * c, 50 + 30 * r] for r in range(4) for c in range(5)], np.float64)
    for x, y in centres:
        cv2.circle(image, (int(x * 16), int(y * 16)), 9 * 16, 20, -1, lineType=cv2.LINE_AA, shift=4)
    if light_on_dark:
        image = 255 - image  # a heated grid seen by a thermal camera
    found, polarity = find_target(image.astype(np.float32), (5, 4), kind="circles")
    assert found is not None
    assert polarity == ("inverted" if light_on_dark else "normal")
    np.testing.assert_allclose(found, centres, atol=0.3)
