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
