"""The adaptation stage's numeric pieces: per-label F1 against scikit-learn, data reconciliation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.conftest import make_dataset
from thermcli.errors import DataError
from thermcli.io import Dataset, Meta, write_dataset
from thermcli.stages.adapt import load_domains, per_label_f1, score


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(2, 5)), elements=st.integers(0, 1)),
    st.data(),
)
def test_per_label_f1_matches_sklearn(y_true, data):
    from sklearn.metrics import f1_score

    y_pred = data.draw(arrays(np.uint8, y_true.shape, elements=st.integers(0, 1)))
    ours = per_label_f1(y_true, y_pred)
    ref = f1_score(y_true, y_pred, average=None, zero_division=0)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    macro = f1_score(y_true, y_pred, average="macro", zero_division=0)
    logits = np.where(y_pred > 0, 1.0, -1.0)
    assert score(logits, y_true.astype(np.float32), "multilabel")["f1"] == pytest.approx(macro)


def test_accuracy_matches_sklearn():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4))
    y = rng.integers(0, 4, 50)
    assert score(logits, y, "multiclass")["acc"] == pytest.approx(accuracy_score(y, logits.argmax(1)))


def _write(path, frames, *, names=("a", "b"), labels=True, modality="thermal", kind="multiclass"):
    meta = Meta(unit="intensity", modality=modality, class_names=list(names), label_kind=kind)
    n = len(frames)
    y = None
    if labels:
        y = (np.arange(n) % len(names)).astype(np.int64) if kind == "multiclass" else (np.arange(n * len(names)).reshape(n, -1) % 2).astype(np.uint8)
    write_dataset(path, Dataset(frames=frames, meta=meta, labels=y))
    return path


def test_rgb_source_and_grey_target_are_reconciled(tmp_path):
    rng = np.random.default_rng(0)
    src = _write(tmp_path / "s.h5", rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8), modality="rgb")
    tgt = _write(tmp_path / "t.h5", rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), labels=False)
    s, t, v, names, kind, notes = load_domains(src, tgt, None, size=None, normalize="domain")
    assert s.x.shape == (8, 1, 16, 16) and t.x.shape == (6, 1, 16, 16)
    assert any("grey" in n for n in notes) and any("resized from 8×8 to 16×16" in n for n in notes)
    assert abs(float(t.x.mean())) < 1e-5 and abs(float(t.x.std()) - 1) < 1e-4  # per-domain standardised
    # the grey conversion is BT.601 luma, the same as OpenCV's
    import cv2

    raw = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in raw]).astype(np.float32) / 255
    expect = (grey - grey.mean()) / grey.std()
    np.testing.assert_allclose(s.x[:, 0], expect, atol=0.02)


def test_class_order_is_remapped_and_other_sets_refused(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 12, 12), dtype=np.uint8)
    src = _write(tmp_path / "s.h5", frames, names=("a", "b", "c"))
    val = _write(tmp_path / "v.h5", frames, names=("c", "a", "b"))
    _, _, v, names, _, _ = load_domains(src, src, val, size=None, normalize="unit")
    # val label i names ("c","a","b")[i]; in the source's order that is index of that name
    expect = np.array([["a", "b", "c"].index(("c", "a", "b")[i % 3]) for i in range(6)])
    np.testing.assert_array_equal(v.y, expect)
    other = _write(tmp_path / "o.h5", frames, names=("a", "b", "x"))
    with pytest.raises(DataError, match="differ from the source"):
        load_domains(src, other, None, size=None, normalize="unit")


def test_irreconcilable_sizes_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    src = _write(tmp_path / "s.h5", rng.integers(0, 256, (4, 16, 16), dtype=np.uint8))
    wide = _write(tmp_path / "w.h5", rng.integers(0, 256, (4, 8, 40), dtype=np.uint8))
    with pytest.raises(DataError, match="cannot be reconciled"):
        load_domains(src, wide, None, size=None, normalize="unit")


def test_celsius_target_is_standardised_not_squashed(tmp_path):
    src = _write(tmp_path / "s.h5", np.random.default_rng(3).integers(0, 256, (6, 12, 10), dtype=np.uint8))
    tgt = tmp_path / "t.h5"
    write_dataset(tgt, make_dataset(n=5, h=12, w=10, labels=False))
    _, t, _, _, _, _ = load_domains(src, tgt, None, size=None, normalize="domain")
    assert t.input_spec["unit"] == "celsius" and 22 < t.input_spec["mean"] < 34
