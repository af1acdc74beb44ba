"""Build an INH/EXH dataset from the real breathing-spirometry recordings.

    python examples/breathing-spirometry/make_phase_dataset.py [DATA_DIR] [OUT.h5] [--crop PX] [--background none|median]

DATA_DIR (default ../shared/data/breathing-spirometry) holds NNvid.mp4 (320×240, 20 fps, 8-bit
thermal video of a face breathing through a spirometer mouthpiece) and NNdata.txt (one row per
frame: flow, volume, position_x, position_y, radius, average). Both are read with
``thermcli.io.spirometry.read_segment``, which also gives the labels. Each segment NN becomes one
sequence (and subject id, for the split).

Labels, from the flow signal (min-max normalised per segment, so its zero is not stored):
- zero level = the mode of the segment's flow histogram (bins of 0.005) inside 0.38–0.42, the band
  where the data's README places the pauses between breaths. The unrestricted mode is not used:
  segments 05–09 breathe without pauses, their histograms are bimodal (≈ 0.25 inhaling, ≈ 0.65
  exhaling) and the global mode lands on a breathing plateau;
- flow > zero + 0.02 → EXH (1), flow < zero − 0.02 → INH (0), in between → pause, label −1
  (excluded from training and metrics, as on the synthetic data); rows with NaN flow → −1.

Frames: a CROP×CROP crop (default 80) centred on the segment's median ROI — the mouthpiece, where
the air flows — resized to 40×40 (area interpolation), kept as 8-bit intensity (the video is
display intensity, not °C). Pitfall: in NNdata.txt ``position_x`` is the ROI centre's **row** and
``position_y`` its **column** (see thermcli/io/spirometry.py); read the other way round, the crop
sat on the cheek beside the nose. Frames whose ROI is lost (radius 0) do not vote for the median.
Columns: flow, zero_level, average (the ROI mean the dataset provides), roi_cx/roi_cy/roi_r.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CROP, SIZE, FPS = 80, 40, 20.0


def crop_origin(roi_cx: np.ndarray, roi_cy: np.ndarray, frame_shape: tuple[int, int], crop: int = CROP) -> tuple[int, int]:
    """Top-left (x0, y0) of a crop×crop window centred on the median ROI centre (thermcli pixel
    coordinates, NaN where lost), clipped to the frame. Its centre pixel is (x0 + crop // 2,
    y0 + crop // 2) = (median column index, median row index) unless clipped."""
    h, w = frame_shape
    col = int(round(float(np.nanmedian(roi_cx)) - 0.5))
    row = int(round(float(np.nanmedian(roi_cy)) - 0.5))
    x0 = int(np.clip(col - crop // 2, 0, w - crop))
    y0 = int(np.clip(row - crop // 2, 0, h - crop))
    return x0, y0


def subtract_background(frames: np.ndarray) -> np.ndarray:
    """Each pixel minus its median over the segment, stored as 128 + difference (rounded, clipped
    to 0..255): the segment's still image — face, mouthpiece, the camera's gain and offset — goes,
    the warming and cooling of the air stream stays. Offline: the median sees the whole segment."""
    f = frames.astype(np.float32)
    return np.clip(np.rint(f - np.median(f, axis=0) + 128.0), 0, 255).astype(np.uint8)


def segment(data: Path, name: str, crop: int = CROP, background: str = "none"):
    """One segment as a Dataset of SIZE×SIZE crops around its mouth ROI, and the crop origin."""
    import cv2

    from thermcli.io.spirometry import read_segment

    ds = read_segment(data, name)
    x0, y0 = crop_origin(ds.columns["roi_cx"], ds.columns["roi_cy"], ds.frames.shape[1:], crop)
    ds.frames = np.stack([cv2.resize(f[y0 : y0 + crop, x0 : x0 + crop], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                          for f in ds.frames]).astype(np.uint8)
    if background == "median":
        ds.frames = subtract_background(ds.frames)
    ds.subject = np.array([name] * len(ds.frames), dtype=object)
    keep = ("flow", "zero_level", "average", "roi_cx", "roi_cy", "roi_r")
    ds.columns = {k: np.asarray(v, np.float32) for k, v in ds.columns.items() if k in keep}
    return ds, (x0, y0)


def main(argv: list[str]) -> None:
    import argparse

    from thermcli.io import Dataset, Meta, make_provenance, write_dataset
    from thermcli.io.spirometry import PAUSE_BAND, PAUSE_MARGIN, segments

    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description="INH/EXH crops around the mouth ROI of the breathing-spirometry data")
    parser.add_argument("data", nargs="?", type=Path, default=repo.parent / "shared" / "data" / "breathing-spirometry")
    parser.add_argument("out", nargs="?", type=Path, default=Path("breathing-spirometry-phase.h5"))
    parser.add_argument("--crop", type=int, default=CROP, help=f"side of the square cut around the ROI, px (default {CROP})")
    parser.add_argument("--background", choices=("none", "median"), default="none",
                        help="median: subtract each pixel's median over its segment (see subtract_background)")
    args = parser.parse_args(argv)
    names = segments(args.data) if args.data.is_dir() else []
    if not names:
        raise SystemExit(f"{args.data}: no NNvid.mp4 + NNdata.txt pairs")
    parts, inputs = [], []
    for name in names:
        ds, origin = segment(args.data, name, args.crop, args.background)
        parts.append(ds)
        inputs += [args.data / f"{name}vid.mp4", args.data / f"{name}data.txt"]
        counts = {c: int((ds.labels == k).sum()) for k, c in ((0, "INH"), (1, "EXH"), (-1, "pause"))}
        print(f"segment {name}: {len(ds)} frames, zero level {ds.columns['zero_level'][0]:.3f}, "
              f"crop at (x0, y0) = {origin}, {counts}", file=sys.stderr)
    dataset = Dataset.concat(parts)
    options = {"crop": args.crop, "background": args.background, "size": SIZE, "band": PAUSE_MARGIN, "zero_within": list(PAUSE_BAND)}
    dataset.meta = Meta(
        unit="intensity", modality="thermal", class_names=["INH", "EXH"],
        attrs={"source": "breathing-spirometry", "fps": FPS, "crop": args.crop, "background": args.background, "size": SIZE, "pause_band": PAUSE_MARGIN,
               "pause_label": -1, "crop_centre": "median ROI: column = position_y, row = position_x"},
        provenance=make_provenance("examples/breathing-spirometry/make_phase_dataset.py", options, inputs=inputs),
    )
    write_dataset(args.out, dataset, force=True)
    print(f"wrote {args.out}: {len(dataset)} frames", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
