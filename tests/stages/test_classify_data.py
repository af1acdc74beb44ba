"""K-frame windows stay within their sequence; normalisation is what the checkpoint records."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.errors import UsageError
from thermcli.stages.classify_data import apply_normalization, class_weights, fit_normalization, sequence_windows


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(3, 9), min_size=1, max_size=5), st.integers(1, 3), st.integers(0, 1000))
def test_windows_never_cross_a_sequence(lengths, k, seed):
    rng = np.random.default_rng(seed)
    seq = np.concatenate([[f"q{i}"] * n for i, n in enumerate(lengths)]).astype(object)
    order = rng.permutation(len(seq))  # rows shuffled; timestamps give the order within a sequence
    seq = seq[order]
    ts = np.concatenate([np.arange(n, dtype=float) for n in lengths])[order]
    w = sequence_windows(len(seq), k, seq, ts)
    for i in range(len(seq)):
        assert all(seq[j] == seq[i] for j in w[i])  # same sequence
        assert w[i, -1] == i
        assert list(ts[w[i]]) == sorted(ts[w[i]])  # oldest first
        assert ts[w[i, 0]] == max(0.0, ts[i] - (k - 1))  # edge frames repeat the first frame


def test_k_longer_than_a_sequence_is_a_usage_error():
    with pytest.raises(UsageError, match="longer than sequence 'b' of 2 frames"):
        sequence_windows(5, 3, np.array(["a", "a", "a", "b", "b"], object), None)


def test_frame_normalisation_removes_offsets():
    rng = np.random.default_rng(0)
    frames = (30 + rng.normal(size=(6, 4, 5))).astype(np.float32)
    norm = fit_normalization(frames, "frame")
    shifted = apply_normalization(frames + 3.0, norm)
    np.testing.assert_allclose(shifted, apply_normalization(frames, norm), atol=1e-5)
    np.testing.assert_allclose(shifted.reshape(6, -1).mean(1), 0, atol=1e-5)


def test_class_weights_match_sklearn():
    import torch
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, -1, 1, 0, 0])
    got = class_weights(torch.tensor(y), 2).numpy()
    np.testing.assert_allclose(got, compute_class_weight("balanced", classes=np.array([0, 1]), y=y[y >= 0]), rtol=1e-6)


def test_windows_stay_within_one_threshold_copy():
    from tests.conftest import make_dataset
    from thermcli.stages.classify_data import window_groups

    ds = make_dataset(n=6)
    ds.sequence = np.array(["q"] * 6, dtype=object)
    ds.timestamp = np.array([0, 0, 1, 1, 2, 2], dtype=np.float64)
    ds.columns["threshold_level"] = np.array([50, 150, 50, 150, 50, 150], np.float32)
    w = sequence_windows(6, 2, window_groups(ds), ds.timestamp)
    assert [list(r) for r in w] == [[0, 0], [1, 1], [0, 2], [1, 3], [2, 4], [3, 5]]


def test_window_normalisation_keeps_change_over_time():
    import torch

    from tests.conftest import make_dataset
    from thermcli.stages.classify_data import prepare

    ds = make_dataset(n=4)
    ds.sequence = np.array(["q"] * 4, dtype=object)
    ds.frames = np.stack([np.full((12, 10), 30.0 + i, np.float32) for i in range(4)])
    ds.frames += np.random.default_rng(0).normal(0, 0.1, ds.frames.shape).astype(np.float32)
    frame_data, _ = prepare(ds, ds.frames, "x", frames_k=2, norm=None, normalize="frame")
    window_data, _ = prepare(ds, ds.frames, "x", frames_k=2, norm=None, normalize="window")
    x_frame, _ = frame_data.batch(torch.tensor([3]))
    x_window, _ = window_data.batch(torch.tensor([3]))
    assert abs(float(x_frame[0, 1].mean() - x_frame[0, 0].mean())) < 1e-4  # per-frame means erase the warming
    assert float(x_window[0, 1].mean() - x_window[0, 0].mean()) > 1.0  # the window keeps it
    # with K = 1 the window is the frame: the same input as --normalize frame
    one_window, _ = prepare(ds, ds.frames, "x", frames_k=1, norm=None, normalize="window")
    one_frame, _ = prepare(ds, ds.frames, "x", frames_k=1, norm=None, normalize="frame")
    rows = torch.arange(4)
    assert torch.allclose(one_window.batch(rows)[0], one_frame.batch(rows)[0], atol=1e-3)


def test_centered_windows():
    seq = np.array(["a"] * 5 + ["b"] * 3, dtype=object)
    w = sequence_windows(8, 3, seq, None, centered=True)
    assert [list(r) for r in w] == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 4], [5, 5, 6], [5, 6, 7], [6, 7, 7]]
