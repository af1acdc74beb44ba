"""Calibration targets (chessboards, circle grids) seen by both cameras, and lens distortion."""

from __future__ import annotations

import numpy as np

from thermcli.errors import DataError

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
