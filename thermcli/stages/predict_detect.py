"""Predictions of a detector (``train --task detect``) on a dataset: per frame ``boxes`` (x, y, w, h,
NaN-padded), ``scores`` and ``box_classes`` (the model's class list in ``box_class_names``). The
output keeps the frames and ids, and the true boxes as ``columns/true_boxes`` /
``columns/true_box_classes``, so ``thermcli eval OUT DATA --metric bbox`` and ``annotate`` work
without the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def predict(source: Path, data_path: Path, *, device, batch_size: int, provenance: dict[str, Any]):
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.train_detect import detect, load_detection_data, to_frame_arrays

    model, config, _ = load_checkpoint(source, expect_task="detect")
    model.to(device)
    ds, images, _ = load_detection_data(data_path, need_boxes=False)
    boxes, scores, classes = to_frame_arrays(detect(model, images, device=device, batch_size=min(batch_size, 32)))
    columns = dict(ds.columns)
    if ds.boxes is not None:
        columns["true_boxes"] = np.asarray(ds.boxes, np.float32)
        if ds.box_classes is not None:
            columns["true_box_classes"] = np.asarray(ds.box_classes, np.int32)
    meta = ds.meta.copy(box_class_names=list(config.get("box_class_names") or []),
                        attrs={**ds.meta.attrs, "predictions": {"task": "detect", "model": str(source),
                                                                "arch": config.get("model_kwargs", {}).get("arch")}},
                        provenance=provenance)
    keypoints = None  # the frames' people are the detections now: the labels' keypoints do not index them
    return ds.replace(meta=meta, boxes=boxes, scores=scores, box_classes=classes, keypoints=keypoints,
                      columns=columns)


class BoxDetector:
    """A detect checkpoint as a box source (``align --boxes MODEL.pt``): loaded once, then
    ``boxes(frames, unit)`` → per frame the (x, y, w, h) boxes (float64) of one class (``person``
    when the model has it, else every class) scoring at least ``min_score``."""

    def __init__(self, path: str | Path, *, min_score: float = 0.5, device="cpu", class_name: str = "person"):
        from thermcli.models.checkpoint import load_checkpoint

        self.model, self.config, _ = load_checkpoint(path, expect_task="detect")
        if self.config.get("task") != "detect":
            from thermcli.errors import DataError

            raise DataError(f"is a {self.config.get('task') or 'untyped'} checkpoint, not a detect model "
                            "(train --task detect)", path=str(path))
        self.model.to(device)
        self.device, self.min_score = device, float(min_score)
        names = list(self.config.get("box_class_names") or [])
        self.class_index = names.index(class_name) if class_name in names else None

    def boxes(self, frames: np.ndarray, unit: str) -> list[np.ndarray]:
        from thermcli.models.detection import frames_to_images
        from thermcli.stages.train_detect import detect

        out = []
        for b, s, c in detect(self.model, frames_to_images(frames, unit), device=self.device):
            keep = s >= self.min_score
            if self.class_index is not None:
                keep &= c == self.class_index
            order = np.argsort(-s[keep], kind="stable")
            out.append(b[keep][order].astype(np.float64))
        return out
