"""Regions of interest on thermal frames and their per-frame statistics: pure NumPy/OpenCV.

A region is a boolean mask ``(H, W)`` for one frame. Masks come from fixed shapes (box, polygon,
disc), from a temperature band (skin mask), or from keypoints (a disc around a keypoint, a body
segment between two keypoints with a width). Statistics are computed on the masked pixels in the
frame's own unit (°C for radiometric data) and never change the frame.

>>> import numpy as np
>>> frame = np.full((4, 5), 30.0, np.float32)
>>> mask = box_mask((4, 5), (1, 1, 2, 2))
>>> int(mask.sum()), region_stats(frame, mask)["mean"]
(4, 30.0)
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

STAT_NAMES = ("mean", "median", "min", "max", "std")


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise ValueError(f"frame shape must be (H, W), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def box_mask(shape: Sequence[int], box: Sequence[float]) -> np.ndarray:
    """Pixels whose centres lie inside ``box`` = (x, y, w, h) in frame pixels.

    shape: (H, W). Returns (H, W) bool; the part outside the frame is clipped (an all-False mask
    when the box misses the frame entirely).
    """
    h, w = _check_shape(shape)
    x, y, bw, bh = (float(v) for v in box)
    mask = np.zeros((h, w), bool)
    if not all(math.isfinite(v) for v in (x, y, bw, bh)) or bw <= 0 or bh <= 0:
        return mask
    # pixel (r, c) covers [c, c+1) × [r, r+1); its centre is (c + 0.5, r + 0.5)
    c0, c1 = max(0, math.ceil(x - 0.5)), min(w, math.ceil(x + bw - 0.5))
    r0, r1 = max(0, math.ceil(y - 0.5)), min(h, math.ceil(y + bh - 0.5))
    if c1 > c0 and r1 > r0:
        mask[r0:r1, c0:c1] = True
    return mask


def polygon_mask(shape: Sequence[int], points: Sequence[Sequence[float]]) -> np.ndarray:
    """Pixels whose centres lie inside the polygon ``points`` = [[x, y], ...] (≥ 3 vertices).

    The even–odd rule on pixel centres, the same convention as ``box_mask`` and ``disc_mask``
    (a rectangle polygon gives exactly the box's pixels). Returns (H, W) bool.
    """
    h, w = _check_shape(shape)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"a polygon needs at least 3 [x, y] points, got shape {pts.shape}")
    mask = np.zeros((h, w), bool)
    if not np.isfinite(pts).all():
        return mask
    px = np.arange(w)[None, :] + 0.5
    py = np.arange(h)[:, None] + 0.5
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        if y0 == y1:
            continue  # a horizontal edge never crosses a horizontal ray
        straddles = (y0 > py) != (y1 > py)
        x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        mask ^= straddles & (px < x_cross)
    return mask


def disc_mask(shape: Sequence[int], center: Sequence[float], radius: float) -> np.ndarray:
    """Pixels whose centres lie within ``radius`` of ``center`` = (x, y); empty when radius ≤ 0."""
    h, w = _check_shape(shape)
    cx, cy = (float(v) for v in center)
    radius = float(radius)
    if not (math.isfinite(cx) and math.isfinite(cy) and math.isfinite(radius)) or radius <= 0:
        return np.zeros((h, w), bool)
    rows = np.arange(h)[:, None] + 0.5
    cols = np.arange(w)[None, :] + 0.5
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= radius**2


def segment_mask(shape: Sequence[int], start: Sequence[float], end: Sequence[float], width: float) -> np.ndarray:
    """A rotated rectangle: the segment ``start``→``end`` (x, y) thickened to ``width`` pixels.

    The body-segment region between two keypoints (forearm: elbow→wrist; chest: mid-shoulders →
    mid-hips). A zero-length segment or a width ≤ 0 gives an empty mask.
    """
    h, w = _check_shape(shape)
    p0 = np.asarray(start, dtype=np.float64)
    p1 = np.asarray(end, dtype=np.float64)
    width = float(width)
    if not (np.isfinite(p0).all() and np.isfinite(p1).all() and math.isfinite(width)) or width <= 0:
        return np.zeros((h, w), bool)
    axis = p1 - p0
    length = float(np.hypot(*axis))
    if length == 0:
        return np.zeros((h, w), bool)
    unit = axis / length
    rows, cols = np.mgrid[0:h, 0:w]
    px = cols + 0.5 - p0[0]
    py = rows + 0.5 - p0[1]
    along = px * unit[0] + py * unit[1]
    across = -px * unit[1] + py * unit[0]
    return (along >= 0) & (along <= length) & (np.abs(across) <= width / 2)


def band_mask(
    frame: np.ndarray,
    low: float,
    high: float,
    *,
    open_px: int = 0,
    close_px: int = 0,
    largest: bool = False,
    min_area: int = 0,
) -> np.ndarray:
    """Pixels with ``low ≤ value ≤ high`` (a skin mask: e.g. 30–37 °C), cleaned.

    frame: (H, W) in its unit (°C for radiometric data); NaN pixels are never in the mask.
    open_px / close_px: morphological opening then closing with an elliptical kernel of that
    diameter (0 = off). largest: keep only the largest 8-connected component. min_area: drop
    components smaller than this many pixels. Returns (H, W) bool.
    """
    import cv2

    values = np.asarray(frame)
    if values.ndim != 2:
        raise ValueError(f"band_mask needs one (H, W) frame, got shape {values.shape}")
    with np.errstate(invalid="ignore"):
        mask = ((values >= low) & (values <= high)).astype(np.uint8)
    if open_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(open_px), int(open_px)))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    if close_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(close_px), int(close_px)))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        mask &= np.isfinite(values).astype(np.uint8) if values.dtype.kind == "f" else 1
    if largest or min_area > 0:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.zeros(count, bool)
        if len(areas):
            if largest:
                best = int(np.argmax(areas))
                keep[best + 1] = areas[best] >= min_area
            else:
                keep[1:] = areas >= min_area
        mask = keep[labels].astype(np.uint8)
    return mask.astype(bool)


def saturation_limits(dtype: np.dtype) -> tuple[float, float] | None:
    """The values a sensor clips at, for integer frames (uint8 0/255, uint16 0/65535); None for floats."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return None


def stat_columns(percentiles: Sequence[float] = ()) -> list[str]:
    """Names of the statistics ``region_stats`` returns, in order."""
    return [*STAT_NAMES, *(percentile_name(p) for p in percentiles), "area_px", "nan_fraction", "saturated_fraction"]


def percentile_name(p: float) -> str:
    """``5`` → ``p5``, ``2.5`` → ``p2.5``."""
    return f"p{float(p):g}"


def region_stats(
    frame: np.ndarray,
    mask: np.ndarray,
    *,
    percentiles: Sequence[float] = (),
    saturation: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Statistics of ``frame``'s pixels inside ``mask``, in the frame's unit.

    frame: (H, W) any numeric dtype (float32 °C, uint16 counts, uint8 intensity); mask: (H, W) bool.
    Returns mean, median, min, max, std (population, ddof=0) and the percentiles (linear
    interpolation) of the finite pixels; ``area_px`` = pixels in the mask; ``nan_fraction`` = the
    share of them that are NaN; ``saturated_fraction`` = the share at or beyond ``saturation``
    (lo, hi) (default: the integer dtype's limits; 0 for float frames without limits). An empty
    mask or an all-NaN region gives NaN statistics (area 0 → every fraction NaN too).
    """
    values = np.asarray(frame)
    mask = np.asarray(mask, dtype=bool)
    if values.shape[:2] != mask.shape:
        raise ValueError(f"mask shape {mask.shape} does not match frame shape {values.shape[:2]}")
    pixels = values[mask].astype(np.float64)
    area = int(pixels.size)
    out: dict[str, float] = {}
    finite = pixels[np.isfinite(pixels)]
    if finite.size:
        out.update(
            mean=float(finite.mean()),
            median=float(np.median(finite)),
            min=float(finite.min()),
            max=float(finite.max()),
            std=float(finite.std()),
        )
        for p, v in zip(percentiles, np.percentile(finite, list(percentiles)) if len(percentiles) else []):
            out[percentile_name(p)] = float(v)
    else:
        out.update({name: math.nan for name in STAT_NAMES})
        out.update({percentile_name(p): math.nan for p in percentiles})
    out["area_px"] = float(area)
    if area:
        out["nan_fraction"] = float(np.isnan(pixels).sum() / area)
        limits = saturation if saturation is not None else saturation_limits(values.dtype)
        if limits is None:
            out["saturated_fraction"] = 0.0
        else:
            lo, hi = limits
            out["saturated_fraction"] = float(((finite <= lo) | (finite >= hi)).sum() / area)
    else:
        out["nan_fraction"] = math.nan
        out["saturated_fraction"] = math.nan
    return out
