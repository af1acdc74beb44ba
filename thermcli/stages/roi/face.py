"""``roi --anchor face``: regions anchored on a face detector's box, tracked over the frames.

A face model (``train --task detect`` on face boxes) runs once over the dataset; per frame the
highest-scoring face at or above ``min_score`` is kept, the boxes are smoothed and held over
short misses (:func:`thermcli.ops.face_regions.track_boxes`, restarted at each recording), and
the sub-regions (forehead, periorbital left/right, nose, mouth:
:data:`thermcli.ops.face_regions.FACE_REGIONS`) follow the tracked box. ``run_roi`` then treats
them as boxes whose corners are per-frame columns (``face_box[0]`` …), so every statistic,
summary, smoothing and breathing option of ``roi`` applies to them unchanged.

The per-frame face columns written to the series: ``face_x``, ``face_y``, ``face_w``,
``face_h`` (tracked box, NaN when lost), ``face_score`` (the detection's score, NaN when none),
``face_held`` (1 where the last box was held over a miss) and ``face_lost`` (1 where no box).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops.face_regions import FACE_REGIONS, face_subregions, pick_face, track_boxes
from thermcli.stages.roi.config import Region

FACE_ANCHOR = "face"
FACE_REGION_NAMES = ("face", *FACE_REGIONS)


@dataclass(frozen=True)
class FaceTracking:
    model: Path
    min_score: float = 0.5
    hold: int = 5
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.min_score <= 1:
            raise UsageError(f"{self.min_score}: a score threshold lies in 0..1", param="--face-score")
        if self.hold < 0:
            raise UsageError(f"{self.hold}: frames to hold must be ≥ 0", param="--face-hold")
        if not 0 < self.alpha <= 1:
            raise UsageError(f"{self.alpha}: the smoothing weight lies in (0, 1] (1 = none)", param="--face-smooth")


def face_regions() -> list[Region]:
    """The face box and its sub-regions as ``roi`` box regions on per-frame columns."""
    return [Region(name=name, kind="box", values=tuple(f"face_{name}[{k}]" for k in range(4)))
            for name in FACE_REGION_NAMES]


def detect_faces(model_path: str | Path, source: str | Path, *, device: str = "auto", batch_size: int = 32
                 ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list, dict[str, Any]]:
    """Run the face model over every frame: per frame (boxes xywh, scores) of the first class,
    the recording id of each frame, and the model's config."""
    import torch

    from thermcli.device import resolve_device
    from thermcli.io import open_dataset
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.models.detection import frames_to_images
    from thermcli.stages.train_detect import detect

    model, config, _ = load_checkpoint(model_path, expect_task="detect")
    if config.get("task") != "detect":
        raise DataError("is not a detection model (train --task detect)", path=str(model_path))
    dev = resolve_device(device)
    model.to(dev)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    recordings: list = []
    with open_dataset(source) as reader, torch.no_grad():
        for batch in reader.iter_batches(batch_size):
            images = frames_to_images(np.asarray(batch.frames), reader.meta.unit)
            for boxes, scores, classes in detect(model, images, device=dev, batch_size=batch_size):
                keep = classes == 0
                out.append((boxes[keep], scores[keep]))
            ids = batch.sequence if batch.sequence is not None else batch.subject
            recordings.extend(list(np.asarray(ids).astype(str)) if ids is not None else [""] * len(batch))
    return out, recordings, config


def face_columns(detections, recordings, tracking: FaceTracking) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-frame columns for ``run_roi`` (``face_REGION`` (N, 4) boxes and the 1-D series
    columns) and counts (detected, held, lost frames)."""
    n = len(detections)
    picked = np.full((n, 4), np.nan)
    score = np.full(n, np.nan)
    for i, (boxes, scores) in enumerate(detections):
        picked[i] = pick_face(boxes, scores, tracking.min_score)
        if np.isfinite(picked[i]).all():
            score[i] = float(np.max(scores[scores >= tracking.min_score]))
    tracked, held, lost = track_boxes(picked, alpha=tracking.alpha, hold=tracking.hold, recordings=recordings)
    columns: dict[str, np.ndarray] = {"face_face": tracked}
    for name, boxes in face_subregions(tracked).items():
        columns[f"face_{name}"] = boxes
    for k, axis in enumerate("xywh"):
        columns[f"face_{axis}"] = tracked[:, k]
    columns["face_score"] = score
    columns["face_held"] = held.astype(np.int64)
    columns["face_lost"] = lost.astype(np.int64)
    counts = {"frames": n, "detected": int(np.isfinite(score).sum()), "held": int(held.sum()),
              "lost": int(lost.sum())}
    return columns, counts


def face_anchor_columns(source: str | Path, tracking: FaceTracking, *, device: str = "auto", batch_size: int = 32
                        ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Detect, track and place the face regions over ``source``: (columns, counts)."""
    detections, recordings, _ = detect_faces(tracking.model, source, device=device, batch_size=batch_size)
    return face_columns(detections, recordings, tracking)
