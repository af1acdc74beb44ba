"""Top-down person crops: a box padded to the crop's aspect ratio, as an affine map.

Like mmpose's top-down affine: the box's centre goes to the crop's centre, the box is widened or
heightened (never squashed) to the crop's aspect ratio and enlarged by ``padding``, then scaled to
the crop size. The 2×3 affine maps frame pixels to crop pixels (pixel centres at integers); its
inverse maps predictions back to the frame.

>>> import numpy as np
>>> a = crop_affine(np.array([10.0, 20.0, 30.0, 40.0]), (256, 192), padding=1.0)
>>> pts = np.array([[25.0, 40.0]])                  # the box centre
>>> apply_affine(a, pts).round(6).tolist()          # → the crop centre
[[95.5, 127.5]]
>>> np.allclose(apply_affine(invert_affine(a), apply_affine(a, pts)), pts)
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def padded_box(box: np.ndarray, crop_size: Sequence[int], padding: float = 1.25) -> np.ndarray:
    """Box (x, y, w, h) → the padded box of the crop's aspect ratio, same centre, (4,) float64.

    ``crop_size`` is (height, width), as ``--crop 256x192`` reads.
    """
    x, y, w, h = (float(v) for v in box)
    out_h, out_w = crop_size
    aspect = out_w / out_h
    cx, cy = x + w / 2, y + h / 2
    w, h = max(w, 1e-3), max(h, 1e-3)
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * padding, h * padding
    return np.array([cx - w / 2, cy - h / 2, w, h])


def crop_affine(box: np.ndarray, crop_size: Sequence[int], padding: float = 1.25) -> np.ndarray:
    """The 2×3 float64 affine mapping frame pixels to pixels of a ``crop_size`` (height, width)
    crop around ``box`` (x, y, w, h), padded to the crop's aspect ratio."""
    px, py, pw, ph = padded_box(box, crop_size, padding)
    out_h, out_w = crop_size
    scale = out_w / pw  # = out_h / ph
    cx, cy = px + pw / 2, py + ph / 2
    return np.array([[scale, 0.0, (out_w - 1) / 2 - scale * cx], [0.0, scale, (out_h - 1) / 2 - scale * cy]])


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine (crop → frame)."""
    full = np.vstack([np.asarray(affine, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(…, 2) points through a 2×3 affine, float64."""
    points = np.asarray(points, np.float64)
    a = np.asarray(affine, np.float64)
    return points @ a[:, :2].T + a[:, 2]


def map_keypoints(affine: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Keypoints (…, K, 3) x, y, visibility through an affine; unlabelled (v = 0) stay (0, 0, 0)."""
    kp = np.asarray(keypoints)
    out = kp.astype(np.float64).copy()
    out[..., :2] = apply_affine(affine, kp[..., :2])
    out[kp[..., 2] <= 0] = 0.0
    return out


def map_boxes(affine: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes (…, 4) x, y, w, h through a scale + translation affine (NaN rows stay NaN)."""
    b = np.asarray(boxes, np.float64)
    corners = np.stack([b[..., :2], b[..., :2] + b[..., 2:]], axis=-2)
    mapped = apply_affine(affine, corners)
    lo, hi = mapped.min(axis=-2), mapped.max(axis=-2)
    return np.concatenate([lo, hi - lo], axis=-1)


def crop_image(image: np.ndarray, affine: np.ndarray, crop_size: Sequence[int]) -> np.ndarray:
    """Resample ``image`` (H, W[, C]) into the crop (bilinear). Outside the frame, float frames
    (°C) get the frame's median temperature (the room, not a fake 0 °C; NaN stays masked) and
    uint8 frames are black."""
    import cv2

    out_h, out_w = crop_size
    a = np.asarray(affine, np.float64)
    if image.dtype.kind == "f":
        src = np.ascontiguousarray(image, dtype=np.float32)
        finite = np.isfinite(src)
        fill = float(np.median(src[finite])) if finite.any() else 0.0
        return cv2.warpAffine(src, a, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=fill).astype(image.dtype)
    return cv2.warpAffine(np.ascontiguousarray(image), a, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
