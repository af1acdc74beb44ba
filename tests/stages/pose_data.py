"""A tiny learnable keypoint dataset for tests: warm stick figures on 80×60 thermal frames plus
paired RGB frames at twice the size, several subjects."""

from __future__ import annotations

import numpy as np

# a standing person, COCO-17 joint positions in a unit box (x right, y down)
TEMPLATE = np.array([
    [0.50, 0.08], [0.54, 0.06], [0.46, 0.06], [0.58, 0.08], [0.42, 0.08],
    [0.68, 0.22], [0.32, 0.22], [0.76, 0.38], [0.24, 0.38], [0.80, 0.52], [0.20, 0.52],
    [0.62, 0.52], [0.38, 0.52], [0.64, 0.74], [0.36, 0.74], [0.66, 0.95], [0.34, 0.95],
])


def make_pose_dataset(n=24, *, seed=0, subjects=3, rgb=True, people=1):
    import cv2

    from thermcli.io import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON, Dataset, Meta

    rng = np.random.default_rng(seed)
    h, w = 60, 80
    frames = np.full((n, h, w), 22.0, np.float32) + rng.normal(0, 0.2, (n, h, w)).astype(np.float32)
    rgb_frames = np.zeros((n, 2 * h, 2 * w, 3), np.uint8) + 60
    keypoints = np.zeros((n, people, 17, 3), np.float32)
    boxes = np.full((n, people, 4), np.nan, np.float32)
    for i in range(n):
        for p in range(people):
            bw, bh = rng.uniform(14, 22), rng.uniform(36, 50)
            x0 = rng.uniform(2, w - bw - 2) if people == 1 else (p * w / people + 2)
            y0 = rng.uniform(2, h - bh - 2)
            pts = TEMPLATE * [bw, bh] + [x0, y0]
            pts[7:11] += rng.normal(0, 2.0, (4, 2))  # arms move
            keypoints[i, p, :, :2] = pts
            keypoints[i, p, :, 2] = 2
            boxes[i, p] = [x0, y0, bw, bh]
            for a, b in COCO_SKELETON:
                pa, pb = pts[a], pts[b]
                cv2.line(frames[i], tuple(int(v) for v in pa), tuple(int(v) for v in pb), 34.0, 2)
                cv2.line(rgb_frames[i], tuple(int(2 * v) for v in pa), tuple(int(2 * v) for v in pb),
                         (200, 150, 100), 3)
            cv2.circle(frames[i], tuple(int(v) for v in pts[0]), 3, 35.0, -1)
            cv2.circle(rgb_frames[i], tuple(int(2 * v) for v in pts[0]), 6, (220, 180, 160), -1)
    meta = Meta(unit="celsius", modality="thermal", keypoint_names=list(COCO_KEYPOINT_NAMES),
                skeleton=[list(e) for e in COCO_SKELETON], sigmas=list(COCO_SIGMAS),
                flip_pairs=[list(p) for p in COCO_FLIP_PAIRS])
    return Dataset(frames=frames, meta=meta, rgb=rgb_frames if rgb else None, keypoints=keypoints, boxes=boxes,
                   subject=np.array([f"s{i % subjects}" for i in range(n)], dtype=object),
                   timestamp=np.arange(n, dtype=np.float64) / 9)
