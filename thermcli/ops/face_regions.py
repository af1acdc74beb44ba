"""Face-anchored regions: sub-regions defined as fractions of a face box, and a box tracker.

A face box is ``(x, y, w, h)`` in frame pixels. Each sub-region is a box given as fractions of
the face box: ``(fx0, fy0, fx1, fy1)`` → ``(x + fx0·w, y + fy0·h, (fx1 − fx0)·w, (fy1 − fy0)·h)``.
The fractions below suit a frontal face whose box runs from the hairline to the chin (the
thermal-faces labels); *left* and *right* are the image's left and right (the person's right
eye is ``periorbital_left``).

=================== ============ ============ ===========================================
region              x fraction   y fraction   what it covers
=================== ============ ============ ===========================================
forehead            0.25 – 0.75  0.05 – 0.25  the forehead's centre, above the brows
periorbital_left    0.12 – 0.42  0.28 – 0.45  inner eye corner and the eye (image left)
periorbital_right   0.58 – 0.88  0.28 – 0.45  the same, image right
nose                0.36 – 0.64  0.48 – 0.70  nose tip and nostrils (breathing)
mouth               0.28 – 0.72  0.72 – 0.90  the mouth (mouth breathing)
=================== ============ ============ ===========================================

The tracker (:func:`track_boxes`) takes one detection per frame (NaN where the detector found
none), smooths the box with an exponential moving average, holds the last box for up to
``hold`` missed frames (flagged ``held``) and reports the frames beyond that as ``lost`` (NaN).

>>> import numpy as np
>>> sub = face_subregions(np.array([[10.0, 20.0, 40.0, 50.0]]))
>>> sub["forehead"][0].tolist()
[20.0, 22.5, 20.0, 10.0]
"""

from __future__ import annotations

import numpy as np

FACE_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "forehead": (0.25, 0.05, 0.75, 0.25),
    "periorbital_left": (0.12, 0.28, 0.42, 0.45),
    "periorbital_right": (0.58, 0.28, 0.88, 0.45),
    "nose": (0.36, 0.48, 0.64, 0.70),
    "mouth": (0.28, 0.72, 0.72, 0.90),
}


def face_subregions(faces: np.ndarray, regions: dict[str, tuple[float, float, float, float]] | None = None
                    ) -> dict[str, np.ndarray]:
    """Face boxes (N, 4) xywh → {region: (N, 4) xywh}; a NaN face gives NaN sub-boxes."""
    faces = np.asarray(faces, np.float64).reshape(-1, 4)
    out = {}
    x, y, w, h = faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 3]
    for name, (fx0, fy0, fx1, fy1) in (regions or FACE_REGIONS).items():
        if not (0 <= fx0 < fx1 <= 1 and 0 <= fy0 < fy1 <= 1):
            raise ValueError(f"region {name!r}: fractions must satisfy 0 ≤ start < stop ≤ 1")
        out[name] = np.stack([x + fx0 * w, y + fy0 * h, (fx1 - fx0) * w, (fy1 - fy0) * h], 1)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xywh boxes (0 when either is NaN or empty)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return 0.0
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def pick_face(boxes: np.ndarray, scores: np.ndarray, min_score: float) -> np.ndarray:
    """The highest-scoring box with score ≥ ``min_score`` (xywh), or NaN×4."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    ok = np.isfinite(scores) & np.isfinite(boxes).all(1) & (scores >= min_score)
    if not ok.any():
        return np.full(4, np.nan)
    idx = np.flatnonzero(ok)
    return boxes[idx[np.argmax(scores[idx])]]


def track_boxes(detections: np.ndarray, *, alpha: float = 0.5, hold: int = 5, reset_iou: float = 0.1,
                recordings=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth per-frame face boxes over time.

    ``detections`` (N, 4) xywh, NaN rows where no face was found. ``alpha`` in (0, 1] is the EMA
    weight of the new detection (1 = no smoothing); a detection overlapping the track by less
    than ``reset_iou`` restarts the track there (the face moved or another face was picked).
    A miss keeps the last box for up to ``hold`` frames; later misses are lost (NaN) until the
    next detection. ``recordings`` (N,) ids restart the track at each change of recording.
    Returns (tracked (N, 4), held (N,) bool, lost (N,) bool)."""
    if not 0 < alpha <= 1:
        raise ValueError("alpha must lie in (0, 1]")
    if hold < 0:
        raise ValueError("hold must be ≥ 0")
    det = np.asarray(detections, np.float64).reshape(-1, 4)
    n = len(det)
    tracked = np.full((n, 4), np.nan)
    held = np.zeros(n, bool)
    lost = np.zeros(n, bool)
    state = None
    misses = 0
    previous_recording = None
    for i in range(n):
        if recordings is not None:
            if i > 0 and recordings[i] != previous_recording:
                state, misses = None, 0
            previous_recording = recordings[i]
        d = det[i]
        if np.isfinite(d).all():
            if state is None or box_iou(state, d) < reset_iou:
                state = d.copy()
            else:
                state = alpha * d + (1 - alpha) * state
            misses = 0
            tracked[i] = state
        elif state is not None and misses < hold:
            misses += 1
            tracked[i] = state
            held[i] = True
        else:
            state = None
            lost[i] = True
    return tracked, held, lost
