"""Thermal-aware augmentation: parameters are sampled first (one record per output row, from a
generator derived from the seed and the row), then applied deterministically. Pure
NumPy/OpenCV, no torch.

Geometry (one affine matrix per row, in continuous pixel coordinates — pixel (i, j) covers
[j, j+1) × [i, i+1), the convention of COCO keypoints and xywh boxes):

    M = Crop · Translate · (Rotate·Scale about the centre) · Flip

The frame is warped with it (``cv2.warpAffine``, bilinear), keypoints and boxes are transformed
with the same matrix, a paired RGB frame with the same matrix scaled to its own size. A flip
swaps left/right keypoints by the dataset's flip pairs; keypoints that leave the frame get
visibility 0 (their coordinates are kept); a box becomes the bounding box of its four
transformed corners, clipped to the frame (a NaN row when nothing is left).

Photometric, in the frame's unit, in this order: gain and offset (°C/K: ``T·gain + offset``
about 0 °C, the drift of emissivity/ambient settings; counts: ``v·gain + offset``; 8-bit:
contrast about 128 and brightness), white-hot ↔ black-hot inversion (``min + max − v``; 8-bit
``255 − v``), Gaussian blur, down-then-up sampling (a low-resolution sensor), fixed-pattern
row/column noise and Gaussian sensor noise (σ in the frame's unit; the CLI takes mK).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

KELVIN_OFFSET = 273.15
BORDERS = ("reflect", "replicate", "constant")


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random parameters, every value in the frame's unit (fully resolved; stored
    in the output's attrs). A probability of 0 or a range of one value turns an op off."""

    rotate: float = 10.0  # max |angle| in degrees
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.05  # max |shift| as a fraction of the width/height
    flip: float = 0.5  # probability of a horizontal flip
    crop: float = 1.0  # smallest crop side as a fraction of the frame (1 = no crop)
    offset: float = 1.0  # max |offset| (°C/K/counts; brightness in grey levels for 8-bit)
    gain: tuple[float, float] = (0.95, 1.05)  # gain range (contrast for 8-bit)
    invert: float = 0.0  # probability of white-hot ↔ black-hot inversion
    blur: float = 0.0  # probability of a Gaussian blur ...
    blur_sigma: tuple[float, float] = (0.5, 1.5)  # ... with σ (pixels) in this range
    lowres: float = 0.0  # probability of down-then-up sampling ...
    lowres_factor: tuple[float, float] = (2.0, 4.0)  # ... by a factor in this range
    fpn: float = 0.0  # max σ of the fixed-pattern row and column offsets
    noise: float = 0.0  # max σ of the per-pixel Gaussian noise
    border: str = "reflect"  # how the warp fills pixels from outside the frame

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AugmentParams:
    """The parameters of one output row (stored as ``columns/aug_<name>``)."""

    angle: float = 0.0
    scale: float = 1.0
    tx: float = 0.0  # fractions of width / height
    ty: float = 0.0
    flip: int = 0
    crop: float = 1.0  # crop side fraction
    crop_u: float = 0.5  # crop position (0 = left/top, 1 = right/bottom)
    crop_v: float = 0.5
    gain: float = 1.0
    offset: float = 0.0
    invert: int = 0
    blur: float = 0.0  # σ in pixels, 0 = none
    lowres: float = 1.0  # factor, 1 = none
    fpn_row: float = 0.0
    fpn_col: float = 0.0
    noise: float = 0.0
    noise_seed: int = 0  # seeds the noise realisation so that a replay draws the same noise

    def is_geometric_identity(self) -> bool:
        return (self.angle, self.scale, self.tx, self.ty, self.flip, self.crop) == (0.0, 1.0, 0.0, 0.0, 0, 1.0)


PARAM_NAMES = tuple(f.name for f in dataclasses.fields(AugmentParams))
INT_PARAMS = ("flip", "invert", "noise_seed")
IDENTITY = AugmentParams()


def row_rng(seed: int, row: int, copy: int) -> np.random.Generator:
    """The generator of one output row: derived from (seed, input row, copy) only, so the same
    seed gives the same parameters whatever the batch size, worker count or shard."""
    return np.random.default_rng([int(seed), int(row), int(copy)])


def sample_params(rng: np.random.Generator, config: AugmentConfig) -> AugmentParams:
    """Draw one row's parameters. Every value is drawn, in a fixed order, whether or not its op
    is on, so turning one op on or off leaves the others' draws unchanged."""
    u = rng.random(17)
    pick = lambda x, lo, hi: float(lo + (hi - lo) * x)  # noqa: E731
    flip = int(u[4] < config.flip)
    blur_on = u[11] < config.blur
    lowres_on = u[13] < config.lowres
    return AugmentParams(
        angle=pick(u[0], -config.rotate, config.rotate),
        scale=pick(u[1], *config.scale),
        tx=pick(u[2], -config.translate, config.translate),
        ty=pick(u[3], -config.translate, config.translate),
        flip=flip,
        crop=pick(u[5], config.crop, 1.0),
        crop_u=float(u[6]),
        crop_v=float(u[7]),
        gain=pick(u[8], *config.gain),
        offset=pick(u[9], -config.offset, config.offset),
        invert=int(u[10] < config.invert),
        blur=pick(u[12], *config.blur_sigma) if blur_on else 0.0,
        lowres=pick(u[14], *config.lowres_factor) if lowres_on else 1.0,
        fpn_row=pick(u[15], 0.0, config.fpn),
        fpn_col=pick(u[16], 0.0, config.fpn),
        noise=pick(rng.random(), 0.0, config.noise),
        noise_seed=int(rng.integers(0, 2**62)),
    )


def params_to_columns(rows: Sequence[AugmentParams]) -> dict[str, np.ndarray]:
    """Records → ``{aug_<name>: (M,) array}`` (int64 for flags and seeds, float64 otherwise)."""
    return {
        f"aug_{name}": np.array([getattr(p, name) for p in rows], np.int64 if name in INT_PARAMS else np.float64)
        for name in PARAM_NAMES
    }


def params_from_columns(columns: dict[str, np.ndarray], index: int) -> AugmentParams:
    values = {}
    for name in PARAM_NAMES:
        value = columns[f"aug_{name}"][index]
        values[name] = int(value) if name in INT_PARAMS else float(value)
    return AugmentParams(**values)


def affine_matrix(params: AugmentParams, width: int, height: int) -> np.ndarray:
    """The 3×3 forward matrix of one row in continuous pixel coordinates."""
    w, h = float(width), float(height)
    flip = np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if params.flip else np.eye(3)
    theta = np.deg2rad(params.angle)
    c, s = np.cos(theta) * params.scale, np.sin(theta) * params.scale
    cx, cy = w / 2, h / 2
    # rotate (counter-clockwise on screen, as cv2.getRotationMatrix2D) and scale about the centre
    rot = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, params.tx * w], [0.0, 1.0, params.ty * h], [0.0, 0.0, 1.0]])
    f = params.crop
    x0, y0 = params.crop_u * (1 - f) * w, params.crop_v * (1 - f) * h
    crop = np.array([[1 / f, 0.0, -x0 / f], [0.0, 1 / f, -y0 / f], [0.0, 0.0, 1.0]])
    return crop @ shift @ rot @ flip


def _cv2_matrix(matrix: np.ndarray) -> np.ndarray:
    """Continuous-coordinate matrix → OpenCV's pixel-index one (pixel centres at integers)."""
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    minus = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return (minus @ matrix @ half)[:2]


def warp(image: np.ndarray, matrix: np.ndarray, border: str = "reflect") -> np.ndarray:
    """Warp (H, W[, C]) with a continuous-coordinate 3×3 matrix; the output has the input's size."""
    import cv2

    h, w = image.shape[:2]
    mode = {"reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}[border]
    value = float("nan") if image.dtype.kind == "f" else 0
    return cv2.warpAffine(
        image, _cv2_matrix(matrix), (w, h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=(value,) * 4
    )


def transform_keypoints(
    keypoints: np.ndarray, matrix: np.ndarray, width: int, height: int, *, flip: bool, flip_pairs: Sequence[Sequence[int]] | None
) -> np.ndarray:
    """(P, K, 3) x, y, visibility → transformed copy. A flip swaps each (left, right) pair;
    keypoints outside [0, W) × [0, H) afterwards get visibility 0."""
    out = keypoints.astype(np.float32, copy=True)
    xy = keypoints[..., :2].astype(np.float64)
    moved = xy @ matrix[:2, :2].T + matrix[:2, 2]
    out[..., :2] = moved
    if flip and flip_pairs:
        left = [int(a) for a, _ in flip_pairs]
        right = [int(b) for _, b in flip_pairs]
        out[:, left + right] = out[:, right + left]
    x, y = out[..., 0], out[..., 1]
    outside = ~((x >= 0) & (x < width) & (y >= 0) & (y < height))
    out[..., 2][outside] = 0
    return out


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """(P, 4) x, y, w, h → the bounding boxes of the transformed corners, clipped to the frame;
    NaN rows (no person) stay NaN, and so does a box with nothing left inside the frame."""
    out = np.full(boxes.shape, np.nan, np.float32)
    for p, (x, y, w, h) in enumerate(boxes.astype(np.float64)):
        if not np.all(np.isfinite((x, y, w, h))):
            continue
        corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])
        moved = corners @ matrix[:2, :2].T + matrix[:2, 2]
        x0, y0 = np.clip(moved.min(axis=0), 0, (width, height))
        x1, y1 = np.clip(moved.max(axis=0), 0, (width, height))
        if x1 > x0 and y1 > y0:
            out[p] = (x0, y0, x1 - x0, y1 - y0)
    return out


def photometric(frame: np.ndarray, params: AugmentParams, unit: str) -> np.ndarray:
    """Apply the photometric part to one (H, W[, C]) frame; returns the frame's dtype."""
    ops_on = (
        params.gain != 1.0 or params.offset != 0.0 or params.invert or params.blur > 0
        or params.lowres != 1.0 or params.fpn_row > 0 or params.fpn_col > 0 or params.noise > 0
    )
    if not ops_on:
        return frame
    import cv2

    work = frame.astype(np.float32, copy=True)
    if params.gain != 1.0 or params.offset != 0.0:
        pivot = {"kelvin": KELVIN_OFFSET, "intensity": 128.0}.get(unit, 0.0)
        work = (work - np.float32(pivot)) * np.float32(params.gain) + np.float32(pivot + params.offset)
    if params.invert:
        if unit == "intensity":
            work = np.float32(255.0) - work
        else:
            finite = work[np.isfinite(work)]
            work = np.float32(finite.min() + finite.max()) - work
    if params.blur > 0:
        work = cv2.GaussianBlur(work, (0, 0), params.blur)
    if params.lowres != 1.0:
        h, w = work.shape[:2]
        small = cv2.resize(work, (max(1, round(w / params.lowres)), max(1, round(h / params.lowres))), interpolation=cv2.INTER_AREA)
        work = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if work.ndim < frame.ndim:
            work = work[..., None]
    if params.fpn_row > 0 or params.fpn_col > 0 or params.noise > 0:
        rng = np.random.default_rng(params.noise_seed)
        h, w = work.shape[:2]
        pattern = rng.standard_normal(h, dtype=np.float32)[:, None] * np.float32(params.fpn_row)
        pattern = pattern + rng.standard_normal(w, dtype=np.float32)[None, :] * np.float32(params.fpn_col)
        if work.ndim == 3:
            pattern = pattern[..., None]
        noise = rng.standard_normal(work.shape, dtype=np.float32)
        noise *= np.float32(params.noise)
        work += pattern
        work += noise
    if frame.dtype.kind == "f":
        return work.astype(frame.dtype, copy=False)
    info = np.iinfo(frame.dtype)
    np.rint(work, out=work)
    np.clip(work, info.min, info.max, out=work)
    return work.astype(frame.dtype)


def augment_sample(
    frame: np.ndarray,
    keypoints: np.ndarray | None,
    boxes: np.ndarray | None,
    params: AugmentParams,
    flip_pairs: Sequence[Sequence[int]] | None = None,
    *,
    unit: str = "celsius",
    border: str = "reflect",
    rgb: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Apply one row's parameters to one sample; inputs are never modified.

    frame: (H, W) or (H, W, C) in its unit (float32 °C/K with NaN = masked, uint16, uint8);
    keypoints: (P, K, 3) or None; boxes: (P, 4) xywh or None; rgb: (h, w, 3) uint8 paired frame.
    Returns (frame, keypoints, boxes, rgb), the frame in its input dtype.
    """
    height, width = frame.shape[:2]
    if params.is_geometric_identity():
        out = frame
        kp = None if keypoints is None else keypoints.copy()
        bx = None if boxes is None else boxes.copy()
        rgb_out = None if rgb is None else rgb.copy()
    else:
        matrix = affine_matrix(params, width, height)
        out = warp(frame, matrix, border)
        if out.ndim < frame.ndim:  # cv2 drops a trailing channel of 1
            out = out[..., None]
        kp = None if keypoints is None else transform_keypoints(
            keypoints, matrix, width, height, flip=bool(params.flip), flip_pairs=flip_pairs
        )
        bx = None if boxes is None else transform_boxes(boxes, matrix, width, height)
        rgb_out = None
        if rgb is not None:
            rh, rw = rgb.shape[:2]
            to_rgb = np.diag([rw / width, rh / height, 1.0])
            rgb_matrix = to_rgb @ matrix @ np.linalg.inv(to_rgb)
            rgb_out = warp(rgb, rgb_matrix, "constant" if border == "constant" else border)
    out = photometric(out, params, unit)
    if out is frame:
        out = frame.copy()
    return out, kp, bx, rgb_out
