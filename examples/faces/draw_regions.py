"""Draw the tracked face box and its sub-regions (from ``roi --anchor face``'s series.csv) on the
frames they were measured on: a contact sheet PNG.

    python draw_regions.py FRAMES.h5 SERIES.csv OUT.png [--frames 8] [--scale 3]
"""

from __future__ import annotations

import argparse
import csv

import cv2
import numpy as np

from thermcli.io import read_dataset
from thermcli.ops.face_regions import face_subregions

COLOURS = {"face": (255, 255, 255), "forehead": (0, 200, 255), "periorbital_left": (0, 255, 0),
           "periorbital_right": (0, 255, 0), "nose": (255, 80, 0), "mouth": (255, 0, 255)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames")
    parser.add_argument("series")
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=8, dest="count")
    parser.add_argument("--scale", type=int, default=3)
    a = parser.parse_args()
    ds = read_dataset(a.frames)
    rows = list(csv.DictReader(open(a.series, newline="")))
    faces = np.array([[float(r[f"face_{k}"]) for k in "xywh"] for r in rows])
    found = np.flatnonzero(np.isfinite(faces).all(1))
    if not len(found):
        print(f"warning: {a.series}: no frame has a face box (the frames are drawn without regions)")
        found = np.arange(len(rows))
    picks = found[np.linspace(0, len(found) - 1, min(a.count, len(found))).round().astype(int)]
    tiles = []
    for i in picks:
        frame = np.asarray(ds.frames[i], np.float32)
        lo, hi = np.percentile(frame, [1, 99])
        grey = np.clip((frame - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        tile = cv2.applyColorMap(cv2.resize(grey, None, fx=a.scale, fy=a.scale, interpolation=cv2.INTER_NEAREST),
                                 cv2.COLORMAP_INFERNO)
        boxes = {"face": faces[i], **{k: v[0] for k, v in face_subregions(faces[i:i + 1]).items()}}
        for name, (x, y, w, h) in boxes.items():
            if not np.isfinite([x, y, w, h]).all():
                continue
            p0 = (int(round(x * a.scale)), int(round(y * a.scale)))
            p1 = (int(round((x + w) * a.scale)), int(round((y + h) * a.scale)))
            cv2.rectangle(tile, p0, p1, COLOURS[name][::-1], 1)
        held = " held" if rows[i].get("face_held") == "1" else (" lost" if rows[i].get("face_lost") == "1" else "")
        cv2.putText(tile, f"frame {i}{held}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % 4:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[k:k + 4]) for k in range(0, len(tiles), 4)])
    cv2.imwrite(a.out, sheet)
    print(f"wrote {a.out} ({len(picks)} frames)")


if __name__ == "__main__":
    main()
