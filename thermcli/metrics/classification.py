"""Classification metrics, identical to scikit-learn's on the same predictions (tested).

Inputs: ``y_true`` (N,) int64 class indices (−1 = unlabelled: skipped), ``y_pred`` (N,) int64,
``y_score`` (N, C) float class probabilities (for ROC AUC). Per class and macro / weighted averages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FAMILY = "classification"
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion", "roc_auc")
DEFAULT = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion", "roc_auc")
GATES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted (sklearn's layout)."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    keep = (y_true >= 0) & (y_true < n_classes) & (y_pred >= 0) & (y_pred < n_classes)
    return np.bincount(y_true[keep] * n_classes + y_pred[keep], minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None,
                           class_names: list[str], metrics: list[str] | tuple = DEFAULT) -> dict[str, Any]:
    """Every requested metric, per class and averaged; frames with y_true = −1 are skipped."""
    from sklearn import metrics as skm

    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    keep = y_true >= 0
    y_true, y_pred = y_true[keep], y_pred[keep]
    if y_score is not None:
        y_score = np.asarray(y_score, np.float64)[keep]
    n_classes = len(class_names)
    labels = list(range(n_classes))
    out: dict[str, Any] = {"n": int(keep.sum()), "classes": list(class_names),
                           "support": {c: int((y_true == i).sum()) for i, c in enumerate(class_names)}}
    if out["n"] == 0:
        from thermcli.errors import DataError

        raise DataError("no labelled frames to evaluate (every ground-truth label is −1)")
    if "accuracy" in metrics:
        out["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    if "balanced_accuracy" in metrics:
        # sklearn averages recall over the classes present in y_true
        out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y_true, y_pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        if name not in metrics:
            continue
        per_class = fn(y_true, y_pred, labels=labels, average=None, zero_division=0)
        out[name] = {
            "per_class": {c: float(v) for c, v in zip(class_names, per_class)},
            "macro": float(fn(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
            "weighted": float(fn(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        }
    if "confusion" in metrics:
        out["confusion"] = confusion(y_true, y_pred, n_classes).tolist()
    if "roc_auc" in metrics:
        out["roc_auc"] = _roc_auc(y_true, y_score, class_names)
    return out


def _roc_auc(y_true: np.ndarray, y_score: np.ndarray | None, class_names: list[str]) -> Any:
    from sklearn import metrics as skm

    present = np.unique(y_true)
    if y_score is None or len(present) < 2:
        return None  # undefined: no scores, or a single class in the ground truth
    if len(class_names) == 2:
        auc = float(skm.roc_auc_score(y_true, y_score[:, 1]))
        return {"per_class": {class_names[1]: auc, class_names[0]: auc}, "macro": auc, "weighted": auc}
    per_class = {}
    for i, c in enumerate(class_names):
        if i in present:
            per_class[c] = float(skm.roc_auc_score((y_true == i).astype(int), y_score[:, i]))
    result: dict[str, Any] = {"per_class": per_class}
    if len(present) == len(class_names):
        result["macro"] = float(skm.roc_auc_score(y_true, y_score, multi_class="ovr", average="macro"))
        result["weighted"] = float(skm.roc_auc_score(y_true, y_score, multi_class="ovr", average="weighted"))
    else:
        result["macro"] = float(np.mean(list(per_class.values())))
        result["weighted"] = None
    return result


def gate_value(result: dict[str, Any], key: str) -> float | None:
    """``f1`` → macro F1, ``f1.weighted``, ``recall.EXH``, ``accuracy`` … from a result dict."""
    name, _, sub = key.partition(".")
    value = result.get(name)
    if isinstance(value, dict):
        if not sub:
            return value.get("macro")
        if sub in value:
            return value[sub]
        return value.get("per_class", {}).get(sub)
    return value if isinstance(value, (int, float)) else None


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """Classification metrics of ``context``'s predictions against its ground truth."""
    wanted = [m for m in metrics if m in METRICS] or list(DEFAULT)
    y_true, y_pred, y_score, class_names = context.classification_arrays()
    return classification_metrics(y_true, y_pred, y_score, class_names, wanted)


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    tables = []
    summary = Table(title=f"classification ({result['n']} frames)")
    summary.add_column("metric")
    for column in ("value",):
        summary.add_column(column, justify="right")
    for key in ("accuracy", "balanced_accuracy"):
        if key in result:
            summary.add_row(key, f"{result[key]:.4f}")
    tables.append(summary)
    per = [k for k in ("precision", "recall", "f1", "roc_auc") if isinstance(result.get(k), dict)]
    if per:
        table = Table(title="per class")
        table.add_column("class")
        for k in per:
            table.add_column(k, justify="right")
        table.add_column("support", justify="right")
        for c in list(result["classes"]) + ["macro", "weighted"]:
            cells = []
            for k in per:
                v = result[k]["per_class"].get(c) if c in result["classes"] else result[k].get(c)
                cells.append("" if v is None else f"{v:.4f}")
            table.add_row(c, *cells, str(result["support"].get(c, "")) if c in result["classes"] else "")
        tables.append(table)
    if "confusion" in result:
        table = Table(title="confusion (rows: true, columns: predicted)")
        table.add_column("")
        for c in result["classes"]:
            table.add_column(c, justify="right")
        for c, row in zip(result["classes"], result["confusion"]):
            table.add_row(c, *[str(v) for v in row])
        tables.append(table)
    return tables
