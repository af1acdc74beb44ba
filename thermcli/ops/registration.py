"""RGB↔thermal spatial registration: calibration targets, homographies, automatic ECC.

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

import math
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


# ---- calibration targets ---------------------------------------------------------------------


def to_gray8(image: np.ndarray) -> np.ndarray:
    """An image as 8-bit grey for detection: colour → luma; float (°C) → 0.5–99.5 percentile stretch."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) if image.dtype == np.uint8 else image.mean(axis=2)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    values = image.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    lo, hi = np.percentile(values[finite], [0.5, 99.5])
    scaled = (np.where(finite, values, lo) - lo) / max(hi - lo, 1e-9)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)


def _canonical_grid(points: np.ndarray, pattern: tuple[int, int]) -> np.ndarray:
    """Order detected grid points the same way in every image: rows top to bottom, each row
    left to right (OpenCV's order depends on polarity and on the board's symmetry)."""
    cols, rows = pattern
    grid = points.reshape(rows, cols, 2)
    variants = [grid, grid[::-1], grid[:, ::-1], grid[::-1, ::-1]]
    if rows == cols:
        variants += [v.transpose(1, 0, 2) for v in variants]

    def score(g: np.ndarray) -> float:
        along_row = (g[:, -1] - g[:, 0]).mean(axis=0)
        along_col = (g[-1] - g[0]).mean(axis=0)
        return along_row[0] / (np.linalg.norm(along_row) + 1e-9) + along_col[1] / (np.linalg.norm(along_col) + 1e-9)

    best = max(variants, key=score)
    return best.reshape(-1, 2).astype(np.float64)


def find_target(image: np.ndarray, pattern: tuple[int, int], *, kind: str = "chessboard",
                polarity: str = "auto") -> tuple[np.ndarray | None, str | None]:
    """Find a calibration target's inner corners (chessboard) or centres (circle grid).

    ``image``: (H, W) or (H, W, 3), uint8 or float (°C). ``pattern``: (columns, rows) of inner
    corners / circles. ``polarity``: ``auto`` tries the image as it is and inverted (heated
    targets are often light-on-dark in thermal), ``normal`` or ``inverted`` forces one.
    Returns ``(points (cols·rows, 2) in canonical order, polarity used)`` or ``(None, None)``.
    """
    import cv2

    gray = to_gray8(image)
    options = {"auto": ("normal", "inverted"), "normal": ("normal",), "inverted": ("inverted",)}[polarity]
    for pol in options:
        img = gray if pol == "normal" else 255 - gray
        found = None
        if kind == "chessboard":
            ok, corners = cv2.findChessboardCornersSB(img, pattern, flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
            if not ok:
                ok, corners = cv2.findChessboardCorners(
                    img, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
                )
                if ok:
                    corners = cv2.cornerSubPix(
                        img, corners, (5, 5), (-1, -1), (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01)
                    )
            if ok:
                found = corners
        elif kind == "circles":
            ok, centres = cv2.findCirclesGrid(img, pattern, flags=cv2.CALIB_CB_SYMMETRIC_GRID)
            if ok:
                found = centres
        else:
            raise ValueError(f"unknown target kind {kind!r}")
        if found is not None:
            return _canonical_grid(found.reshape(-1, 2), pattern), pol
    return None, None


# ---- lens distortion -------------------------------------------------------------------------


def parse_intrinsics(text: str, *, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Camera intrinsics from text: ``fx fy cx cy`` then optional distortion ``k1 k2 p1 p2 [k3]``.

    Numbers may be separated by spaces, commas or brackets; a line may carry a ``name:`` prefix
    (the format of ``rgb_intrinsic.txt`` / ``thermal_intrinsic.txt``). Returns (K 3×3, dist (5,)).
    """
    import re

    numbers: list[float] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if ":" in line:
            line = line.split(":", 1)[1]
        numbers += [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", line)]
    if len(numbers) not in (4, 8, 9):
        raise DataError(f"expected fx fy cx cy and optionally 4 or 5 distortion coefficients, got {len(numbers)} numbers",
                        path=where)
    fx, fy, cx, cy = numbers[:4]
    if fx <= 0 or fy <= 0:
        raise DataError(f"focal lengths must be > 0, got fx={fx}, fy={fy}", path=where)
    k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
    dist = np.zeros(5)
    dist[: len(numbers) - 4] = numbers[4:]
    return k, dist


def undistort_points(points: np.ndarray, camera: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Distorted pixel points (K, 2) → ideal (undistorted) pixel points, same camera matrix."""
    import cv2

    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    return cv2.undistortPoints(pts, camera, dist, P=camera).reshape(-1, 2)


def distort_points(points: np.ndarray, camera: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Ideal pixel points (..., 2) → distorted pixels (the Brown–Conrady model OpenCV uses)."""
    pts = np.asarray(points, np.float64)
    fx, fy, cx, cy = camera[0, 0], camera[1, 1], camera[0, 2], camera[1, 2]
    k1, k2, p1, p2, k3 = (list(dist) + [0.0] * 5)[:5]
    x = (pts[..., 0] - cx) / fx
    y = (pts[..., 1] - cy) / fy
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd * fx + cx, yd * fy + cy], axis=-1)


# ---- automatic (intensity-based) registration ------------------------------------------------


def edge_map(image: np.ndarray, *, sigma: float = 0.8, window: float = 6.0) -> np.ndarray:
    """Modality-independent structure: the gradient magnitude of the smoothed image, divided by
    its local average (a ``window``-pixel Gaussian), so weak and strong edges weigh alike — an
    edge that is faint in one modality and strong in the other still lines up. Standardised.
    ``image``: (H, W[, 3]) any dtype; returns (H, W) float32."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 3:
        image = image.astype(np.float32).mean(axis=2)
    values = image.astype(np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, np.nanmedian(values) if finite.any() else 0).astype(np.float32)
    lo, hi = np.percentile(values, [1, 99])
    values = ((values - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)
    if sigma > 0:
        values = cv2.GaussianBlur(values, (0, 0), sigma)
    gx = cv2.Sobel(values, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(values, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx * gx + gy * gy)
    magnitude = magnitude / (cv2.GaussianBlur(magnitude, (0, 0), window) + 0.05 * float(magnitude.mean()) + 1e-6)
    return ((magnitude - magnitude.mean()) / (magnitude.std() + 1e-6)).astype(np.float32)


def _scaling(s: float) -> np.ndarray:
    """Full-resolution pixel → pixel of the image resized by ``s`` (pixel centres at integers)."""
    return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1.0]])


def _scale_homography(h: np.ndarray, source_scale: float, target_scale: float) -> np.ndarray:
    """H between full-resolution images → H between the images resized by the given factors."""
    return _scaling(target_scale) @ h @ np.linalg.inv(_scaling(source_scale))


def _unscale_homography(h_scaled: np.ndarray, source_scale: float, target_scale: float) -> np.ndarray:
    """Inverse of ``_scale_homography``."""
    return np.linalg.inv(_scaling(target_scale)) @ h_scaled @ _scaling(source_scale)


def register_ecc(source: np.ndarray, target: np.ndarray, *, initial: np.ndarray | None = None,
                 levels: int = 4, finest_level: int = 0, iterations: int = 80, eps: float = 1e-6,
                 min_size: int = 32, sigma: float = 0.8, source_sigma: float | None = None,
                 max_move: float = 0.3, search: float = 0.1, starts: int = 4,
                 affine_below: int = 128, select_size: int = 160,
                 search_size: int = 96, cross_check: bool = True) -> tuple[np.ndarray, float]:
    """Automatic multimodal registration: ECC (enhanced correlation coefficient, Evangelidis &
    Psarakis 2008) on edge maps, coarse to fine, from an initial guess.

    ``source`` (e.g. RGB) and ``target`` (e.g. thermal °C) are single frames of any size and
    dtype. Returns ``(H, correlation)`` with H mapping source pixels to target pixels and the
    final correlation coefficient of the edge maps (≈ 0: no shared structure; 1: identical).

    Robustness (a single ECC run from a poor guess, or on a coarse level with little structure,
    runs away to a wrong optimum — 7 of 32 LLVIP cases did):

    - *several starts*: on the first level whose short side is ≥ ``search_size`` px, the source's
      edge map is warped by the initial guess composed with small rotations (±2°, ±4°) and
      scalings (±4%) about the centre and matched against the target's by normalised
      cross-correlation over shifts of up to ``search`` × the level's size; the initial guess and
      the ``starts`` − 1 best distinct matches each start an ECC run down to the first level whose
      short side is ≥ ``select_size`` px, and the start with the highest correlation there is
      refined on the finer levels (``search=0`` or ``starts=1``: the initial guess only);
    - *cross-checked coarse levels* (``cross_check``): a coarse level's result is kept only if it
      also raises the correlation on the next finer level; levels whose short side is below
      ``affine_below`` px try an affine fit beside the homography and keep the better one there;
    - a level is only accepted when it raises the correlation by a plausible move (≤
      ``max_move`` × the level's size).

    ``search=0, affine_below=0, cross_check=False`` is the plain guarded coarse-to-fine ECC (the
    benchmark's baseline). ``finest_level`` > 0 stops at a coarser level (faster, less precise).
    Raises ``DataError`` when ECC fails or runs away at every level.
    """
    import cv2

    t_h, t_w = target.shape[:2]
    h = np.eye(3) if initial is None else normalize_homography(np.asarray(initial, np.float64))
    # bring the source to about the target's pixel size first, so both edge maps have similar widths
    zoom = math.sqrt(abs(np.linalg.det(h[:2, :2]))) if np.all(np.isfinite(h)) else 1.0
    source = _as_float(source)
    if zoom < 0.9:
        pre = (max(1, round(source.shape[1] * zoom)), max(1, round(source.shape[0] * zoom)))
        pre_scale = pre[0] / source.shape[1]
        source = cv2.resize(source, pre, interpolation=cv2.INTER_AREA)
        h = _scale_homography(h, pre_scale, 1.0)
    else:
        pre_scale = 1.0
    s_h, s_w = source.shape[:2]
    target = _as_float(target)
    s_sigma = sigma if source_sigma is None else source_sigma
    plan = []  # (source size, target size) per usable level, coarse to fine
    for level in range(levels - 1, finest_level - 1, -1):
        scale = 0.5**level
        if min(t_w, t_h) * scale >= min_size:
            plan.append(((max(1, round(s_w * scale)), max(1, round(s_h * scale))),
                         (max(1, round(t_w * scale)), max(1, round(t_h * scale)))))
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def edges(i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in maps:
            ss, ts = plan[i]
            maps[i] = (edge_map(cv2.resize(source, ss, interpolation=cv2.INTER_AREA), sigma=s_sigma),
                       edge_map(cv2.resize(target, ts, interpolation=cv2.INTER_AREA), sigma=sigma))
        return maps[i]

    def level_scales(i: int) -> tuple[float, float]:
        return plan[i][0][0] / s_w, plan[i][1][0] / t_w

    def run_level(i: int, h: np.ndarray, affine: bool = False) -> tuple[np.ndarray, float] | bool:
        """One ECC run at level i from h (full resolution): the improved ``(h, cc)``; else True
        when ECC converged without improving the fit (h is already at the optimum), False when it
        failed or ran away."""
        src, tgt = edges(i)
        ss, ts = plan[i]
        s_scale, t_scale = level_scales(i)
        h_level = _scale_homography(h, s_scale, t_scale)
        warp = np.linalg.inv(h_level)  # ECC's warp maps template (target) pixels to input (source) pixels
        warp = (warp / warp[2, 2]).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
        before = _warped_correlation(src, tgt, warp)
        try:
            if affine:
                cc, new_warp = cv2.findTransformECC(tgt, src, warp[:2].copy(), cv2.MOTION_AFFINE, criteria, None, 1)
                new_warp = np.vstack([new_warp, warp[2:]])
            else:
                cc, new_warp = cv2.findTransformECC(tgt, src, warp.copy(), cv2.MOTION_HOMOGRAPHY, criteria, None, 1)
        except cv2.error:
            return False  # did not converge at this level: keep the previous estimate
        new_h_level = np.linalg.inv(new_warp.astype(np.float64))
        if not np.all(np.isfinite(new_h_level)):
            return False
        # a level may only improve the fit, and only by a plausible move (coarse levels with little
        # structure can run away; the finer levels then start from the previous estimate)
        moved = float(np.max(np.linalg.norm(apply_homography(new_h_level, image_corners(ss)) -
                                            apply_homography(h_level, image_corners(ss)), axis=1)))
        if moved > max_move * max(ts):
            return False
        if cc <= before:
            return True
        return normalize_homography(_unscale_homography(new_h_level, s_scale, t_scale)), float(cc)

    def correlation_at(i: int, h: np.ndarray) -> float:
        src, tgt = edges(i)
        warp = np.linalg.inv(_scale_homography(h, *level_scales(i)))
        return _warped_correlation(src, tgt, warp / warp[2, 2])

    def refine(h: np.ndarray, first: int, last: int) -> tuple[np.ndarray, float, bool]:
        """Levels ``first``..``last`` from h: (h, ECC correlation of the last accepted level, converged)."""
        correlation, converged = float("nan"), False
        for i in range(first, last + 1):
            runs = [run_level(i, h)]
            if min(plan[i][1]) < affine_below:
                runs.append(run_level(i, h, affine=True))
            converged |= any(r is not False for r in runs)
            results = [r for r in runs if isinstance(r, tuple)]
            if results and cross_check and i + 1 < len(plan):
                # keep a coarse level's result only if it also fits the next finer level better
                # than where it started (an 8-parameter fit to a tiny edge map can run away)
                scored = [(correlation_at(i + 1, r[0]), r) for r in results] + [(correlation_at(i + 1, h), None)]
                winner = max(scored, key=lambda x: x[0])[1]
                results = [winner] if winner is not None else []
            elif len(results) > 1:
                results = [max(results, key=lambda r: r[1])]
            if results:
                h, correlation = results[0]
        return h, correlation, converged

    if not plan:
        raise DataError(f"automatic registration needs a target of at least {min_size} pixels a side, "
                        f"got {t_w}×{t_h}")
    last = len(plan) - 1
    select = next((i for i, (_, ts) in enumerate(plan) if min(ts) >= select_size), last)
    candidates = [h]
    if search > 0 and starts > 1:
        k = min(select, next((i for i, (_, ts) in enumerate(plan) if min(ts) >= search_size), last))
        candidates += [normalize_homography(_unscale_homography(c, *level_scales(k)))
                       for c in _coarse_starts(*edges(k), _scale_homography(h, *level_scales(k)), search, starts - 1)]
    # every start runs down to the selection level; the best fit there is refined further
    runs = [refine(start, 0, select) for start in candidates]
    scores = [correlation_at(select, r[0]) if r[2] else -np.inf for r in runs]
    h, correlation, converged = runs[int(np.argmax(scores))]
    if select < last:
        h, fine_correlation, fine_converged = refine(h, select + 1, last)
        converged |= fine_converged
        correlation = fine_correlation if np.isfinite(fine_correlation) else correlation
    if not converged:
        raise DataError("automatic registration did not converge (too little shared structure, or a poor initial guess)")
    if not np.isfinite(correlation):
        correlation = correlation_at(last, h)
    h = normalize_homography(_scale_homography(h, 1.0 / pre_scale, 1.0)) if pre_scale != 1.0 else h
    return h, float(correlation)


def _coarse_starts(source: np.ndarray, target: np.ndarray, h: np.ndarray, search: float, count: int,
                   angles: Sequence[float] = (-4.0, -2.0, 0.0, 2.0, 4.0),
                   scales: Sequence[float] = (0.96, 1.0, 1.04)) -> list[np.ndarray]:
    """Up to ``count`` homographies ``T(d) · S · h`` that best line up the edge map ``source``
    (warped by them) with ``target``, by normalised cross-correlation: ``S`` a small rotation
    (``angles``, degrees) and scaling (``scales``) about the target's centre, ``d`` a shift of at
    most ``search`` × the target's size. Distinct peaks, best first; the initial ``h`` itself is
    not among them, nor any whose target corners come within ``search``/4 of its or each other's."""
    import cv2

    th, tw = target.shape
    m = max(1, int(round(search * max(tw, th))))
    cx, cy = (tw - 1) / 2, (th - 1) / 2
    radius = max(1, m // 4)
    peaks = []  # (score, homography)
    for angle in angles:
        for scale in scales:
            a = math.radians(angle)
            c, s = scale * math.cos(a), scale * math.sin(a)
            similar = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1.0]])
            base = similar @ h
            shift = np.array([[1, 0, m], [0, 1, m], [0, 0, 1.0]])
            canvas = cv2.warpPerspective(source, shift @ base, (tw + 2 * m, th + 2 * m), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            scores = cv2.matchTemplate(canvas.astype(np.float32), target.astype(np.float32), cv2.TM_CCOEFF_NORMED)
            for _ in range(count):
                _, value, _, (px, py) = cv2.minMaxLoc(scores)
                if not np.isfinite(value) or value <= -1:
                    break
                # target content at v sits at v + d in the source warped by ``base``
                dx, dy = px - m, py - m
                if dx or dy or angle or scale != 1.0:
                    peaks.append((float(value), np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1.0]]) @ base))
                scores[max(0, py - radius):py + radius + 1, max(0, px - radius):px + radius + 1] = -2
    peaks.sort(key=lambda p: -p[0])
    corners = image_corners((tw, th))
    kept = [apply_homography(np.linalg.inv(h), corners)]  # the initial guess starts anyway
    out: list[np.ndarray] = []
    for _, candidate in peaks:
        mapped = apply_homography(np.linalg.inv(candidate), corners)
        if all(np.max(np.linalg.norm(mapped - other, axis=1)) > radius for other in kept):
            kept.append(mapped)
            out.append(candidate)
        if len(out) == count:
            break
    return out


def _warped_correlation(source: np.ndarray, target: np.ndarray, warp: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Correlation coefficient of ``target`` and ``source`` warped onto it (ECC's objective)."""
    import cv2

    th, tw = target.shape
    warped = cv2.warpPerspective(source, warp.astype(np.float32), (tw, th), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    valid = np.isfinite(warped) if mask is None else np.isfinite(warped) & (mask > 0)
    if valid.sum() < 16:
        return -1.0
    a, b = warped[valid] - warped[valid].mean(), target[valid] - target[valid].mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = image.astype(np.float32).mean(axis=2)
    out = image.astype(np.float32)
    if not np.isfinite(out).all():
        out = np.where(np.isfinite(out), out, np.nanmedian(out)).astype(np.float32)
    return out


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
    import cv2

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
