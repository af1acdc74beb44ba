"""The breathing generator: determinism, physics direction, and the committed file's schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thermcli.io import read_dataset, validate
from thermcli.synth import breathing

COMMITTED = Path(__file__).resolve().parents[2] / "sample_data" / "breathing.h5"


def test_deterministic_and_valid():
    a = breathing.generate(seed=3, scale=0.25)["breathing.h5"]
    b = breathing.generate(seed=3, scale=0.25)["breathing.h5"]
    validate(a)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = breathing.generate(seed=4, scale=0.25)["breathing.h5"]
    assert not np.array_equal(a.frames, c.frames)


def test_physics_exhaled_air_is_warm():
    ds = breathing.generate(seed=1, scale=0.5)["breathing.h5"]
    airway = ds.columns["airway_celsius"]
    assert airway[ds.labels == 1].mean() > airway[ds.labels == 0].mean() + 0.5
    # the image agrees: pixels at the airway are warmer while exhaling
    xy = np.round(ds.columns["airway_xy"]).astype(int)
    rows = np.arange(len(ds))
    below = ds.frames[rows, np.clip(xy[:, 1] + 2, 0, 19), np.clip(xy[:, 0], 0, 23)]
    assert below[ds.labels == 1].mean() > below[ds.labels == 0].mean()
    rates = ds.columns["true_rate_bpm"]
    assert 8 <= rates.min() and rates.max() <= 25
    assert set(np.unique(ds.labels)) <= {-1, 0, 1}
    assert 0.02 < (ds.labels == -1).mean() < 0.3  # pauses exist but are not most frames
    for seq in np.unique(ds.sequence):  # one rate per sequence, one subject per sequence
        assert np.unique(rates[ds.sequence == seq]).size == 1
        assert np.unique(ds.subject[ds.sequence == seq]).size == 1


def test_committed_file_matches_generator_schema():
    small = breathing.generate(seed=0, scale=0.25)["breathing.h5"]
    committed = read_dataset(COMMITTED)
    assert committed.frames.shape[1:] == small.frames.shape[1:]
    assert committed.meta.class_names == small.meta.class_names == ["INH", "EXH"]
    assert sorted(committed.columns) == sorted(small.columns)
    assert np.unique(committed.subject).size == breathing.SUBJECTS
    assert len(committed) == breathing.SUBJECTS * breathing.SEQUENCES * breathing.FRAMES_PER_SEQUENCE
    full = breathing.generate(seed=0)["breathing.h5"]
    np.testing.assert_array_equal(committed.frames, full.frames)  # reproducible from the command
    assert 32.0 < np.median(committed.frames) < 36.0
    assert COMMITTED.stat().st_size < 3_000_000
