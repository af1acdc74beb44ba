"""Time synchronisation of two camera streams by timestamp.

>>> import numpy as np
>>> a = np.array([0.0, 0.1, 0.2, 0.3])
>>> b = np.array([0.01, 0.12, 0.31])           # the frame near 0.2 was dropped
>>> m = match_timestamps(a, b, max_skew=0.03)
>>> m.pairs.tolist(), m.unmatched_a.tolist(), m.unmatched_b.tolist()
([[0, 0], [1, 1], [3, 2]], [2], [])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermcli.errors import DataError


@dataclass(frozen=True)
class SyncResult:
    """Pairs of row indices (K, 2) into streams a and b, and the rows left without a partner."""

    pairs: np.ndarray
    unmatched_a: np.ndarray
    unmatched_b: np.ndarray
    offset: float
    skew: np.ndarray  # (K,) t_b − offset − t_a of each pair, seconds


def match_timestamps(t_a: np.ndarray, t_b: np.ndarray, *, max_skew: float, offset: float = 0.0,
                     groups_a: np.ndarray | None = None, groups_b: np.ndarray | None = None) -> SyncResult:
    """Pair frames of two streams, each with its nearest partner in time, within ``max_skew`` s.

    ``t_a``, ``t_b``: (N,), (M,) float64 seconds; ``offset``: how far b's clock runs ahead of
    a's (b's timestamps are read as ``t_b − offset``). Pairing is one-to-one: candidate pairs
    (every frame's nearest neighbour on the other side) are taken in order of increasing skew,
    each frame used at most once. With ``groups_a``/``groups_b`` (e.g. sequence ids) frames pair
    only within the same group. Frames of either stream without a partner are returned as
    unmatched (the "dropped" frames); nothing is interpolated.
    """
    t_a = np.asarray(t_a, np.float64)
    t_b = np.asarray(t_b, np.float64) - offset
    if max_skew < 0:
        raise ValueError("max_skew must be ≥ 0")
    if groups_a is None or groups_b is None:
        groups_a = np.zeros(len(t_a), dtype=object)
        groups_b = np.zeros(len(t_b), dtype=object)
    candidates = []
    for group in set(groups_a.tolist()) & set(groups_b.tolist()):
        ia = np.nonzero(groups_a == group)[0]
        ib = np.nonzero(groups_b == group)[0]
        if len(ia) == 0 or len(ib) == 0:
            continue
        ia = ia[np.argsort(t_a[ia], kind="stable")]
        ib = ib[np.argsort(t_b[ib], kind="stable")]
        ta, tb = t_a[ia], t_b[ib]
        # each frame's neighbours on the other side (before and after it in time)
        for own, own_t, other, other_t, a_first in ((ia, ta, ib, tb, True), (ib, tb, ia, ta, False)):
            pos = np.searchsorted(other_t, own_t)
            for shift in (-1, 0):
                j = np.clip(pos + shift, 0, len(other_t) - 1)
                gap = np.abs(other_t[j] - own_t)
                rows = (own, other[j]) if a_first else (other[j], own)
                candidates.append(np.stack([rows[0], rows[1], gap], axis=1))
    used_a = np.zeros(len(t_a), bool)
    used_b = np.zeros(len(t_b), bool)
    pairs = []
    if candidates:
        cand = np.concatenate(candidates)
        cand = cand[cand[:, 2] <= max_skew]
        order = np.lexsort((cand[:, 1], cand[:, 0], cand[:, 2]))
        for row in cand[order]:
            a, b = int(row[0]), int(row[1])
            if not used_a[a] and not used_b[b]:
                used_a[a] = used_b[b] = True
                pairs.append((a, b))
    pairs_arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    skew = t_b[pairs_arr[:, 1]] - t_a[pairs_arr[:, 0]] if len(pairs_arr) else np.zeros(0)
    return SyncResult(
        pairs=pairs_arr,
        unmatched_a=np.nonzero(~used_a)[0],
        unmatched_b=np.nonzero(~used_b)[0],
        offset=float(offset),
        skew=skew,
    )


def estimate_offset(t_a: np.ndarray, t_b: np.ndarray, *, max_skew: float, search: float = 5.0,
                    groups_a: np.ndarray | None = None, groups_b: np.ndarray | None = None) -> float:
    """The constant clock offset (b ahead of a, seconds) that pairs the most frames within
    ``max_skew``, refined to the median skew of those pairs. Candidates are all differences
    ``t_b − t_a`` within ±``search`` s. Raises ``DataError`` when no offset pairs any frames.
    """
    t_a = np.asarray(t_a, np.float64)
    t_b = np.asarray(t_b, np.float64)
    sorted_b = np.sort(t_b)
    diffs = []
    for t in t_a:
        lo, hi = np.searchsorted(sorted_b, [t - search, t + search])
        diffs.append(sorted_b[lo:hi] - t)
    diffs = np.concatenate(diffs) if diffs else np.zeros(0)
    if diffs.size == 0:
        raise DataError(f"the two streams never come within {search:g} s of each other: no clock offset fits")
    # coarse: the offset with the most differences within ±max_skew (a sliding window on sorted diffs)
    diffs.sort()
    counts = np.searchsorted(diffs, diffs + 2 * max_skew, side="right") - np.arange(len(diffs))
    start = int(np.argmax(counts))
    coarse = float(np.median(diffs[start : start + counts[start]]))
    result = match_timestamps(t_a, t_b, max_skew=max_skew, offset=coarse, groups_a=groups_a, groups_b=groups_b)
    if len(result.pairs) == 0:
        raise DataError("no clock offset pairs any frames of the two streams")
    return coarse + float(np.median(result.skew))
