"""Classification metrics equal scikit-learn's on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from thermcli.metrics.classification import classification_metrics, confusion, gate_value


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(5, 60), st.integers(0, 100_000))
def test_identical_to_sklearn(n_classes, n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    y[:n_classes] = np.arange(n_classes)  # every class present (ROC AUC is defined)
    score = rng.dirichlet(np.ones(n_classes), n)
    pred = np.where(rng.random(n) < 0.6, y, score.argmax(1))
    y_with_unlabelled = np.concatenate([y, [-1, -1]])
    pred_with = np.concatenate([pred, [0, 1]])
    score_with = np.concatenate([score, score[:2]])
    names = [f"c{i}" for i in range(n_classes)]
    got = classification_metrics(y_with_unlabelled, pred_with, score_with, names)  # −1 rows skipped
    assert got["accuracy"] == skm.accuracy_score(y, pred)
    assert got["balanced_accuracy"] == skm.balanced_accuracy_score(y, pred)
    labels = list(range(n_classes))
    for key, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        per = fn(y, pred, labels=labels, average=None, zero_division=0)
        assert [got[key]["per_class"][c] for c in names] == list(per)
        assert got[key]["macro"] == fn(y, pred, labels=labels, average="macro", zero_division=0)
        assert got[key]["weighted"] == fn(y, pred, labels=labels, average="weighted", zero_division=0)
    assert got["confusion"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    np.testing.assert_array_equal(confusion(y, pred, n_classes), skm.confusion_matrix(y, pred, labels=labels))
    if n_classes == 2:
        assert got["roc_auc"]["macro"] == skm.roc_auc_score(y, score[:, 1])
    else:
        assert got["roc_auc"]["macro"] == skm.roc_auc_score(y, score, multi_class="ovr", average="macro")
        assert got["roc_auc"]["weighted"] == skm.roc_auc_score(y, score, multi_class="ovr", average="weighted")


def test_gate_keys():
    result = classification_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), None, ["INH", "EXH"])
    assert gate_value(result, "f1") == result["f1"]["macro"]
    assert gate_value(result, "recall.EXH") == 0.5
    assert gate_value(result, "f1.weighted") == result["f1"]["weighted"]
    assert gate_value(result, "accuracy") == 0.75
    assert result["roc_auc"] is None  # no scores


def test_nothing_labelled_is_an_error():
    from thermcli.errors import DataError

    with pytest.raises(DataError, match="no labelled frames"):
        classification_metrics(np.array([-1, -1]), np.array([0, 1]), None, ["a", "b"])


@settings(max_examples=12, deadline=None)
@given(st.integers(2, 6), st.integers(3, 50), st.integers(0, 100_000))
def test_multilabel_identical_to_sklearn(n_labels, n, seed):
    import warnings

    from thermcli.metrics.classification import multilabel_metrics
    from thermcli.stages.adapt import per_label_f1

    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.4).astype(np.uint8)
    score = np.clip(0.6 * y + 0.7 * rng.random((n, n_labels)), 0, 1)
    pred = (score > 0.5).astype(np.uint8)
    names = [f"L{j}" for j in range(n_labels)]
    got = multilabel_metrics(y, pred, score, names)
    assert got["kind"] == "multilabel" and got["n"] == n
    assert got["subset_accuracy"] == skm.accuracy_score(y, pred) == np.mean((y == pred).all(1))
    assert got["hamming_loss"] == skm.hamming_loss(y, pred)
    assert got["hamming_loss"] == pytest.approx(np.mean(y != pred))
    labels = list(range(n_labels))
    for key, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert [got[key]["per_class"][c] for c in names] == list(fn(y, pred, labels=labels, average=None, zero_division=0))
        for average in ("micro", "macro", "weighted", "samples"):
            assert got[key][average] == fn(y, pred, labels=labels, average=average, zero_division=0)
    # an independent count: adapt's own per-label F1, and micro F1 from the pooled counts
    np.testing.assert_allclose([got["f1"]["per_class"][c] for c in names], per_label_f1(y, pred))
    tp, fp, fn_ = (y & pred).sum(), ((1 - y) & pred).sum(), (y & (1 - pred)).sum()
    assert got["f1"]["micro"] == pytest.approx(2 * tp / (2 * tp + fp + fn_) if tp + fp + fn_ else 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert [got["average_precision"]["per_class"][c] for c in names] == list(skm.average_precision_score(y, score, average=None))
        for average in ("micro", "macro", "weighted"):
            assert got["average_precision"][average] == skm.average_precision_score(y, score, average=average)
    assert got["mAP"] == got["average_precision"]["macro"]
    defined = [j for j in range(n_labels) if 0 < y[:, j].sum() < n]
    if len(defined) == n_labels:
        assert got["roc_auc"]["macro"] == skm.roc_auc_score(y, score, average="macro")
        assert got["roc_auc"]["micro"] == skm.roc_auc_score(y, score, average="micro")
    for j in defined:
        assert got["roc_auc"]["per_class"][names[j]] == skm.roc_auc_score(y[:, j], score[:, j])
    # gates: accuracy means the subset accuracy here; mAP and per-label keys are reachable
    assert gate_value(got, "accuracy") == got["subset_accuracy"]
    assert gate_value(got, "mAP") == got["mAP"]
    assert gate_value(got, "f1.micro") == got["f1"]["micro"]
    assert gate_value(got, f"recall.{names[0]}") == got["recall"]["per_class"][names[0]]


def test_multilabel_without_scores_has_no_average_precision():
    from thermcli.metrics.classification import multilabel_metrics

    y = np.array([[1, 0], [0, 1], [1, 1]], np.uint8)
    got = multilabel_metrics(y, y, None, ["a", "b"])
    assert got["average_precision"] is None and got["mAP"] is None and got["roc_auc"] is None
    assert got["subset_accuracy"] == 1.0 and got["hamming_loss"] == 0.0


def test_multilabel_needs_two_labels():
    from thermcli.errors import DataError
    from thermcli.metrics.classification import multilabel_metrics

    with pytest.raises(DataError, match="at least 2 labels"):
        multilabel_metrics(np.ones((3, 1), np.uint8), np.ones((3, 1), np.uint8), None, ["a"])


# ---- the scikit-learn-backed scores that replace hand-written ones (issue 17) ----------------


def _reference_scores(y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """The hand-written validation scores training used (from a confusion matrix)."""
    cm = confusion(y, pred, n_classes).astype(np.float64)
    support, predicted, tp = cm.sum(1), cm.sum(0), np.diag(cm)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    used = present | (predicted > 0)
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "f1_macro": float(f1[used].mean()) if used.any() else float("nan"),
    }


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(0, 40), st.integers(0, 10_000))
def test_summary_scores_equal_the_confusion_matrix_formulas(n_classes, n, seed):
    from thermcli.metrics.classification import summary_scores

    rng = np.random.default_rng(seed)
    y = rng.integers(-1, n_classes, n)  # −1: unlabelled, skipped
    pred = rng.integers(0, n_classes, n)
    got = summary_scores(y, pred, prefix="val_")
    want = _reference_scores(y, pred, n_classes)
    for key, value in want.items():
        assert np.isclose(got[f"val_{key}"], value, equal_nan=True), (key, got, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(0, 30), st.integers(0, 10_000))
def test_per_label_f1_equals_the_counting_formula(n_labels, n, seed):
    from thermcli.metrics.classification import per_label_f1

    rng = np.random.default_rng(seed)
    y_true = rng.random((n, n_labels)) < 0.4
    y_pred = rng.random((n, n_labels)) < 0.4
    tp = (y_true & y_pred).sum(0).astype(np.float64)
    denom = 2 * tp + (~y_true & y_pred).sum(0) + (y_true & ~y_pred).sum(0)
    want = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    np.testing.assert_allclose(per_label_f1(y_true, y_pred), want)
