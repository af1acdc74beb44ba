"""Automatic airway ROI from thermal video alone: a respiratory-power map and its tracking.

Exhaled air is warm and inhaled air is cool, so the pixels in the air stream (nostrils, mouth, a
mouthpiece) oscillate in the breathing band. The power map is, per pixel, the root-mean-square
amplitude of the linearly detrended intensity in the band (periodogram with a Hann window). Thin
structures that move with the breathing (a spirometer's tube, the edge of the jaw) also oscillate:
a grey-level morphological opening with a disc (``open_radius_px``) keeps only blobs at least the
airway's size, so the streaks of moving edges are removed before the maximum is taken.

Tracking: the map is computed over sliding windows (``window_s`` every ``step_s``); each window's
maximum is the airway centre at the window's middle; a running median over three windows rejects
single jumps, and per-frame centres are interpolated linearly between the window middles.

Pure NumPy + OpenCV. Frames are (N, H, W) in any unit; coordinates are (x, y) = (column, row)
in thermcli's pixel convention (pixel (c, r) covers [c, c+1) × [r, r+1), centre c + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND = (0.1, 1.0)


def downsample(frames: np.ndarray, scale: int) -> np.ndarray:
    """Block means of ``scale`` × ``scale`` pixels, float32. (N, H, W) → (N, H // s, W // s)."""
    x = np.asarray(frames)
    if scale <= 1:
        return x.astype(np.float32, copy=False)
    n, h, w = x.shape
    hh, ww = h // scale, w // scale
    return x[:, : hh * scale, : ww * scale].reshape(n, hh, scale, ww, scale).mean((2, 4), dtype=np.float32)


def power_map(frames: np.ndarray, fs: float, band: tuple[float, float] = BAND) -> np.ndarray:
    """Per-pixel RMS amplitude in the breathing band of (N, H, W) frames → (H, W) float32.

    Each pixel's series is linearly detrended and Hann windowed; the amplitude is
    sqrt(Σ_{f in band} |X(f)|² · 2 / (N · Σ w²)) — for a pure sine of amplitude A in the band
    this is A / √2 (its RMS), whatever the window length. NaN pixels count as their series' mean.
    """
    x = np.asarray(frames, dtype=np.float64)
    n = x.shape[0]
    if n < 4:
        return np.zeros(x.shape[1:], np.float32)
    mean = np.nanmean(x, axis=0)
    x = np.where(np.isfinite(x), x, mean) - mean
    x = np.nan_to_num(x)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    x = x - t[:, None, None] * (np.tensordot(t, x, axes=1) / float(t @ t))
    w = np.hanning(n)
    spectrum = np.fft.rfft(x * w[:, None, None], axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    power = (np.abs(spectrum[inside]) ** 2).sum(axis=0) * 2.0 / (n * float(w @ w))
    return np.sqrt(power).astype(np.float32)


def airway_score(amplitude: np.ndarray, open_radius_px: float, blur_px: float = 1.0) -> np.ndarray:
    """The power map with structures narrower than a disc of ``open_radius_px`` removed
    (Gaussian blur of σ ``blur_px``, then grey-level opening). (H, W) → (H, W) float32."""
    import cv2

    a = np.asarray(amplitude, dtype=np.float32)
    if blur_px > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur_px)
    r = int(round(open_radius_px))
    if r >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        a = cv2.morphologyEx(a, cv2.MORPH_OPEN, kernel)
    return a


@dataclass(frozen=True)
class AirwayTrack:
    """Per-frame airway centre (x, y) in full-resolution pixels, and per window the middle frame,
    the raw centre and the peak amplitude (the contrast of the map: peak / median)."""

    x: np.ndarray
    y: np.ndarray
    window_mid: np.ndarray
    window_xy: np.ndarray
    window_contrast: np.ndarray


def window_starts(n: int, size: int, step: int) -> list[int]:
    """Starts of windows of ``size`` every ``step`` covering n samples; the last one ends at n."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, step))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def locate_airway(
    frames: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = BAND,
    window_s: float = 20.0,
    step_s: float = 10.0,
    scale: int = 2,
    open_radius_px: float = 6.0,
    smooth: int = 3,
) -> AirwayTrack:
    """Track the airway over (N, H, W) full-resolution frames (see the module's doc).

    ``scale``: block size of the downsampling before the map (speed); ``open_radius_px``: the
    opening disc in full-resolution pixels; ``smooth``: the running median's length in windows.
    """
    small = frames if scale <= 1 else downsample(frames, scale)
    return locate_airway_small(small, fs, scale=scale, band=band, window_s=window_s, step_s=step_s,
                               open_radius_px=open_radius_px, smooth=smooth)


def locate_airway_small(
    small: np.ndarray,
    fs: float,
    *,
    scale: int,
    band: tuple[float, float] = BAND,
    window_s: float = 20.0,
    step_s: float = 10.0,
    open_radius_px: float = 6.0,
    smooth: int = 3,
) -> AirwayTrack:
    """``locate_airway`` on frames already downsampled by ``scale`` (see ``downsample``)."""
    n = small.shape[0]
    size = max(4, int(round(window_s * fs)))
    step = max(1, int(round(step_s * fs)))
    mids, xy, contrast = [], [], []
    for lo in window_starts(n, size, step):
        seg = small[lo : lo + size]
        score = airway_score(power_map(seg, fs, band), open_radius_px / scale)
        r, c = np.unravel_index(int(np.argmax(score)), score.shape)
        mids.append(lo + (len(seg) - 1) / 2)
        xy.append(((c + 0.5) * scale, (r + 0.5) * scale))
        med = float(np.median(score))
        contrast.append(float(score[r, c]) / med if med > 0 else float("inf"))
    xy_arr = np.asarray(xy, dtype=np.float64)
    smoothed = running_median(xy_arr, smooth)
    mid = np.asarray(mids, dtype=np.float64)
    frames_idx = np.arange(n, dtype=np.float64)
    x = np.interp(frames_idx, mid, smoothed[:, 0])
    y = np.interp(frames_idx, mid, smoothed[:, 1])
    return AirwayTrack(x=x, y=y, window_mid=mid, window_xy=xy_arr, window_contrast=np.asarray(contrast))


def running_median(values: np.ndarray, size: int) -> np.ndarray:
    """Centred running median along axis 0 with shrinking windows at the ends. (N, ...) → (N, ...)."""
    v = np.asarray(values, dtype=np.float64)
    if size <= 1 or len(v) < 2:
        return v.copy()
    half = size // 2
    return np.stack([np.median(v[max(0, i - half) : i + half + 1], axis=0) for i in range(len(v))])
