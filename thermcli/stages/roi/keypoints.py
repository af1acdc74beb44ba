"""``roi``'s one boundary to the keypoint models: a keypoint predictor for ``run_roi`` from a
thermcli keypoint checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.roi.config import KeypointPredictor


# The keypoint pipeline's inference (issue 7): "module:function", called as
# function(model_path, data_path, device=..., batch_size=...) → (keypoints (N, P, K, 3) in frame
# pixels, scores, people, model config) — a top-down model run on the dataset's person boxes.
KEYPOINT_INFERENCE = "thermcli.stages.predict_keypoints:predict_arrays"


def model_keypoint_predictor(
    model_path: str | Path, data_path: str | Path, *, device: str = "auto", batch_size: int = 64
) -> tuple[KeypointPredictor, list[str]]:
    """A keypoint predictor for ``run_roi`` from a thermcli keypoint checkpoint, and its names.

    The one boundary between ``roi`` and the keypoint models: the model runs once over the
    dataset through ``KEYPOINT_INFERENCE`` (streamed by the keypoint pipeline; the result is
    N × P × K × 3 floats), and the predictor hands ``run_roi`` each batch's rows. A build without
    the keypoint pipeline fails here with a one-line error.
    """
    import importlib

    from thermcli.device import resolve_device
    from thermcli.io import COCO_KEYPOINT_NAMES, open_dataset

    module_name, function_name = KEYPOINT_INFERENCE.split(":")
    try:
        infer = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError):
        raise UsageError(
            f"keypoint model inference ({KEYPOINT_INFERENCE}) is not part of this build; use keypoints stored in the dataset",
            param="--model",
        ) from None
    keypoints, _, _, model_config = infer(Path(model_path), Path(data_path), device=resolve_device(device), batch_size=batch_size)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    with open_dataset(data_path) as reader:
        n, dataset_names = reader.n, reader.meta.keypoint_names
    if keypoints.ndim != 4 or keypoints.shape[0] != n:
        raise DataError(f"the keypoint model returned shape {keypoints.shape} for {n} frames", path=str(model_path))
    names = list((model_config or {}).get("keypoint_names") or dataset_names or COCO_KEYPOINT_NAMES)

    def predict(batch, start: int) -> np.ndarray:
        return keypoints[start : start + len(batch)]

    return predict, names
