"""``thermcli predict MODEL DATA OUT``: dispatch on the model's task to ``predict_<task>.py``.

A task's module defines ``predict(source, data_path, *, device, batch_size, provenance) -> Dataset``
(``classify`` here; ``keypoints`` comes with the keypoint task).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from thermcli.errors import DataError


def model_task(source: Path) -> str:
    """The task a model file was trained for (checkpoint config, or an ensemble's config)."""
    from thermcli.stages.ensemble import is_ensemble

    if is_ensemble(source):
        return "classify"
    from thermcli.models.checkpoint import read_checkpoint

    if Path(source).is_dir():
        raise DataError("a folder is not a model: give its best.pt (or ensemble.skops)", path=str(source))
    return str(read_checkpoint(source)["config"].get("task") or "classify")


def task_module(task: str):
    try:
        return importlib.import_module(f"thermcli.stages.predict_{task}")
    except ModuleNotFoundError:
        raise DataError(f"no predictor for task {task!r} in this thermcli") from None


def run_predict(source: Path, data_path: Path, out: Path, *, device: str, batch_size: int, force: bool,
                options: dict[str, Any]) -> dict[str, Any]:
    from thermcli.device import resolve_device
    from thermcli.io import make_provenance, write_dataset

    task = model_task(source)
    provenance = make_provenance("thermcli predict", options, inputs=[source, data_path])
    module = task_module(task)
    if hasattr(module, "write_predictions") and _streamable(source):  # flat memory in N
        frames = module.write_predictions(source, data_path, out, device=resolve_device(device), batch_size=batch_size,
                                          provenance=provenance, force=force)
        return {"task": task, "frames": frames, "out": str(out)}
    predictions = module.predict(source, data_path, device=resolve_device(device), batch_size=batch_size,
                                 provenance=provenance)
    write_dataset(out, predictions, force=force)
    return {"task": task, "frames": len(predictions), "out": str(out)}


def _streamable(source: Path) -> bool:
    from thermcli.stages.ensemble import is_ensemble

    return not is_ensemble(source)
