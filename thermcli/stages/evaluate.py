"""``thermcli eval SOURCE DATA``: metrics of a model (or of saved predictions) against ground truth.

SOURCE is a model (``.pt`` checkpoint, ``.skops`` ensemble) — run on DATA first — or a predictions
dataset written by ``thermcli predict`` (no model needed). DATA holds the ground truth. Metrics are
grouped in families (``thermcli.metrics``, plus the COCO families ``oks`` and ``bbox`` of
:mod:`thermcli.stages.evaluate_coco`): each requested name is routed to its family's
``evaluate(context, names)``; ``--fail-under KEY=VALUE`` gates on the results (exit 3). JSON
inputs are read once (:meth:`EvalContext.read_json`): the provenance takes their digest from the
bytes that were parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, GateFailed, UsageError
from thermcli.io.jsonable import jsonable  # noqa: F401 (the CLI's report sanitiser, re-exported)


@dataclass
class EvalContext:
    """What a metric family may ask for; everything is computed lazily and once."""

    source: Path
    data: Path | None
    device_name: str = "auto"
    batch_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)
    json_files: dict[Path, Any] = field(default_factory=dict)

    def read_json(self, path: Path, what: str):
        """``path`` read and parsed once (:func:`thermcli.io.coco.read_json`), cached by path."""
        from thermcli.io.coco import read_json

        key = Path(path).resolve()
        if key not in self.json_files:
            self.json_files[key] = read_json(path, what)
        return self.json_files[key]

    @cached_property
    def is_model(self) -> bool:
        from thermcli.stages.ensemble import is_ensemble

        return self.source.suffix.lower() in (".pt", ".pth") or is_ensemble(self.source)

    def device(self):
        from thermcli.device import resolve_device

        return resolve_device(self.device_name)

    @cached_property
    def task(self) -> str | None:
        if self.is_model:
            from thermcli.stages.predict import model_task

            return model_task(self.source)
        return (self.predictions.meta.attrs.get("predictions") or {}).get("task")

    @cached_property
    def predictions(self):
        """The predictions as a Dataset (the model run on DATA, or SOURCE read as predictions)."""
        if self.is_model:
            if self.data is None:
                raise UsageError("a model needs DATA to evaluate on", param="DATA")
            from thermcli.stages.predict import task_module

            return task_module(self.task).predict(self.source, self.data, device=self.device(),
                                                  batch_size=max(self.batch_size, 256), provenance={})
        predictions = read_without_frames(self.source)
        if not isinstance(predictions.meta.attrs.get("predictions"), dict):
            # ground truth scored as its own predictions is a perfect score: a gate that passes
            raise DataError("is neither a model (.pt/.pth checkpoint, .skops ensemble) nor a predictions dataset "
                            "written by `thermcli predict` (no predictions record in its attributes)",
                            path=str(self.source))
        return predictions

    @cached_property
    def ground_truth(self):
        if self.data is None:
            raise UsageError("give DATA with the ground truth", param="DATA")
        return read_without_frames(self.data)

    def classification_arrays(self):
        """(y_true, y_pred, y_score or None, class_names) aligned frame by frame: (N,) class
        indices for multi-class ground truth, (N, L) 0/1 for multi-label.

        Without DATA, a predictions dataset's own ``columns/true_labels`` (written by ``predict``
        when its input had labels) is the ground truth.
        """
        pred = self.predictions
        if self.data is None and not self.is_model and "true_labels" in pred.columns:
            score = pred.columns.get("probabilities")
            names = list(pred.meta.class_names or [])
            truth_labels = np.asarray(pred.columns["true_labels"])
            if truth_labels.ndim == 1:
                truth_labels = truth_labels.astype(np.int64)
            _check_shapes(truth_labels, pred.labels, self.source)
            return truth_labels, pred.labels, score, names
        truth = self.ground_truth
        if truth.labels is None:
            raise DataError("has no labels: nothing to compare the predictions with", path=str(self.data))
        if pred.labels is None:
            raise DataError("holds no predicted labels", path=str(self.source))
        if len(pred) != len(truth):
            raise DataError(f"{len(pred)} predictions for {len(truth)} ground-truth frames", path=str(self.source))
        _check_shapes(truth.labels, pred.labels, self.source)
        names = list(pred.meta.class_names or truth.meta.class_names or [])
        if truth.meta.class_names and names and list(truth.meta.class_names) != names:
            raise DataError(f"classes {truth.meta.class_names} differ from the model's {names}", path=str(self.data))
        if not names:
            if truth.labels.ndim == 2:
                names = [str(i) for i in range(truth.labels.shape[1])]
            else:
                names = [str(i) for i in range(int(max(truth.labels.max(), pred.labels.max())) + 1)]
        score = pred.columns.get("probabilities")
        return truth.labels, pred.labels, score, names

    def model_for_cost(self):
        """(model in eval mode, one sample's input shape (C, H, W)) for cost measurements."""
        if not self.is_model or self.source.suffix.lower() not in (".pt", ".pth"):
            raise UsageError("--metric cost needs a .pt model as SOURCE", param="--metric")
        from thermcli.models.checkpoint import load_checkpoint, recorded_input_shape

        model, config, _ = load_checkpoint(self.source)
        shape = recorded_input_shape(config)
        if shape is None and self.data is not None:
            from thermcli.io import open_dataset

            with open_dataset(self.data) as reader:
                shape = recorded_input_shape(config, reader.frame_shape)
        if shape is None:
            raise UsageError("the model does not record its input size; give DATA", param="DATA")
        return model.eval(), shape


def read_without_frames(path: Path):
    """A dataset as eval needs it: every per-frame field and column, read block by block, and in
    place of the frames (no metric reads a pixel) a zero-memory read-only array of their shape, so
    memory stays flat in the number of frames."""
    from thermcli import interrupt
    from thermcli.io import Dataset, open_dataset

    with open_dataset(path) as reader:
        n = len(reader)
        row_bytes = int(np.prod(reader.frame_shape)) * np.dtype(getattr(reader, "frame_dtype", np.float32)).itemsize
        step = max(1, (32 << 20) // max(row_bytes, 1))
        parts = []
        for lo in range(0, n, step):
            interrupt.check()
            batch = reader.read(lo, min(lo + step, n))
            shape, dtype = batch.frames.shape[1:], batch.frames.dtype
            parts.append(batch.replace(frames=batch.frames[(slice(None),) + (slice(0, 1),) * len(shape)].copy()))
    whole = Dataset.concat(parts) if len(parts) > 1 else parts[0]
    return whole.replace(frames=np.broadcast_to(np.zeros((1, *shape), dtype), (n, *shape)))


def _check_shapes(truth: np.ndarray, pred: np.ndarray, source: Path) -> None:
    """Multi-label ground truth needs (N, L) multi-label predictions of the same L, and vice versa."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.ndim == 2 and pred.ndim != 2:
        raise DataError("predicts one class a frame, but the ground truth is multi-label (N, L)", path=str(source))
    if truth.ndim == 1 and pred.ndim == 2:
        raise DataError("predicts multi-label (N, L) labels, but the ground truth is one class a frame", path=str(source))
    if truth.ndim == 2 and truth.shape[1] != pred.shape[1]:
        raise DataError(f"predicts {pred.shape[1]} labels, the ground truth has {truth.shape[1]}", path=str(source))


def parse_gates(text: str | None) -> list[tuple[str, float]]:
    """``f1=0.9,recall.EXH=0.8`` → [("f1", 0.9), ("recall.EXH", 0.8)]."""
    if not text:
        return []
    gates = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([A-Za-z_][\w.\-]*)\s*=\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*", part)
        if not match:
            raise UsageError(f"{part.strip()!r}: expected METRIC=VALUE, e.g. f1=0.9", param="--fail-under")
        gates.append((match.group(1), float(match.group(2))))
    return gates


def families() -> dict[str, Any]:
    """Metric families by name: the modules of ``thermcli.metrics`` and the COCO families."""
    from thermcli.metrics import families as metric_families
    from thermcli.stages.evaluate_coco import FAMILIES

    return {**metric_families(), **FAMILIES}


def metric_index() -> dict[str, str]:
    """metric name → family name, over :func:`families` (the COCO families included)."""
    from thermcli.metrics import metric_index as index_of

    return index_of(families())


def resolve_metrics(names: list[str]) -> dict[str, list[str]]:
    """Requested metric names grouped by family; unknown names suggest close ones."""
    import difflib

    index = metric_index()
    grouped: dict[str, list[str]] = {}
    for name in names:
        if name not in index:
            close = difflib.get_close_matches(name, list(index), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(index))}"
            raise UsageError(f"unknown metric {name!r}{hint}", param="--metric")
        grouped.setdefault(index[name], []).append(name)
    return grouped


def gate_lookup(results: dict[str, Any], key: str) -> float | None:
    for family, result in results.items():
        module = families()[family]
        getter = getattr(module, "gate_value", None)
        if getter is not None:
            value = getter(result, key)
        else:
            value = result.get(key) if isinstance(result.get(key), (int, float)) else None
        if value is not None:
            return float(value)
    return None


def run_eval(source: Path, data: Path | None, *, metrics: list[str], fail_under: str | None, device: str,
             batch_size: int, options: dict[str, Any]) -> dict[str, Any]:
    """Metrics by family, the gates' outcomes; raises GateFailed (exit 3) after computing all."""
    gates = parse_gates(fail_under)
    grouped = resolve_metrics(metrics)
    if options.get("sigmas") and "oks" not in grouped:
        raise UsageError("--sigmas applies to --metric oks only", param="--sigmas")
    if options.get("area_ranges") and not {"oks", "bbox"} & set(grouped):
        raise UsageError("--area-ranges applies to --metric oks or bbox only", param="--area-ranges")
    if not source.exists():
        raise DataError("no such file or folder", path=str(source))
    context = EvalContext(source=source, data=data, device_name=device, batch_size=batch_size, options=options)
    results = {family: families()[family].evaluate(context, names) for family, names in grouped.items()}
    outcomes = []
    for key, threshold in gates:
        value = gate_lookup(results, key)
        if value is None:
            raise UsageError(f"{key!r} is not among the computed metrics", param="--fail-under")
        outcomes.append({"metric": key, "value": value, "threshold": threshold, "passed": value >= threshold})
    inputs = [source] + ([data] if data else [])
    report = {"source": str(source), "data": str(data) if data else None, "metrics": results, "gates": outcomes,
              "provenance": _provenance(options, inputs, context)}
    return report


def _provenance(options: dict[str, Any], inputs: list[Path], context: EvalContext) -> dict[str, Any]:
    """``make_provenance`` of the inputs, except that a JSON file the metrics already read is not
    read again: its record takes the digest of the parsed bytes and its own ``provenance`` key."""
    from thermcli.io import make_provenance

    prov = make_provenance("thermcli eval", options, inputs=[])
    records = []
    for item in inputs:
        cached = context.json_files.get(Path(item).resolve())
        if cached is None:
            records.extend(make_provenance("thermcli eval", {}, inputs=[item])["inputs"])
            continue
        record: dict[str, Any] = {"path": str(Path(item).resolve()), "sha256": cached.sha256}
        parent = cached.value.get("provenance") if isinstance(cached.value, dict) else None
        if parent:
            record["provenance"] = parent
        records.append(record)
    prov["inputs"] = records
    return prov


def failed_gates(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in report["gates"] if not g["passed"]]


def gate_error(report: dict[str, Any]) -> GateFailed:
    failed = failed_gates(report)
    text = ", ".join(f"{g['metric']} {g['value']:.4f} < {g['threshold']:g}" for g in failed)
    return GateFailed(f"quality gate failed: {text}")
