"""Pair the tug sample's thermal and RGB streams without `thermcli align` (a stand-in for it):
match captures by sequence + columns/frame_index, warp each RGB frame into the thermal pixel grid
(at ``--upscale``× the thermal resolution) with the stored homography, keep the thermal labels.

    python examples/keypoints/pair_tug.py sample_data/tug pairs.h5 [--upscale 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> None:
    import cv2

    from thermcli.io import Dataset, make_provenance, read_dataset, write_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--upscale", type=int, default=2)
    args = parser.parse_args(argv)
    thermal = read_dataset(args.folder / "thermal.h5")
    rgb = read_dataset(args.folder / "rgb.h5")
    homography = np.array(json.loads((args.folder / "homography.json").read_text())["matrix"], np.float64)
    k = args.upscale
    scale = np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2], [0, 0, 1]], np.float64)  # pixel centres kept
    warp = scale @ homography
    h, w = thermal.frames.shape[1:3]
    key_rgb = {(s, int(f)): i for i, (s, f) in enumerate(zip(rgb.sequence, rgb.columns["frame_index"]))}
    rows, partners = [], []
    for i, (s, f) in enumerate(zip(thermal.sequence, thermal.columns["frame_index"])):
        j = key_rgb.get((s, int(f)))
        if j is not None:
            rows.append(i)
            partners.append(j)
    pairs = thermal.take(np.array(rows))
    warped = np.stack([cv2.warpPerspective(rgb.frames[j], warp, (w * k, h * k), flags=cv2.INTER_LINEAR) for j in partners])
    meta = pairs.meta.copy(provenance=make_provenance("examples/keypoints/pair_tug.py", vars(args),
                                                      inputs=[args.folder / "thermal.h5", args.folder / "rgb.h5"]))
    meta.attrs = {**meta.attrs, "paired_by": "sequence + frame_index", "rgb_upscale": k}
    write_dataset(args.out, Dataset(**{**pairs.__dict__, "rgb": warped, "meta": meta}), force=True)
    print(f"wrote {args.out}: {len(rows)} pairs")


if __name__ == "__main__":
    main()
