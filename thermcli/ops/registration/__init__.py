"""RGB↔thermal spatial registration: calibration targets, homographies, automatic ECC.

Modules: ``homography`` (points, homographies, RANSAC), ``calibration`` (targets, lens
distortion), ``ecc`` (automatic registration, ``EccConfig``) and ``warp`` (resampling).

Conventions: points are ``(K, 2)`` float64 pixel coordinates ``(x, y)`` with pixel centres at
integer coordinates (OpenCV's convention); a homography ``H`` is a ``(3, 3)`` float64 matrix that
maps a *source* pixel ``(x, y, 1)`` to a *target* pixel (here source = RGB, target = thermal
unless said otherwise); sizes are ``(width, height)``.

>>> import numpy as np
>>> H = np.array([[0.5, 0, 10], [0, 0.5, 5], [0, 0, 1.0]])
>>> apply_homography(H, np.array([[20.0, 10.0]])).tolist()
[[20.0, 10.0]]
>>> homography_problem(H, (100, 80)) is None
True
"""

from __future__ import annotations

from thermcli.ops.registration.calibration import (
    distort_points,
    find_target,
    parse_intrinsics,
    to_gray8,
    undistort_points,
)
from thermcli.ops.registration.ecc import BASELINE, EccConfig, edge_map, register_ecc
from thermcli.ops.registration.homography import (
    apply_homography,
    corner_error,
    estimate_homography,
    homography_problem,
    image_corners,
    normalize_homography,
    random_homography,
    reprojection_errors,
)
from thermcli.ops.registration.warp import angle_of, remap, undistort_image, warp_to_target

__all__ = [
    "BASELINE",
    "EccConfig",
    "angle_of",
    "apply_homography",
    "corner_error",
    "distort_points",
    "edge_map",
    "estimate_homography",
    "find_target",
    "homography_problem",
    "image_corners",
    "normalize_homography",
    "parse_intrinsics",
    "random_homography",
    "register_ecc",
    "remap",
    "reprojection_errors",
    "to_gray8",
    "undistort_image",
    "undistort_points",
    "warp_to_target",
]
