"""Resampling images through a homography (and the cameras' lens distortion)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from thermcli.ops.registration.calibration import distort_points
from thermcli.ops.registration.homography import apply_homography

# ---- warping ---------------------------------------------------------------------------------


def warp_to_target(image: np.ndarray, homography: np.ndarray, target_size: Sequence[int], *,
                   source_intrinsics: tuple[np.ndarray, np.ndarray] | None = None,
                   target_intrinsics: tuple[np.ndarray, np.ndarray] | None = None,
                   fill: float = 0.0) -> np.ndarray:
    """Resample ``image`` (source geometry) into the target geometry (``(width, height)``).

    With intrinsics the homography relates *undistorted* pixels: the output is in the target's
    undistorted geometry and source pixels are looked up through the source's lens distortion.
    Float images are interpolated bilinearly (°C stay °C; outside → NaN), uint8 likewise with
    ``fill``.
    """
    w, h = target_size
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    grid = np.stack([xs, ys], axis=-1)
    source_points = apply_homography(np.linalg.inv(homography), grid)
    if source_intrinsics is not None and np.any(source_intrinsics[1] != 0):
        source_points = distort_points(source_points, *source_intrinsics)
    map_x = source_points[..., 0].astype(np.float32)
    map_y = source_points[..., 1].astype(np.float32)
    return remap(image, map_x, map_y, fill=fill)


def undistort_image(image: np.ndarray, intrinsics: tuple[np.ndarray, np.ndarray], *, fill: float = 0.0) -> np.ndarray:
    """The image in its undistorted geometry (same size and camera matrix)."""
    h, w = image.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    distorted = distort_points(np.stack([xs, ys], axis=-1), *intrinsics)
    return remap(image, distorted[..., 0].astype(np.float32), distorted[..., 1].astype(np.float32), fill=fill)


def remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, *, fill: float = 0.0) -> np.ndarray:
    """cv2.remap, bilinear; float images get NaN outside the source, others ``fill``."""
    import cv2

    image = np.asarray(image)
    if image.dtype.kind == "f":
        src = image.astype(np.float32)
        out = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        h, w = image.shape[:2]
        outside = (map_x < -0.5) | (map_y < -0.5) | (map_x > w - 0.5) | (map_y > h - 0.5)
        out[outside] = np.nan
        return out.astype(image.dtype)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def angle_of(homography: np.ndarray) -> float:
    """Rotation (degrees) of the homography's linear part, for reports."""
    return math.degrees(math.atan2(homography[1, 0], homography[0, 0]))
