"""The ``domains`` generator: schema and statistics against the committed sample data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thermcli.io import read_dataset, validate
from thermcli.synth import domains

COMMITTED = Path(__file__).resolve().parents[2] / "sample_data" / "domains"


@pytest.fixture(scope="module")
def small():
    return domains.generate(seed=0, scale=0.1)


def test_small_generation_matches_the_committed_schema_and_statistics(small):
    assert set(small) == set(domains.COUNTS)
    for name, ds in small.items():
        validate(ds, where=name)
        committed = read_dataset(COMMITTED / name)
        assert ds.frames.dtype == committed.frames.dtype and ds.frames.shape[1:] == committed.frames.shape[1:]
        assert (ds.meta.unit, ds.meta.modality, ds.meta.label_kind, ds.meta.class_names) == (
            committed.meta.unit, committed.meta.modality, committed.meta.label_kind, committed.meta.class_names,
        )
        assert ds.fields() == committed.fields()
        # mean brightness of the domain within a few grey levels of the committed file's
        assert abs(float(ds.frames.mean()) - float(committed.frames.mean())) < 8, name


def test_committed_data_is_reproducible():
    fresh = domains.generate(seed=0, scale=1.0)
    for name in ("source_train.h5", "au_target_test.h5"):
        committed = read_dataset(COMMITTED / name)
        np.testing.assert_array_equal(fresh[name].frames, committed.frames)
        np.testing.assert_array_equal(fresh[name].labels, committed.labels)


def test_target_training_files_carry_no_labels(small):
    assert (small["target_train.h5"].labels == -1).all()
    assert small["au_target_train.h5"].labels is None
    assert "evaluation only" in small["target_test.h5"].meta.attrs["labels"]


def test_domains_differ_in_polarity_and_sharpness(small):
    """Source objects are mostly darker than their background, target objects brighter; the
    target is blurrier (less high-frequency energy) — the gap adaptation has to close."""
    import cv2

    src, tgt = small["source_train.h5"].frames.astype(np.float32), small["target_train.h5"].frames.astype(np.float32)

    def centre_minus_border(frames):
        centre = frames[:, 10:18, 10:18].mean((1, 2))
        border = np.concatenate([frames[:, :3].reshape(len(frames), -1), frames[:, -3:].reshape(len(frames), -1)], 1).mean(1)
        return centre - border

    assert np.median(centre_minus_border(src)) < -20 and np.median(centre_minus_border(tgt)) > 20
    sharp = lambda f: np.mean([cv2.Laplacian(x, cv2.CV_32F).var() for x in f])  # noqa: E731
    assert sharp(tgt) < sharp(src)


def test_multilabel_faces_are_balanced_enough(small):
    labels = small["au_source_train.h5"].labels
    assert labels.shape[1] == 5 and 0.2 < labels.mean() < 0.6
