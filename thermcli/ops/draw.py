"""Drawing on frames: thermal frames through a palette, upscaled so 80×60 frames are legible,
keypoints + skeleton, boxes, scores and class labels, ground truth and predictions in distinct
styles, an optional temperature colour bar, contact sheets. Pure NumPy/OpenCV (no torch).

Styles: ground truth is drawn in green, thin, with hollow rings at the keypoints; predictions in
colour (left side orange, right side cyan, centre magenta), thick, with filled dots.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

GT_COLOUR = (60, 255, 60)
LEFT = (255, 150, 0)
RIGHT = (0, 220, 255)
CENTRE = (255, 0, 200)
BOX_PRED = (255, 230, 0)


def frame_to_rgb(frame: np.ndarray, *, unit: str, palette: str = "ironbow", window: tuple[float, float] | None = None,
                 scale: int = 1) -> np.ndarray:
    """One frame → (H·scale, W·scale, 3) uint8 RGB. Temperatures go through ``window`` (°C) and
    the palette; 8-bit grey through the palette; RGB frames are kept."""
    import cv2

    from thermcli.ops.palette import apply_palette, window_to_uint8

    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[-1] == 3:
        rgb = frame.astype(np.uint8)
        return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else rgb.copy()
    values = frame.astype(np.float32)
    if scale > 1:  # interpolate the temperatures, then colour: smooth, and the palette stays exact
        values = cv2.resize(np.nan_to_num(values, nan=float(np.nanmin(values)) if np.isfinite(values).any() else 0.0),
                            None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if unit in ("celsius", "kelvin", "counts"):
        lo, hi = window if window else robust_window(values)
        grey = window_to_uint8(values, lo, hi)
    else:
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return apply_palette(grey, palette)


def robust_window(values: np.ndarray) -> tuple[float, float]:
    """0.5th–99.9th percentile of the finite values (at least 0.5 wide): people stay unsaturated."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [0.5, 99.9])
    if hi - lo < 0.5:
        mid = (hi + lo) / 2
        lo, hi = mid - 0.25, mid + 0.25
    return float(lo), float(hi)


def _side_colour(name: str) -> tuple[int, int, int]:
    if name.startswith("left"):
        return LEFT
    if name.startswith("right"):
        return RIGHT
    return CENTRE


def draw_pose(image: np.ndarray, keypoints: np.ndarray, *, skeleton: Sequence[Sequence[int]], names: Sequence[str],
              scale: float, style: str = "pred", min_confidence: float = 0.0) -> np.ndarray:
    """Draw one person's keypoints (K, 3) (frame pixels; third value visibility or confidence)
    on ``image`` (RGB, already upscaled by ``scale``), in place; returns it."""
    import cv2

    kp = np.asarray(keypoints, np.float64)
    if not np.isfinite(kp[:, :2]).any():
        return image
    show = np.isfinite(kp[:, :2]).all(1) & (kp[:, 2] > (0 if style == "gt" else min_confidence))
    pts = (kp[:, :2] + 0.5) * scale - 0.5
    thick = max(1, int(round(scale / 4)))
    radius = max(2, int(round(scale * 0.45)))
    for a, b in skeleton:
        if a < len(kp) and b < len(kp) and show[a] and show[b]:
            pa = tuple(int(round(v)) for v in pts[a])
            pb = tuple(int(round(v)) for v in pts[b])
            if style == "gt":
                cv2.line(image, pa, pb, GT_COLOUR, max(1, thick // 2), cv2.LINE_AA)
            else:
                colour = _side_colour(names[a]) if names[a][:4] == names[b][:4] else CENTRE
                cv2.line(image, pa, pb, colour, thick + 1, cv2.LINE_AA)
    for j in np.nonzero(show)[0]:
        p = tuple(int(round(v)) for v in pts[j])
        if style == "gt":
            cv2.circle(image, p, radius + 1, GT_COLOUR, max(1, thick // 2), cv2.LINE_AA)
        else:
            cv2.circle(image, p, radius, _side_colour(names[j]), -1, cv2.LINE_AA)
            cv2.circle(image, p, radius, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def draw_box(image: np.ndarray, box: np.ndarray, *, scale: float, style: str = "pred", label: str | None = None) -> np.ndarray:
    """Draw an xywh box (frame pixels) and an optional label ("person 0.93") in place."""
    import cv2

    if not np.isfinite(box).all():
        return image
    x, y, w, h = (np.asarray(box, np.float64) * scale).tolist()
    p0 = (int(round(x)), int(round(y)))
    p1 = (int(round(x + w)), int(round(y + h)))
    colour = GT_COLOUR if style == "gt" else BOX_PRED
    if style == "gt":
        _dashed_rectangle(image, p0, p1, colour)
    else:
        cv2.rectangle(image, p0, p1, colour, 1 + int(scale >= 6), cv2.LINE_AA)
    if label:
        put_label(image, label, (p0[0], max(p0[1] - 4, 12)), colour)
    return image


def _dashed_rectangle(image, p0, p1, colour, dash: int = 6) -> None:
    import cv2

    (x0, y0), (x1, y1) = p0, p1
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = int(np.hypot(b[0] - a[0], b[1] - a[1]))
        for s in range(0, max(length, 1), 2 * dash):
            t0, t1 = s / max(length, 1), min(s + dash, length) / max(length, 1)
            q0 = (int(a[0] + (b[0] - a[0]) * t0), int(a[1] + (b[1] - a[1]) * t0))
            q1 = (int(a[0] + (b[0] - a[0]) * t1), int(a[1] + (b[1] - a[1]) * t1))
            cv2.line(image, q0, q1, colour, 1, cv2.LINE_AA)


def put_label(image: np.ndarray, text: str, origin: tuple[int, int], colour=(255, 255, 255), size: float = 0.45) -> None:
    """Text with a dark outline, readable on any palette."""
    import cv2

    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, size, colour, 1, cv2.LINE_AA)


def colour_bar(height: int, window: tuple[float, float], *, palette: str = "ironbow", unit: str = "°C",
               width: int = 64) -> np.ndarray:
    """A vertical colour bar (height, width, 3) with the window's end and middle values."""
    from thermcli.ops.palette import apply_palette

    bar = np.zeros((height, width, 3), np.uint8) + 24
    ramp = np.linspace(255, 0, max(height - 20, 2)).round().astype(np.uint8)
    strip = apply_palette(np.repeat(ramp[:, None], 14, axis=1), palette)
    bar[10:10 + len(ramp), 4:18] = strip
    lo, hi = window
    label = "C" if unit in ("°C", "celsius") else ("K" if unit == "kelvin" else "")
    for frac, value in ((0.0, hi), (0.5, (lo + hi) / 2), (1.0, lo)):
        y = int(10 + frac * (len(ramp) - 1))
        put_label(bar, f"{value:.1f}{label}", (21, min(max(y + 4, 12), height - 3)), size=0.36)
    return bar


def legend(width: int) -> np.ndarray:
    """A strip explaining the two styles: ground truth (white rings) vs prediction (colour dots)."""
    import cv2

    strip = np.zeros((18, width, 3), np.uint8) + 24
    cv2.circle(strip, (9, 9), 5, GT_COLOUR, 1, cv2.LINE_AA)
    put_label(strip, "ground truth", (18, 13), size=0.38)
    x = 18 + 100
    if x + 90 < width:
        cv2.circle(strip, (x, 9), 5, LEFT, -1, cv2.LINE_AA)
        cv2.circle(strip, (x + 12, 9), 5, RIGHT, -1, cv2.LINE_AA)
        put_label(strip, "prediction", (x + 22, 13), size=0.38)
    return strip


def contact_sheet(images: Sequence[np.ndarray], *, columns: int = 6, gap: int = 4) -> np.ndarray:
    """Tile equally sized RGB images into one sheet (rows of ``columns``)."""
    if not images:
        raise ValueError("no images for a contact sheet")
    h, w = images[0].shape[:2]
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    sheet = np.zeros((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), np.uint8) + 12
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = image
    return sheet
