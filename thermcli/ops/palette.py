"""Pseudo-colour palettes: scalar 8-bit intensity ↔ RGB, and temperature windows.

A palette is a ``(256, 3)`` uint8 RGB look-up table (LUT): entry ``v`` is the colour of intensity
``v``. ``apply_palette`` maps intensities to colours; ``invert_palette`` maps colours back to the
intensity of the nearest LUT entry (Euclidean in RGB), so JPEG-compressed pseudo-colour frames
come back to a scalar image. The result is a *relative* intensity, never a temperature: the
camera's colour scale (its min/max °C) is not in the pixels.

>>> import numpy as np
>>> values = np.arange(256, dtype=np.uint8).reshape(16, 16)
>>> rgb = apply_palette(values, "ironbow")
>>> rgb.shape, rgb.dtype.name
((16, 16, 3), 'uint8')
>>> bool((invert_palette(rgb, "ironbow") == values).all())
True
"""

from __future__ import annotations

import functools

import numpy as np

from thermcli.errors import UsageError

# Ironbow (FLIR's "iron"): black → indigo → magenta → orange → yellow → white. Control points
# chosen so every one of the 256 entries is a distinct colour (the inverse is exact).
_IRONBOW_STOPS = [
    (0.00, (0, 0, 10)),
    (0.10, (32, 0, 110)),
    (0.25, (120, 0, 150)),
    (0.40, (190, 25, 130)),
    (0.55, (230, 80, 50)),
    (0.70, (250, 140, 0)),
    (0.85, (255, 205, 40)),
    (1.00, (255, 255, 245)),
]

# OpenCV colour maps offered by name (all built by cv2.applyColorMap on a 0..255 ramp).
_OPENCV_MAPS = {
    "rainbow": "COLORMAP_RAINBOW",
    "jet": "COLORMAP_JET",
    "turbo": "COLORMAP_TURBO",
    "inferno": "COLORMAP_INFERNO",
    "magma": "COLORMAP_MAGMA",
    "plasma": "COLORMAP_PLASMA",
    "hot": "COLORMAP_HOT",
    "bone": "COLORMAP_BONE",
    "viridis": "COLORMAP_VIRIDIS",
}

PALETTES = ("white-hot", "black-hot", "ironbow", *_OPENCV_MAPS)


def palette_names() -> list[str]:
    """Every palette name ``apply_palette`` and ``invert_palette`` accept."""
    return list(PALETTES)


def _check_name(name: str, param: str) -> None:
    if name not in PALETTES:
        import difflib

        close = difflib.get_close_matches(name, PALETTES, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; choose from {', '.join(PALETTES)}"
        raise UsageError(f"unknown palette {name!r}{hint}", param=param)


def _ironbow() -> np.ndarray:
    stops = np.array([s for s, _ in _IRONBOW_STOPS])
    colours = np.array([c for _, c in _IRONBOW_STOPS], dtype=np.float64)
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, stops, colours[:, k]) for k in range(3)], axis=1)
    return np.rint(lut).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def _lut(name: str) -> np.ndarray:
    if name == "white-hot":
        ramp = np.arange(256, dtype=np.uint8)
        lut = np.stack([ramp] * 3, axis=1)
    elif name == "black-hot":
        ramp = np.arange(255, -1, -1, dtype=np.uint8)
        lut = np.stack([ramp] * 3, axis=1)
    elif name == "ironbow":
        lut = _ironbow()
    else:
        import cv2

        ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
        lut = cv2.applyColorMap(ramp, getattr(cv2, _OPENCV_MAPS[name]))[:, 0, ::-1]  # BGR → RGB
    lut = np.ascontiguousarray(lut, dtype=np.uint8)
    lut.setflags(write=False)
    return lut


def palette_lut(name: str, *, param: str = "--palette") -> np.ndarray:
    """The ``(256, 3)`` uint8 RGB LUT of palette ``name`` (read-only)."""
    _check_name(name, param)
    return _lut(name)


def is_invertible(name: str) -> bool:
    """True when the palette's 256 colours are distinct, so ``invert(apply(x)) == x`` exactly."""
    return len(np.unique(palette_lut(name), axis=0)) == 256


def apply_palette(values: np.ndarray, name: str, *, param: str = "--palette") -> np.ndarray:
    """Colour 8-bit intensities with a palette.

    values: ``(...)`` uint8 (e.g. ``(H, W)`` or ``(N, H, W)``). Returns ``(..., 3)`` uint8 RGB.
    """
    values = np.asarray(values)
    if values.dtype != np.uint8:
        raise TypeError(f"apply_palette needs uint8 values, got {values.dtype}")
    return palette_lut(name, param=param)[values]


@functools.lru_cache(maxsize=None)
def _tree(name: str):
    from scipy.spatial import cKDTree

    lut = _lut(name).astype(np.float64)
    # Duplicate colours (some OpenCV maps repeat an entry) map to the lowest intensity holding
    # them: keep only the first occurrence so ties resolve the same way on every machine.
    _, first = np.unique(lut, axis=0, return_index=True)
    first = np.sort(first)
    return cKDTree(lut[first]), first.astype(np.uint8)


def invert_palette(rgb: np.ndarray, name: str, *, param: str = "--palette") -> np.ndarray:
    """Pseudo-colour RGB back to the 8-bit intensity of the nearest palette entry.

    rgb: ``(..., 3)`` uint8 RGB. Returns ``(...)`` uint8, a relative intensity (not °C).
    Distinct colours are looked up once (a frame holds far fewer colours than pixels), each with
    a KD-tree query over the LUT.
    """
    _check_name(name, param)
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"invert_palette needs (..., 3) RGB, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    codes = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    unique, inverse = np.unique(codes, return_inverse=True)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.float64)
    tree, intensities = _tree(name)
    _, index = tree.query(colours)
    return intensities[index][inverse.reshape(-1)].reshape(rgb.shape[:-1])


def window_to_uint8(frames: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map temperatures in the window ``[lo, hi]`` linearly to 0..255 (clipped; NaN → 0).

    frames: float array in the dataset's unit (e.g. °C). Returns uint8 of the same shape.
    """
    if not hi > lo:
        raise ValueError(f"window needs lo < hi, got {lo}:{hi}")
    values = np.asarray(frames, dtype=np.float64)
    scaled = (values - lo) * (255.0 / (hi - lo))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


def uint8_to_window(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The inverse of ``window_to_uint8`` (to the window's 1/255 resolution): uint8 → float32."""
    return (lo + np.asarray(values, dtype=np.float64) * ((hi - lo) / 255.0)).astype(np.float32)
