"""Build an INH/EXH dataset from the real breathing-spirometry recordings.

    python examples/breathing-spirometry/make_phase_dataset.py [DATA_DIR] [OUT.h5]

DATA_DIR (default ../shared/data/breathing-spirometry) holds NNvid.mp4 (320×240, 20 fps, 8-bit
thermal video of a face breathing through a spirometer mouthpiece) and NNdata.txt (one row per
frame: flow, volume, position_x, position_y, radius, average; ``$$``-prefixed values, a ``++``
header). Each segment NN becomes one sequence (and subject id, for the split).

Labels, from the flow signal (min-max normalised per segment, so its zero is not stored):
- zero level = the mode of the segment's flow histogram (bins of 0.005) inside 0.38–0.42, the band
  where the data's README places the pauses between breaths. The unrestricted mode is not used:
  segments 05–09 breathe without pauses, their histograms are bimodal (≈ 0.25 inhaling, ≈ 0.65
  exhaling) and the global mode lands on a breathing plateau;
- flow > zero + 0.02 → EXH (1), flow < zero − 0.02 → INH (0), in between → pause, label −1
  (excluded from training and metrics, as on the synthetic data); rows with NaN flow → −1.

Frames: an 80×80 crop centred on the segment's median ROI (``position_x/y``, beside the nostrils;
its radius is 8 px; the crop also takes in the nose and the mouthpiece), resized to 40×40 (area interpolation), kept as 8-bit intensity (the video is display
intensity, not °C). Columns: flow, zero_level, average (the ROI mean the dataset provides).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CROP, SIZE, BAND, FPS = 80, 40, 0.02, 20.0


def read_table(path: Path) -> np.ndarray:
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("++"):
            continue
        rows.append([float(v.replace("$$", "")) for v in line.split()])
    return np.array(rows, dtype=np.float64)


def zero_level(flow: np.ndarray) -> float:
    f = flow[np.isfinite(flow)]
    hist, edges = np.histogram(f, bins=np.arange(0.38, 0.42001, 0.005))
    i = int(hist.argmax())
    return float((edges[i] + edges[i + 1]) / 2)


def read_video(path: Path) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    if not frames:
        raise SystemExit(f"{path}: no frames could be read")
    return np.stack(frames)


def segment(video: Path, table: Path):
    import cv2

    frames = read_video(video)
    signals = read_table(table)
    n = min(len(frames), len(signals))
    frames, signals = frames[:n], signals[:n]
    flow = signals[:, 0]
    z = zero_level(flow)
    labels = np.full(n, -1, np.int64)
    labels[flow > z + BAND] = 1
    labels[flow < z - BAND] = 0
    cx = int(round(np.nanmedian(signals[:, 2])))
    cy = int(round(np.nanmedian(signals[:, 3])))
    h, w = frames.shape[1:]
    x0 = int(np.clip(cx - CROP // 2, 0, w - CROP))
    y0 = int(np.clip(cy - CROP // 2, 0, h - CROP))
    crops = np.stack([cv2.resize(f[y0 : y0 + CROP, x0 : x0 + CROP], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                      for f in frames]).astype(np.uint8)
    return crops, labels, flow.astype(np.float32), z, signals[:, 5].astype(np.float32), (x0, y0)


def main(argv: list[str]) -> None:
    from thermcli.io import Dataset, Meta, make_provenance, write_dataset

    repo = Path(__file__).resolve().parents[2]
    data = Path(argv[0]) if argv else repo.parent / "shared" / "data" / "breathing-spirometry"
    out = Path(argv[1]) if len(argv) > 1 else Path("breathing-spirometry-phase.h5")
    parts = []
    inputs = []
    for video in sorted(data.glob("[0-9][0-9]vid.mp4")):
        seg = video.name[:2]
        table = data / f"{seg}data.txt"
        crops, labels, flow, z, average, origin = segment(video, table)
        inputs += [video, table]
        n = len(crops)
        parts.append(Dataset(
            frames=crops, meta=Meta(unit="intensity"), labels=labels,
            subject=np.array([seg] * n, dtype=object), sequence=np.array([seg] * n, dtype=object),
            timestamp=np.arange(n, dtype=np.float64) / FPS,
            columns={"flow": flow, "zero_level": np.full(n, z, np.float32), "average": average},
        ))
        counts = {name: int((labels == k).sum()) for k, name in ((0, "INH"), (1, "EXH"), (-1, "pause"))}
        print(f"segment {seg}: {n} frames, zero level {z:.3f}, crop at {origin}, {counts}", file=sys.stderr)
    if not parts:
        raise SystemExit(f"{data}: no NNvid.mp4 files")
    dataset = Dataset.concat(parts)
    dataset.meta = Meta(
        unit="intensity", modality="thermal", class_names=["INH", "EXH"],
        attrs={"source": "breathing-spirometry", "fps": FPS, "crop": CROP, "size": SIZE, "pause_band": BAND,
               "pause_label": -1},
        provenance=make_provenance("examples/breathing-spirometry/make_phase_dataset.py",
                                   {"crop": CROP, "size": SIZE, "band": BAND}, inputs=inputs),
    )
    write_dataset(out, dataset, force=True)
    print(f"wrote {out}: {len(dataset)} frames", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
