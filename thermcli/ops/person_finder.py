"""A built-in thermal person finder: warmer-than-the-room blobs of a person's size.

Indoors, people (skin 33–35 °C, clothing 27–31 °C) are warmer than walls and furniture
(20–24 °C). The finder thresholds a temperature band, cleans the mask morphologically, takes
connected components and keeps those of a person's size and shape.

Limits (documented, measured in tests/ops/test_person_finder.py and bench/person_finder.py):

- it needs people warmer than the background: outdoors in summer, next to radiators, hot
  machines, sunlit ground or pets it finds false people or misses them;
- people touching each other (or a warm object) merge into one box; a person split by a cold
  object (a table in front) gives two boxes or one partial box;
- pseudo-colour or 8-bit images hold no temperatures: ``relative=True`` thresholds the top of the
  frame's own intensity distribution instead (Otsu's threshold, at least the given percentile),
  which works only where people are among the warmest things in view.

>>> import numpy as np
>>> frame = np.full((60, 80), 22.0, np.float32)
>>> frame[10:50, 30:42] = 31.0                       # a standing person
>>> find_people(frame).round(1).tolist()
[[29.5, 9.5, 12.0, 40.0]]
"""

from __future__ import annotations

import numpy as np


def find_people(frame: np.ndarray, *, band: tuple[float, float] = (26.0, 42.0), relative: bool = False,
                percentile: float = 90.0, min_area: float = 0.002, max_area: float = 0.6,
                min_height: float = 0.08, max_aspect: float = 2.5) -> np.ndarray:
    """Person boxes (M, 4) float64 x, y, w, h (pixel edges: a pixel spans ±0.5), largest first.

    ``frame``: (H, W) float32 °C, or any intensity image with ``relative=True``.
    ``band``: °C range of people. ``min_area``/``max_area``: component area as a fraction of the
    frame; ``min_height``: box height as a fraction of the frame height; ``max_aspect``: the
    widest accepted width/height (lying people are wider; raise it for them).
    """
    import cv2

    values = np.asarray(frame, np.float64)
    if values.ndim == 3:
        values = values.mean(axis=2)
    h, w = values.shape
    finite = np.isfinite(values)
    if relative:
        v8 = np.zeros(values.shape, np.uint8)
        if finite.any():
            lo, hi = np.percentile(values[finite], [0.5, 99.5])
            v8 = np.clip((np.where(finite, values, lo) - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(v8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        level = max(float(otsu), float(np.percentile(v8, percentile)))
        mask = v8 > level
    else:
        mask = finite & (values >= band[0]) & (values <= band[1])
    mask = mask.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    if min(h, w) >= 40:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    # close small gaps (cool belt, a thin cold object) vertically: a person is one tall blob
    close = max(1, int(round(0.03 * h)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((2 * close + 1, 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for label in range(1, count):
        x, y, bw, bh, area = stats[label]
        if area < min_area * h * w or area > max_area * h * w:
            continue
        if bh < min_height * h or bw / max(bh, 1) > max_aspect:
            continue
        boxes.append((area, [x - 0.5, y - 0.5, float(bw), float(bh)]))
    boxes.sort(key=lambda item: -item[0])
    return np.array([b for _, b in boxes], dtype=np.float64).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x, y, w, h boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ax0, ay0, ax1, ay1 = a[:, 0, None], a[:, 1, None], (a[:, 0] + a[:, 2])[:, None], (a[:, 1] + a[:, 3])[:, None]
    bx0, by0, bx1, by1 = b[None, :, 0], b[None, :, 1], (b[:, 0] + b[:, 2])[None], (b[:, 1] + b[:, 3])[None]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2, None] * a[:, 3, None] + b[None, :, 2] * b[None, :, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_recall(found: list[np.ndarray], truth: list[np.ndarray], *, iou: float = 0.5) -> tuple[int, int]:
    """(true boxes matched by a found box with IoU ≥ ``iou`` (one-to-one, greedy), true boxes)."""
    matched = total = 0
    for f, t in zip(found, truth):
        t = np.asarray(t).reshape(-1, 4)
        total += len(t)
        if len(t) == 0 or len(f) == 0:
            continue
        m = box_iou(t, f)
        used = set()
        for i in np.argsort(-m.max(axis=1)):
            j = int(np.argmax(np.where([k in used for k in range(m.shape[1])], -1, m[i])))
            if m[i, j] >= iou and j not in used:
                used.add(j)
                matched += 1
    return matched, total
