"""Points and homographies: mapping, corners, errors, degeneracy checks, RANSAC estimation.

Conventions (see ``thermcli.ops.registration``): points ``(K, 2)`` float64 ``(x, y)`` pixel
coordinates with pixel centres at integers; a homography maps source pixels to target pixels;
sizes are ``(width, height)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from thermcli.errors import DataError

# ---- points and homographies -----------------------------------------------------------------


def apply_homography(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points through a ``(3, 3)`` homography; returns ``(..., 2)`` float64."""
    points = np.asarray(points, dtype=np.float64)
    h = np.asarray(homography, dtype=np.float64)
    ones = np.ones(points.shape[:-1] + (1,))
    mapped = np.concatenate([points, ones], axis=-1) @ h.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return mapped[..., :2] / mapped[..., 2:3]


def image_corners(size: Sequence[int]) -> np.ndarray:
    """The four outer corners of a ``(width, height)`` image, ``(4, 2)``, clockwise from top-left."""
    w, h = size
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], dtype=np.float64)


def corner_error(estimate: np.ndarray, truth: np.ndarray, size: Sequence[int]) -> float:
    """Mean distance (target pixels) between the source image's corners mapped by ``estimate`` and
    by ``truth`` — the standard accuracy measure of a recovered homography."""
    corners = image_corners(size)
    diff = apply_homography(estimate, corners) - apply_homography(truth, corners)
    return float(np.mean(np.linalg.norm(diff, axis=1)))


def reprojection_errors(homography: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Distance (target pixels) between ``H·source`` and ``target`` for each correspondence, ``(K,)``."""
    return np.linalg.norm(apply_homography(homography, source) - np.asarray(target, np.float64), axis=1)


def normalize_homography(homography: np.ndarray) -> np.ndarray:
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3) or not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-12:
        return h
    return h / h[2, 2]


def homography_problem(homography: np.ndarray, source_size: Sequence[int] | None = None,
                       target_size: Sequence[int] | None = None) -> str | None:
    """Why ``homography`` is unusable (degenerate), or None when it is fine.

    Degenerate: not a finite 3×3 matrix; singular or wildly scaling; the source image's corners
    cross the horizon (w ≤ 0) or map to a folded/mirrored (non-convex or reversed) quadrilateral;
    a mapped image far larger or smaller than the target.
    """
    h = np.asarray(homography, dtype=np.float64)
    if h.shape != (3, 3):
        return f"a homography must be 3×3, got shape {h.shape}"
    if not np.all(np.isfinite(h)):
        return "the homography holds NaN or infinite values"
    scale = np.abs(h).max()
    if scale == 0:
        return "the homography is all zeros"
    h = h / scale
    det = float(np.linalg.det(h))
    cond = float(np.linalg.cond(h))
    if abs(det) < 1e-12 or cond > 1e10:
        return f"the homography is singular (determinant {det:.3g}, condition number {cond:.3g})"
    if source_size is None:
        return None
    corners = image_corners(source_size)
    w = np.concatenate([corners, np.ones((4, 1))], axis=1) @ h[2]
    if np.any(w <= 0) and not np.all(w < 0):
        return "the homography maps part of the image beyond the horizon (corners with w ≤ 0)"
    mapped = apply_homography(h, corners)
    edges = np.roll(mapped, -1, axis=0) - mapped
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not np.all(cross > 0):
        return "the homography folds or mirrors the image (mapped corners are not a convex, same-orientation quadrilateral)"
    area = 0.5 * float(np.sum(mapped[:, 0] * np.roll(mapped[:, 1], -1) - np.roll(mapped[:, 0], -1) * mapped[:, 1]))
    reference = float(np.prod(target_size if target_size is not None else source_size))
    if not 1e-3 <= area / reference <= 1e3:
        return f"the homography scales the image's area by {area / reference:.3g} relative to the target"
    return None


def estimate_homography(source: np.ndarray, target: np.ndarray, *, ransac_px: float = 3.0,
                        source_size: Sequence[int] | None = None, target_size: Sequence[int] | None = None,
                        where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Homography mapping ``source`` (K, 2) onto ``target`` (K, 2) by RANSAC, refined on inliers.

    Returns ``(H, inliers)`` with ``inliers`` a (K,) bool mask. Raises ``DataError`` (naming
    ``where``) for fewer than 4 correspondences, (nearly) collinear points, or a degenerate result.
    """
    import cv2

    source = np.asarray(source, np.float64).reshape(-1, 2)
    target = np.asarray(target, np.float64).reshape(-1, 2)
    if len(source) != len(target):
        raise DataError(f"{len(source)} source points but {len(target)} target points", path=where)
    if len(source) < 4:
        raise DataError(f"a homography needs at least 4 point pairs, got {len(source)}", path=where)
    for points, name in ((source, "source"), (target, "target")):
        if not np.all(np.isfinite(points)):
            raise DataError(f"{name} points hold NaN or infinite values", path=where)
        centred = points - points.mean(axis=0)
        sv = np.linalg.svd(centred, compute_uv=False)
        if sv[0] == 0 or sv[1] / sv[0] < 1e-3:
            raise DataError(f"the {name} points are (nearly) collinear: no homography is determined", path=where)
    h, mask = cv2.findHomography(source, target, cv2.RANSAC if len(source) > 4 else 0, ransac_px)
    if h is None:
        raise DataError("no homography fits these points (degenerate configuration)", path=where)
    inliers = mask.ravel().astype(bool) if mask is not None else np.ones(len(source), bool)
    if inliers.sum() >= 4 and inliers.sum() < len(source):
        refined, _ = cv2.findHomography(source[inliers], target[inliers], 0)
        if refined is not None:
            h = refined
    h = normalize_homography(h)
    problem = homography_problem(h, source_size, target_size)
    if problem:
        raise DataError(problem, path=where)
    return h, inliers


def random_homography(rng: np.random.Generator, size: Sequence[int], *, max_shift: float) -> np.ndarray:
    """A random homography that moves each corner of a ``(width, height)`` image by up to
    ``max_shift`` pixels (test and benchmark helper)."""
    import cv2

    corners = image_corners(size)
    moved = corners + rng.uniform(-max_shift, max_shift, corners.shape)
    return normalize_homography(cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32)))
