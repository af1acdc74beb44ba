"""Keypoint heatmaps for top-down pose models: person crops, Gaussian targets, sub-pixel decoding,
flip test. Pure NumPy/OpenCV (no torch).

Coordinates follow the unbiased ("UDP") convention: a crop of ``W`` input pixels maps onto
``w`` heatmap pixels by ``u = x · (w − 1) / (W − 1)``, pixel centres at integers on both
grids, so a horizontal flip is exactly ``x → W − 1 − x`` on both and the flip test needs no
one-pixel shift.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PERSON_PADDING = 1.25  # box enlargement before cropping (SimpleBaseline / ViTPose)


def box_to_center_scale(boxes: np.ndarray, aspect: float, padding: float = PERSON_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` (M, 4) xywh → centre (M, 2) and size (M, 2) (w, h) with ``w/h == aspect``, padded."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    center = boxes[:, :2] + boxes[:, 2:] / 2
    w, h = boxes[:, 2].copy(), boxes[:, 3].copy()
    wider = w > aspect * h
    h = np.where(wider, w / aspect, h)
    w = np.where(wider, w, h * aspect)
    size = np.stack([w, h], 1) * padding
    return center, np.maximum(size, 1e-3)


def crop_affines(center: np.ndarray, size: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """(M, 2, 3) affines mapping frame pixels onto ``out_hw`` crops of the boxes (centre, size)."""
    out_h, out_w = out_hw
    center = np.asarray(center, np.float64).reshape(-1, 2)
    size = np.asarray(size, np.float64).reshape(-1, 2)
    sx = (out_w - 1) / np.maximum(size[:, 0] - 1, 1e-3)
    sy = (out_h - 1) / np.maximum(size[:, 1] - 1, 1e-3)
    affine = np.zeros((len(center), 2, 3))
    affine[:, 0, 0] = sx
    affine[:, 1, 1] = sy
    affine[:, 0, 2] = (out_w - 1) / 2 - sx * center[:, 0]
    affine[:, 1, 2] = (out_h - 1) / 2 - sy * center[:, 1]
    return affine


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """points (..., M, K, 2) or (M, K, 2) with affine (M, 2, 3) → transformed points."""
    pts = np.asarray(points, np.float64)
    return np.einsum("mij,mkj->mki", affine[:, :, :2], pts) + affine[:, None, :, 2]


def invert_affines(affine: np.ndarray) -> np.ndarray:
    """(M, 2, 3) → inverse affines (M, 2, 3)."""
    affine = np.asarray(affine, np.float64)
    lin = np.linalg.inv(affine[:, :, :2])
    return np.concatenate([lin, -np.einsum("mij,mj->mi", lin, affine[:, :, 2])[:, :, None]], axis=2)


def warp_crops(frames: np.ndarray, affines: np.ndarray, out_hw: tuple[int, int], *, border_value: float = 0.0) -> np.ndarray:
    """Crop ``frames`` (M, H, W[, C]) with ``affines`` (M, 2, 3) → (M, h, w[, C]) (bilinear).

    Temperatures stay float32 °C; NaN pixels become ``border_value``.
    """
    import cv2

    out_h, out_w = out_hw
    crops = []
    for frame, affine in zip(frames, affines):
        src = frame
        if src.dtype.kind == "f":
            src = np.where(np.isfinite(src), src, border_value).astype(np.float32)
        crops.append(
            cv2.warpAffine(src, affine.astype(np.float64), (out_w, out_h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
        )
    return np.stack(crops) if crops else np.zeros((0, out_h, out_w) + frames.shape[3:], frames.dtype)


def input_to_heatmap(points: np.ndarray, input_hw: tuple[int, int], heatmap_hw: tuple[int, int]) -> np.ndarray:
    """Crop pixels → heatmap pixels (UDP): ``u = x (w − 1)/(W − 1)``."""
    (H, W), (h, w) = input_hw, heatmap_hw
    scale = np.array([(w - 1) / (W - 1), (h - 1) / (H - 1)])
    return np.asarray(points, np.float64) * scale


def heatmap_to_input(points: np.ndarray, input_hw: tuple[int, int], heatmap_hw: tuple[int, int]) -> np.ndarray:
    (H, W), (h, w) = input_hw, heatmap_hw
    scale = np.array([(W - 1) / (w - 1), (H - 1) / (h - 1)])
    return np.asarray(points, np.float64) * scale


def gaussian_targets(
    keypoints: np.ndarray, heatmap_hw: tuple[int, int], *, sigma: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps centred at sub-pixel keypoint locations.

    ``keypoints`` (M, K, 3): x, y in heatmap pixels, visibility. Returns ``targets`` (M, K, h, w)
    float32 (peak 1) and ``weights`` (M, K) float32: 1 for a labelled keypoint (v > 0) whose
    Gaussian touches the heatmap, else 0 (its target is all zeros).
    """
    h, w = heatmap_hw
    kp = np.asarray(keypoints, np.float64)
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
    reach = 3 * sigma
    weights = (v > 0) & np.isfinite(x) & np.isfinite(y) & (x > -reach) & (y > -reach) & (x < w - 1 + reach) & (y < h - 1 + reach)
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    xx = np.where(weights, x, 0)[..., None]
    yy = np.where(weights, y, 0)[..., None]
    gx = np.exp(-((xs - xx) ** 2) / (2 * sigma**2))  # (M, K, w)
    gy = np.exp(-((ys - yy) ** 2) / (2 * sigma**2))  # (M, K, h)
    targets = gy[..., :, None] * gx[..., None, :]
    targets *= weights[..., None, None]
    return targets.astype(np.float32), weights.astype(np.float32)


def decode_heatmaps(heatmaps: np.ndarray, *, method: str = "dark", blur_kernel: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (M, K, h, w) → keypoints (M, K, 2) in heatmap pixels and scores (M, K) (peak value).

    ``method``: ``argmax`` (integer peak), ``quarter`` (peak moved a quarter pixel towards the
    higher neighbour, SimpleBaseline), ``dark`` (Zhang et al. 2020: second-order Taylor expansion
    of the log-heatmap at the peak, after a Gaussian blur of ``blur_kernel``; 0 = no blur).
    """
    hm = np.asarray(heatmaps, np.float64)
    m, k, h, w = hm.shape
    flat = hm.reshape(m, k, -1)
    idx = flat.argmax(-1)
    scores = flat.max(-1)
    px = (idx % w).astype(np.float64)
    py = (idx // w).astype(np.float64)
    coords = np.stack([px, py], -1)
    if method == "argmax":
        return coords, scores
    if method == "quarter":
        xi, yi = px.astype(int), py.astype(int)
        mi, ki = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")
        right = hm[mi, ki, yi, np.minimum(xi + 1, w - 1)]
        left = hm[mi, ki, yi, np.maximum(xi - 1, 0)]
        down = hm[mi, ki, np.minimum(yi + 1, h - 1), xi]
        up = hm[mi, ki, np.maximum(yi - 1, 0), xi]
        coords = coords + 0.25 * np.stack([np.sign(right - left), np.sign(down - up)], -1)
        return coords, scores
    if method != "dark":
        raise ValueError(f"unknown decoding {method!r}")
    if blur_kernel:
        hm = _blur_keep_peak(hm, blur_kernel)
    logs = np.log(np.maximum(hm, 1e-10))
    xi, yi = px.astype(int), py.astype(int)
    inner = (xi >= 1) & (xi <= w - 2) & (yi >= 1) & (yi <= h - 2)
    xi_c = np.clip(xi, 1, w - 2)
    yi_c = np.clip(yi, 1, h - 2)
    mi, ki = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")

    def at(dy, dx):
        return logs[mi, ki, yi_c + dy, xi_c + dx]

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = at(0, 1) - 2 * c + at(0, -1)
    dyy = at(1, 0) - 2 * c + at(-1, 0)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    ok = inner & (np.abs(det) > 1e-12) & (dxx < 0) & (dyy < 0)
    safe = np.where(ok, det, 1.0)
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    offset = np.stack([off_x, off_y], -1)
    offset = np.where(ok[..., None] & (np.abs(offset) < 1.5).all(-1, keepdims=True), offset, 0.0)
    return coords + offset, scores


def _blur_keep_peak(hm: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur each map, rescaled to its original maximum (DARK's modulation)."""
    import cv2

    m, k, h, w = hm.shape
    flat = hm.reshape(m * k, h, w)
    out = np.empty_like(flat)
    for i, one in enumerate(flat):
        peak = one.max()
        blurred = cv2.GaussianBlur(one, (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
        bmax = blurred.max()
        out[i] = blurred * (peak / bmax) if bmax > 0 else blurred
    return out.reshape(m, k, h, w)


def flip_heatmaps(heatmaps: np.ndarray, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """Heatmaps of a horizontally flipped crop → heatmaps of the original crop (mirror + swap
    left/right channels). Works on NumPy arrays and torch tensors alike (..., K, h, w)."""
    perm = list(range(heatmaps.shape[-3]))
    for a, b in flip_pairs:
        perm[a], perm[b] = perm[b], perm[a]
    flipped = heatmaps[..., perm, :, :]
    if hasattr(flipped, "flip"):
        return flipped.flip(-1)
    return flipped[..., ::-1].copy()
