"""Hand-built Timed-Up-and-Go keypoint tracks with known phase boundaries (for the tug tests)."""

from __future__ import annotations

import math

import numpy as np

PHASES = ["sit", "stand_up", "walk_out", "turn", "walk_back", "turn_and_sit"]
# boundaries (s): start of stand_up, walk_out, turn, walk_back, turn_and_sit, end (back in the chair)
BOUNDS = (1.0, 2.6, 4.8, 6.2, 8.4, 11.0)
DURATION = 12.2


def _ease(s):
    s = np.clip(s, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * s)  # a cosine ease, not the analysis's own minimum-jerk shape


def track(fps: float = 10.0, *, bounds=BOUNDS, duration: float = DURATION, reverse: bool = False, seed: int = 0,
          stands: bool = True, t0: float = 100.0, step_hz: float = 0.9):
    """(timestamps, keypoints (N, 17, 3), phase labels (N,)) of one subject: chair at x = 20, a
    thigh of 15 px turning about the knee, 40 px walked out and back, ankles on the floor (y = 70)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration, 1.0 / fps) + rng.normal(0, 0.002, int(math.ceil(duration * fps)))[: len(np.arange(0.0, duration, 1.0 / fps))]
    b0, b1, b2, b3, b4, b5 = bounds
    thigh, walk = 15.0, 40.0
    sit_start = b4 + 0.45 * (b5 - b4)
    theta = np.where(t < b1, 0.5 * np.pi * _ease((t - b0) / (b1 - b0)), 0.5 * np.pi)
    theta = np.where(t >= sit_start, 0.5 * np.pi * (1 - _ease((t - sit_start) / (b5 - sit_start))), theta)
    if not stands:
        theta = np.zeros_like(t)
    stand_x = 20.0 + thigh
    x = 20.0 + thigh * (1 - np.cos(theta))
    x = np.where((t >= b1) & (t < b2), stand_x + walk * (t - b1) / (b2 - b1), x)
    x = np.where((t >= b2) & (t < b3), stand_x + walk, x)
    x = np.where((t >= b3) & (t < b4), stand_x + walk * (1 - (t - b3) / (b4 - b3)), x)
    x = np.where((t >= b4) & (t < sit_start), stand_x, x)
    if not stands:
        x = np.full_like(t, 20.0)
    y = 40.0 - thigh * np.sin(theta)
    walking = ((t >= b1) & (t < b2)) | ((t >= b3) & (t < b4))
    swing = np.where(walking, 6.0 * np.sin(2 * np.pi * step_hz * t), 0.0)
    kp = np.zeros((len(t), 17, 3))
    kp[..., 2] = 2
    for j in range(17):  # face and arms near the shoulders
        kp[:, j, 0], kp[:, j, 1] = x, y - 28
    kp[:, 5, :2] = np.stack([x - 4, y - 25], 1)
    kp[:, 6, :2] = np.stack([x + 4, y - 25], 1)
    kp[:, 11, :2] = np.stack([x - 3, y], 1)
    kp[:, 12, :2] = np.stack([x + 3, y], 1)
    kp[:, 13, :2] = np.stack([x + thigh * np.cos(theta), np.full_like(t, 55.0)], 1)
    kp[:, 14, :2] = kp[:, 13, :2]
    kp[:, 15, :2] = np.stack([x + thigh * np.cos(theta) + swing, np.full_like(t, 70.0)], 1)
    kp[:, 16, :2] = np.stack([x + thigh * np.cos(theta) - swing, np.full_like(t, 70.0)], 1)
    kp[:, :, 1] += rng.normal(0, 0.05, kp[:, :, 1].shape)
    if reverse:
        kp[:, :, 0] = 200.0 - kp[:, :, 0]
    edges = [b0, b1, b2, b3, b4, b5]
    phase = np.searchsorted(edges, t, side="right")
    labels = np.array([PHASES[p] if p < 6 else "sit" for p in phase], dtype=object)
    if not stands:
        labels[:] = "sit"
    return t0 + t, kp.astype(np.float32), labels


def dataset(sequences: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]):
    """A keypoints Dataset of several hand-built sequences (name, t, keypoints, labels)."""
    from thermcli.io import COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON, Dataset, Meta

    t = np.concatenate([s[1] for s in sequences])
    kp = np.concatenate([s[2] for s in sequences])[:, None]
    labels = np.concatenate([[PHASES.index(v) for v in s[3]] for s in sequences]).astype(np.int64)
    names = np.concatenate([[s[0]] * len(s[1]) for s in sequences]).astype(object)
    n = len(t)
    meta = Meta(unit="celsius", modality="thermal", class_names=list(PHASES), keypoint_names=list(COCO_KEYPOINT_NAMES),
                sigmas=list(COCO_SIGMAS), skeleton=[list(e) for e in COCO_SKELETON])
    return Dataset(frames=np.full((n, 8, 8), 22.0, np.float32), meta=meta, labels=labels, keypoints=kp,
                   boxes=np.tile(np.array([[[0, 0, 8, 8]]], np.float32), (n, 1, 1)), subject=names.copy(),
                   sequence=names, timestamp=t)
