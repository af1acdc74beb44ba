"""Time synchronisation: properties of the nearest-partner matching, offset estimation, and the
tug sample's jittered clocks with dropped frames (ground truth: columns/frame_index)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from thermcli.errors import DataError
from thermcli.ops.sync import estimate_offset, match_timestamps


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 120),
    fps=st.floats(5, 60),
    jitter=st.floats(0, 0.15),  # fraction of a frame period
    drop=st.floats(0, 0.2),
    offset=st.floats(-0.5, 0.5),
)
def test_matching_is_one_to_one_within_tolerance_and_exact_on_drops(seed, n, fps, jitter, drop, offset):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    keep_a = rng.random(n) >= drop
    keep_b = rng.random(n) >= drop
    jitter = jitter / fps
    t_a = (t + rng.uniform(-jitter, jitter, n))[keep_a]
    t_b = (t + offset + rng.uniform(-jitter, jitter, n))[keep_b]
    tolerance = 0.4 / fps  # below half a frame period: a partner is unambiguous
    result = match_timestamps(t_a, t_b, max_skew=tolerance, offset=offset)
    pairs = result.pairs
    assert len(set(pairs[:, 0])) == len(pairs) and len(set(pairs[:, 1])) == len(pairs)
    assert np.all(np.abs(t_b[pairs[:, 1]] - offset - t_a[pairs[:, 0]]) <= tolerance)
    both = keep_a & keep_b
    assert len(pairs) == both.sum()
    assert len(result.unmatched_a) == (keep_a & ~keep_b).sum()
    assert len(result.unmatched_b) == (keep_b & ~keep_a).sum()
    # the pairs are the true ones (same capture index)
    idx_a, idx_b = np.nonzero(keep_a)[0], np.nonzero(keep_b)[0]
    np.testing.assert_array_equal(idx_a[pairs[:, 0]], idx_b[pairs[:, 1]])


def test_groups_never_pair_across_sequences():
    t = np.array([0.0, 0.1, 0.2])
    result = match_timestamps(t, t, max_skew=0.01, groups_a=np.array(["a", "a", "b"], object),
                              groups_b=np.array(["a", "b", "b"], object))
    assert result.pairs.tolist() == [[0, 0], [2, 2]]
    assert result.unmatched_a.tolist() == [1] and result.unmatched_b.tolist() == [1]


def test_no_overlap_gives_no_pairs():
    result = match_timestamps(np.arange(5.0), np.arange(5.0) + 100, max_skew=0.06)
    assert len(result.pairs) == 0 and len(result.unmatched_a) == 5


@pytest.mark.parametrize("offset", [-1.3, -0.02, 0.0, 0.25, 2.7])
def test_estimate_offset_recovers_a_constant_clock_offset(offset):
    rng = np.random.default_rng(5)
    t = np.arange(300) / 9.0
    t_a = t + rng.normal(0, 0.003, 300)
    t_b = (t + offset + rng.normal(0, 0.003, 300))[rng.random(300) > 0.02]  # b dropped ~2%
    estimate = estimate_offset(t_a, t_b, max_skew=0.03)
    assert abs(estimate - offset) < 0.003


def test_estimate_offset_fails_cleanly_without_overlap():
    with pytest.raises(DataError, match="never come within"):
        estimate_offset(np.arange(5.0), np.arange(5.0) + 1000, max_skew=0.06)


def test_tug_sample_sync_every_pair_within_tolerance_and_drops_exact():
    folder = REPO / "sample_data" / "tug"
    if not folder.is_dir():
        pytest.skip("sample_data/tug is not in this checkout")
    from thermcli.io import read_dataset

    thermal, rgb = read_dataset(folder / "thermal.h5"), read_dataset(folder / "rgb.h5")
    max_skew = 0.060
    result = match_timestamps(thermal.timestamp, rgb.timestamp, max_skew=max_skew, groups_a=thermal.sequence,
                              groups_b=rgb.sequence)
    skew = rgb.timestamp[result.pairs[:, 1]] - thermal.timestamp[result.pairs[:, 0]]
    assert np.all(np.abs(skew) <= max_skew)
    # ground truth: the same capture of the same sequence
    key_t = list(zip(thermal.sequence, thermal.columns["frame_index"]))
    key_r = list(zip(rgb.sequence, rgb.columns["frame_index"]))
    assert all(key_t[a] == key_r[b] for a, b in result.pairs)
    common = set(key_t) & set(key_r)
    assert len(result.pairs) == len(common)
    assert len(result.unmatched_a) == len(set(key_t) - common) == thermal.meta.attrs["dropped_captures"]
    assert len(result.unmatched_b) == len(set(key_r) - common) == rgb.meta.attrs["dropped_captures"]
    # the clock offset is estimated too
    offset = estimate_offset(thermal.timestamp, rgb.timestamp, max_skew=max_skew)
    assert abs(offset - rgb.meta.attrs["clock_offset_s"]) < 0.003
