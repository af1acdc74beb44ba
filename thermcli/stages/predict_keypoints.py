"""Predictions of a top-down keypoint model on a dataset: each person box is cropped, run through
the model (flip test on), decoded with sub-pixel accuracy and mapped back to frame pixels.

The output keeps the frames, boxes and ids; ``keypoints`` are the predictions (x, y, heatmap
peak), ``scores`` the person scores (mean peak), and ``columns/true_keypoints`` the labels when
the dataset had them, so ``thermcli eval OUT DATA --metric oks`` and ``thermcli annotate`` work
without the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.stages import keypoints_data as KD


def predict_arrays(source: Path, data_path: Path, *, device, batch_size: int = 64, flip_test: bool = True):
    """(keypoints (N, P, K, 3), scores (N, P), people, config) of ``source`` on ``data_path``."""
    from thermcli.models.checkpoint import load_checkpoint

    model, config, _ = load_checkpoint(source, expect_task="keypoints")
    people = KD.load_people(data_path, side="frames", need_keypoints=False)
    model.to(device)
    flip_pairs = config.get("flip_pairs") or KD.keypoint_meta(people.meta)["flip_pairs"]
    kp, scores = KD.predict_people(model, people, input_size=tuple(config["input_size"]), batch_size=batch_size,
                                   flip_test=flip_test, flip_pairs=flip_pairs, in_chans=KD.model_input_chans(config),
                                   device=device)
    if people.keypoints is not None and kp.shape[1:] != people.keypoints.shape[1:]:
        from thermcli.errors import DataError

        raise DataError(f"the model predicts {kp.shape[1]} keypoints, the dataset has {people.keypoints.shape[1]}",
                        path=str(data_path))
    frame_kp, frame_scores = KD.to_frame_arrays(people, kp, scores)
    return frame_kp, frame_scores, people, config


def predict(source: Path, data_path: Path, *, device, batch_size: int, provenance: dict[str, Any]):
    from thermcli.io import read_dataset

    kp, scores, people, config = predict_arrays(source, data_path, device=device, batch_size=min(batch_size, 128))
    ds = read_dataset(data_path)
    columns = dict(ds.columns)
    if ds.keypoints is not None:
        columns["true_keypoints"] = ds.keypoints.astype(np.float32)
    meta = ds.meta.copy(
        keypoint_names=config.get("keypoint_names") or ds.meta.keypoint_names,
        skeleton=config.get("skeleton") or ds.meta.skeleton,
        sigmas=config.get("sigmas") or ds.meta.sigmas,
        flip_pairs=config.get("flip_pairs") or ds.meta.flip_pairs,
        attrs={**ds.meta.attrs, "predictions": {"task": "keypoints", "model": str(source),
                                                "encoder": config.get("model_kwargs", {}).get("encoder")}},
        provenance=provenance,
    )
    boxes = ds.boxes if ds.boxes is not None else np.full(kp.shape[:2] + (4,), np.nan, np.float32)
    return ds.replace(meta=meta, keypoints=kp.astype(np.float32), scores=scores.astype(np.float32),
                      boxes=boxes.astype(np.float32), columns=columns)
