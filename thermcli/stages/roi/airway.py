"""``roi --region auto-airway``: the airway ROI found from the video alone (``thermcli.ops.airway``),
tracked over the recording and used as a disc per frame."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from thermcli.errors import DataError
from thermcli.stages.roi.config import Region

AUTO_AIRWAY = "auto-airway"
SCALE = 2  # the power map is computed on 2 × 2 block means (speed); centres are in full-resolution px


def auto_airway_region(radius: float) -> Region:
    """The region ``airway``: a disc of ``radius`` px at the tracked airway centre."""
    return Region(name="airway", kind=AUTO_AIRWAY, size=float(radius))


def airway_tracks(reader, regions: Sequence[Region], times: np.ndarray, batch_size: int, where: str) -> dict[str, np.ndarray]:
    """(N, 2) centres (x, y) per ``auto-airway`` region, from one pass over the frames."""
    from thermcli.ops.airway import downsample, locate_airway_small

    auto = [r for r in regions if r.kind == AUTO_AIRWAY]
    if not auto:
        return {}
    steps = np.diff(np.asarray(times, dtype=np.float64))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if not len(steps):
        raise DataError("needs frame times (timestamps or --fps) to find the airway", path=where)
    fs = 1.0 / float(np.median(steps))
    small = []
    for batch in reader.iter_batches(batch_size):
        frames = np.asarray(batch.frames, dtype=np.float32)
        if frames.ndim == 4:
            frames = frames[..., 0]
        small.append(downsample(frames, SCALE))
    stack = np.concatenate(small)
    if len(stack) < 4 * fs:
        raise DataError(f"holds {len(stack)} frames: finding the airway needs several breaths (at least 4 s)", path=where)
    window = min(20.0, len(stack) / fs)
    out = {}
    for r in auto:  # the opening disc is the ROI's own size: smaller oscillating structures are not the airway
        track = locate_airway_small(stack, fs, scale=SCALE, window_s=window, step_s=min(10.0, window / 2), open_radius_px=r.size)
        out[r.name] = np.stack([track.x, track.y], axis=1)
    return out
