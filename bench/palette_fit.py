"""How well each palette explains real pseudo-colour frames (../shared/data/thermal-people).

For every palette: invert each frame to intensity, re-apply the palette, and report the mean RGB
distance to the original pixels (0 = the frame is exactly that palette; JPEG noise adds a few
units). Also times invert_palette against a brute-force nearest-entry search (the baseline,
measured in the same run). Run: python bench/palette_fit.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "thermal-people"


def brute_force_invert(rgb: np.ndarray, lut: np.ndarray) -> np.ndarray:
    flat = rgb.reshape(-1, 3).astype(np.int32)
    out = np.empty(len(flat), np.uint8)
    for lo in range(0, len(flat), 4096):
        d = ((flat[lo : lo + 4096, None, :] - lut[None].astype(np.int32)) ** 2).sum(-1)
        out[lo : lo + 4096] = d.argmin(1)
    return out.reshape(rgb.shape[:-1])


def main() -> None:
    import cv2

    from thermcli.ops.palette import apply_palette, invert_palette, palette_lut, palette_names

    files = sorted(DATA.glob("*/images/*.jpg"))
    if not files:
        print(f"no frames under {DATA}; nothing to measure")
        return
    frames = [cv2.imread(str(f))[:, :, ::-1] for f in files[::6]]
    print(f"{len(frames)} frames of {DATA}")
    print(f"{'palette':16s} mean RGB residual")
    for name in palette_names():
        residual = [np.sqrt(((apply_palette(invert_palette(f, name), name).astype(float) - f) ** 2).sum(-1)).mean() for f in frames]
        print(f"{name:16s} {np.mean(residual):6.1f}")
    frame = frames[0]
    start = time.perf_counter()
    fast = invert_palette(frame, "rainbow")
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    slow = brute_force_invert(frame, palette_lut("rainbow"))
    t_slow = time.perf_counter() - start
    lut = palette_lut("rainbow").astype(np.int64)
    dist = lambda v: ((frame.astype(np.int64) - lut[v]) ** 2).sum(-1)  # noqa: E731
    assert np.array_equal(dist(fast), dist(slow)), "KD-tree and brute force disagree on a nearest distance"
    print(f"invert_palette {frame.shape[1]}x{frame.shape[0]}: {t_fast * 1e3:.1f} ms vs brute force {t_slow * 1e3:.1f} ms "
          f"(×{t_slow / t_fast:.1f} faster)")


if __name__ == "__main__":
    main()
