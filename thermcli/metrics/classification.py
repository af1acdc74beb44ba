"""Classification metrics, identical to scikit-learn's on the same predictions (tested).

Multi-class inputs: ``y_true`` (N,) int64 class indices (−1 = unlabelled: skipped), ``y_pred``
(N,) int64, ``y_score`` (N, C) float class probabilities (for ROC AUC). Per class and macro /
weighted averages.

Multi-label inputs (``label_kind`` multilabel): ``y_true`` and ``y_pred`` (N, L) 0/1, ``y_score``
(N, L) per-label probabilities. Per label and micro / macro / weighted / samples precision, recall
and F1, subset accuracy, Hamming loss, and — with scores — average precision per label and its
mean (mAP) and ROC AUC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FAMILY = "classification"
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion", "roc_auc",
           "subset_accuracy", "hamming_loss", "average_precision", "mAP")
DEFAULT = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion", "roc_auc")
MULTILABEL = ("subset_accuracy", "hamming_loss", "precision", "recall", "f1", "average_precision", "roc_auc")
MULTICLASS_ONLY = ("balanced_accuracy", "confusion")
MULTILABEL_ONLY = ("subset_accuracy", "hamming_loss", "average_precision", "mAP")
GATES = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "subset_accuracy", "average_precision", "mAP")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted (sklearn's layout)."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    keep = (y_true >= 0) & (y_true < n_classes) & (y_pred >= 0) & (y_pred < n_classes)
    return np.bincount(y_true[keep] * n_classes + y_pred[keep], minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _both_labelled(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    keep = (y_true >= 0) & (y_pred >= 0)
    return y_true[keep], y_pred[keep]


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's balanced accuracy (recall averaged over the classes present in ``y_true``)
    of the frames where both labels are ≥ 0; NaN when there are none."""
    import warnings

    from sklearn import metrics as skm

    y_true, y_pred = _both_labelled(y_true, y_pred)
    if len(y_true) == 0:
        return float("nan")
    with warnings.catch_warnings():  # a predicted class absent from y_true: sklearn warns, then skips it
        warnings.simplefilter("ignore", UserWarning)
        return float(skm.balanced_accuracy_score(y_true, y_pred))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's macro F1 over the classes in ``y_true`` or ``y_pred`` (0 for a class never
    predicted) of the frames where both labels are ≥ 0; NaN when there are none."""
    from sklearn import metrics as skm

    y_true, y_pred = _both_labelled(y_true, y_pred)
    if len(y_true) == 0:
        return float("nan")
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each label column of (N, L) 0/1 arrays, 0 where a label has no positives and no
    predictions (scikit-learn's ``f1_score(average=None, zero_division=0)``)."""
    from sklearn import metrics as skm

    y_true = np.asarray(y_true).astype(bool).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(bool).astype(np.int64)
    if len(y_true) == 0:
        return np.zeros(y_true.shape[1], np.float64)
    if y_true.shape[1] == 1:  # sklearn reads an (N, 1) indicator as two classes: score class 1
        return skm.f1_score(y_true[:, 0], y_pred[:, 0], labels=[1], average=None, zero_division=0).astype(np.float64)
    labels = list(range(y_true.shape[1]))
    return skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0).astype(np.float64)


def summary_scores(y_true: np.ndarray, y_pred: np.ndarray, *, prefix: str = "") -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 (scikit-learn's) of the frames where both labels
    are ≥ 0: a training run's validation numbers. No such frame: accuracy 0, the others NaN."""
    from sklearn import metrics as skm

    t, p = _both_labelled(y_true, y_pred)
    return {
        f"{prefix}accuracy": float(skm.accuracy_score(t, p)) if len(t) else 0.0,
        f"{prefix}balanced_accuracy": balanced_accuracy(t, p),
        f"{prefix}f1_macro": macro_f1(t, p),
    }


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


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None, label_names: list[str],
                       metrics: list[str] | tuple = MULTILABEL) -> dict[str, Any]:
    """Multi-label metrics (scikit-learn's), per label and averaged; ``y_true``/``y_pred`` (N, L) 0/1."""
    from sklearn import metrics as skm

    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    n, n_labels = y_true.shape
    from thermcli.errors import DataError

    if n == 0:
        raise DataError("no frames to evaluate")
    if n_labels < 2:
        # scikit-learn reads an (N, 1) indicator as binary classes, not as one label
        raise DataError("multi-label metrics need at least 2 labels; store a single yes/no label as multi-class (0/1)")
    names = list(label_names) or [str(i) for i in range(n_labels)]
    out: dict[str, Any] = {"kind": "multilabel", "n": int(n), "classes": names,
                           "support": {c: int(v) for c, v in zip(names, y_true.sum(0))}}
    if "subset_accuracy" in metrics or "accuracy" in metrics:
        out["subset_accuracy"] = float(skm.accuracy_score(y_true, y_pred))  # every label of a frame right
    if "hamming_loss" in metrics:
        out["hamming_loss"] = float(skm.hamming_loss(y_true, y_pred))
    labels = list(range(n_labels))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        if name not in metrics:
            continue
        per_label = fn(y_true, y_pred, labels=labels, average=None, zero_division=0)
        out[name] = {"per_class": {c: float(v) for c, v in zip(names, per_label)}}
        for average in ("micro", "macro", "weighted", "samples"):
            out[name][average] = float(fn(y_true, y_pred, labels=labels, average=average, zero_division=0))
    if "average_precision" in metrics or "mAP" in metrics:
        out["average_precision"] = _average_precision(y_true, y_score, names)
        out["mAP"] = out["average_precision"]["macro"] if out["average_precision"] else None
    if "roc_auc" in metrics:
        out["roc_auc"] = _multilabel_roc_auc(y_true, y_score, names)
    return out


def _average_precision(y_true: np.ndarray, y_score: np.ndarray | None, names: list[str]) -> Any:
    """Average precision (area under the precision–recall curve, sklearn's step rule) per label
    and averaged; mAP = the macro average. None without scores."""
    from sklearn import metrics as skm

    import warnings

    if y_score is None:
        return None
    y_score = np.asarray(y_score, np.float64)
    with warnings.catch_warnings():
        # a label without positives: sklearn warns and scores it 0 (kept, as sklearn averages it)
        warnings.simplefilter("ignore", UserWarning)
        per_label = skm.average_precision_score(y_true, y_score, average=None)
        result: dict[str, Any] = {"per_class": {c: float(v) for c, v in zip(names, per_label)}}
        for average in ("micro", "macro", "weighted"):
            result[average] = float(skm.average_precision_score(y_true, y_score, average=average))
    return result


def _multilabel_roc_auc(y_true: np.ndarray, y_score: np.ndarray | None, names: list[str]) -> Any:
    """ROC AUC per label where the label has both outcomes; macro over those (sklearn's when all do)."""
    from sklearn import metrics as skm

    if y_score is None:
        return None
    y_score = np.asarray(y_score, np.float64)
    defined = [j for j in range(y_true.shape[1]) if 0 < y_true[:, j].sum() < len(y_true)]
    if not defined:
        return None
    per_class = {names[j]: float(skm.roc_auc_score(y_true[:, j], y_score[:, j])) for j in defined}
    result: dict[str, Any] = {"per_class": per_class, "macro": float(np.mean(list(per_class.values())))}
    if len(defined) == y_true.shape[1]:
        result["macro"] = float(skm.roc_auc_score(y_true, y_score, average="macro"))
        result["micro"] = float(skm.roc_auc_score(y_true, y_score, average="micro"))
        result["weighted"] = float(skm.roc_auc_score(y_true, y_score, average="weighted"))
    return result


def gate_value(result: dict[str, Any], key: str) -> float | None:
    """``f1`` → macro F1, ``f1.weighted``, ``recall.EXH``, ``accuracy`` … from a result dict
    (multi-label: ``accuracy`` is the subset accuracy, ``average_precision``/``mAP`` the mAP)."""
    if result.get("kind") == "multilabel" and key == "accuracy":
        key = "subset_accuracy"
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
    """Classification metrics of ``context``'s predictions against its ground truth (multi-class or
    multi-label, as the ground truth is)."""
    from thermcli.errors import UsageError

    asked = [m for m in metrics if m in METRICS]
    y_true, y_pred, y_score, class_names = context.classification_arrays()
    if np.asarray(y_true).ndim == 2:
        wrong = [m for m in asked if m in MULTICLASS_ONLY]
        if wrong:
            raise UsageError(f"{wrong[0]} is not defined for multi-label ground truth (use {', '.join(MULTILABEL)})",
                             param="--metric")
        return multilabel_metrics(y_true, y_pred, y_score, class_names, asked or list(MULTILABEL))
    wrong = [m for m in asked if m in MULTILABEL_ONLY]
    if wrong:
        raise UsageError(f"{wrong[0]} is a multi-label metric; the ground truth here is multi-class", param="--metric")
    return classification_metrics(y_true, y_pred, y_score, class_names, asked or list(DEFAULT))


def render(result: dict[str, Any]) -> list:
    if result.get("kind") == "multilabel":
        return render_multilabel(result)
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


def render_multilabel(result: dict[str, Any]) -> list:
    from rich.table import Table

    summary = Table(title=f"multi-label classification ({result['n']} frames, {len(result['classes'])} labels)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in ("subset_accuracy", "hamming_loss", "mAP"):
        if result.get(key) is not None:
            summary.add_row(key, f"{result[key]:.4f}")
    for key in ("f1", "precision", "recall"):
        if isinstance(result.get(key), dict):
            for average in ("micro", "macro", "samples"):
                summary.add_row(f"{key} ({average})", f"{result[key][average]:.4f}")
    tables = [summary]
    per = [k for k in ("precision", "recall", "f1", "average_precision", "roc_auc") if isinstance(result.get(k), dict)]
    if per:
        table = Table(title="per label")
        table.add_column("label")
        for k in per:
            table.add_column("AP" if k == "average_precision" else k, justify="right")
        table.add_column("positives", justify="right")
        for c in list(result["classes"]) + ["micro", "macro", "weighted", "samples"]:
            cells = []
            for k in per:
                v = result[k]["per_class"].get(c) if c in result["classes"] else result[k].get(c)
                cells.append("" if v is None else f"{v:.4f}")
            table.add_row(c, *cells, str(result["support"][c]) if c in result["classes"] else "")
        tables.append(table)
    return tables
