"""The COCO evaluation core shared by box AP (:mod:`thermcli.metrics.bbox`) and keypoint OKS
(:mod:`thermcli.metrics.oks`): pycocotools' ``COCOeval.evaluate`` + ``accumulate`` +
``summarize``, vectorised NumPy, identical to it to within 1e-12 (the tests compare every stat
and the whole precision/recall arrays). Only the similarity (box IoU or OKS) and which ground
truth is ignored differ between the two; both are inputs here.

Every rule of the reference is reproduced on purpose, quirks included:

- ignored ground truth (crowd; for keypoints also ``num_keypoints == 0``; outside the area
  range) is neither matched as a true positive nor missed: a detection matched to it is ignored;
  a crowd region may absorb several detections;
- detections are sorted by score (stable: ties keep their input order) and capped at the largest
  ``max_dets`` per image and category;
- greedy matching per threshold: a detection takes the best free non-ignored ground truth with
  similarity ≥ the threshold (ties: the last one), else the best ignored one;
- a match to a ground truth whose id is 0 counts as no match (pycocotools stores matches as ids
  and tests them for truth);
- unmatched detections outside the area range are ignored;
- per category, area range and detection cap, the detections of all images are merged in
  (image, rank) order and sorted by score with a stable sort (pycocotools' mergesort); precision
  is made monotone and read at the 101 recall points 0:0.01:1;
- a stat is the mean over the entries that are not −1 (−1 when there are none).

Where the reference loops over images, detections and ground truth in Python, this module
processes all (category, image) units, thresholds and area ranges at once, one detection rank at
a time: units are grouped in blocks by their number of ground truth (no padding to the most
crowded image) and sorted within a block by their number of detections, so rank r only touches
the units that have r + 1 detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

# Exactly pycocotools' grids (np.linspace, not np.arange: see its comment).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
EPS = np.spacing(1)

# similarity(pair_g, pair_d) -> (P,) values for ground-truth rows pair_g, detection rows pair_d
Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Block:
    """The (category, image) units that hold ``k`` ground truth (and at least one detection):
    ``sim`` (n, D, k) similarity of each unit's rank-r detection to its j-th ground truth
    (-inf = no detection), ``g_pos`` (n, k) / ``d_pos`` (n, D) positions into the evaluated
    ground truth / detections (-1 = none), ``units`` (n,) the units' (category, image) order,
    ``counts`` (n,) detections per unit (descending)."""

    sim: np.ndarray
    g_pos: np.ndarray
    d_pos: np.ndarray
    units: np.ndarray
    counts: np.ndarray


@dataclass
class Matching:
    """What :func:`evaluate` computed, for summaries and for per-object follow-ups (OKS's
    per-keypoint errors replay the matching on the blocks' similarities)."""

    precision: np.ndarray  # (T, R, C, A, M) as pycocotools' eval["precision"]
    recall: np.ndarray  # (T, C, A, M)
    iou_thresholds: np.ndarray
    area_labels: list[str]
    max_dets: list[int]
    category_ids: np.ndarray  # (C,)
    g_rows: np.ndarray  # (G,) ground-truth rows evaluated (positions index these)
    d_rows: np.ndarray  # (D,) detection rows evaluated, in (category, image, rank) order
    g_ignore: np.ndarray  # (A, G) ignored per area range
    g_crowd: np.ndarray  # (G,)
    blocks: list[Block]


def evaluate(
    *,
    g_image: np.ndarray,
    g_category: np.ndarray,
    g_id: np.ndarray,
    g_area: np.ndarray,
    g_ignore: np.ndarray,
    g_crowd: np.ndarray,
    d_image: np.ndarray,
    d_category: np.ndarray,
    d_score: np.ndarray,
    d_area: np.ndarray,
    image_ids: np.ndarray,
    category_ids: np.ndarray,
    similarity: Similarity,
    max_dets: Sequence[int],
    area_ranges: Mapping[str, tuple[float, float]],
    iou_thresholds: np.ndarray | None = None,
    rec_thresholds: np.ndarray | None = None,
) -> Matching:
    """pycocotools' ``evaluate()`` + ``accumulate()`` over flat per-object arrays.

    Ground truth: ``g_*`` (G,) — image and category ids, annotation ids, areas, base ignore flag
    (crowd, or keypoints' ``num_keypoints == 0``), crowd flag. Detections: ``d_*`` (D,).
    ``image_ids`` / ``category_ids``: the images and categories evaluated (pycocotools'
    ``params.imgIds`` / ``catIds``); objects of others are left out.
    """
    area_labels = list(area_ranges)
    area_bounds = np.array([area_ranges[a] for a in area_labels], dtype=np.float64).reshape(-1, 2)
    iou_thr = IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, np.float64)
    rec_thr = REC_THRESHOLDS if rec_thresholds is None else np.asarray(rec_thresholds, np.float64)
    max_dets = sorted(int(m) for m in max_dets)
    max_det = max_dets[-1]
    T, R, A, M = len(iou_thr), len(rec_thr), len(area_labels), len(max_dets)
    image_ids = np.unique(np.asarray(image_ids, np.int64))
    category_ids = np.unique(np.asarray(category_ids, np.int64))
    I, C = len(image_ids), len(category_ids)

    # units = (category, image) pairs, numbered category-major then by image id (pycocotools' order)
    g_idx, g_unit = _units(g_category, g_image, category_ids, image_ids)
    d_idx, d_unit = _units(d_category, d_image, category_ids, image_ids)
    # ground truth grouped by unit, in input order (as pycocotools' per-image lists)
    order = np.argsort(g_unit, kind="stable")
    g_idx, g_unit = g_idx[order], g_unit[order]
    # detections: per unit by descending score (stable), capped at max_det
    order = np.lexsort((np.arange(len(d_idx)), -d_score[d_idx], d_unit))
    d_idx, d_unit = d_idx[order], d_unit[order]
    d_rank = _rank_within(d_unit)
    capped = d_rank < max_det
    d_idx, d_unit, d_rank = d_idx[capped], d_unit[capped], d_rank[capped]

    # units holding both ground truth and detections, grouped in blocks by their number k of
    # ground truth; within a block sorted by their number of detections (descending), so rank r
    # only touches a prefix of the block
    units, u_of_d = np.unique(d_unit, return_inverse=True)
    d_count = np.bincount(u_of_d, minlength=len(units))
    g_count = np.zeros(len(units), np.int64)
    where_g = np.searchsorted(units, g_unit)
    has_unit = where_g < len(units)
    has_unit[has_unit] = units[where_g[has_unit]] == g_unit[has_unit]
    np.add.at(g_count, where_g[has_unit], 1)
    g_ign = g_ignore[g_idx][None] | (g_area[g_idx][None] < area_bounds[:, :1]) | (g_area[g_idx][None] > area_bounds[:, 1:])
    d_out = (d_area[d_idx][None] < area_bounds[:, :1]) | (d_area[d_idx][None] > area_bounds[:, 1:])  # (A, n)
    crowd = np.asarray(g_crowd, bool)[g_idx]
    ids = np.asarray(g_id, np.int64)[g_idx]
    g_first = np.searchsorted(g_unit, units)  # each unit's first ground truth (g sorted by unit)
    d_first = np.searchsorted(d_unit, units)
    m_flat = np.zeros((A, T, len(d_idx)), bool)  # pycocotools' dtm != 0
    i_flat = np.zeros((A, T, len(d_idx)), bool)  # pycocotools' dtIg
    thr = np.minimum(iou_thr, 1 - 1e-10)
    blocks: list[Block] = []
    for k in np.unique(g_count[g_count > 0]):
        members = np.nonzero(g_count == k)[0]
        members = members[np.argsort(-d_count[members], kind="stable")]
        n, counts = len(members), d_count[members]
        D = int(counts[0])
        g_pos = g_first[members][:, None] + np.arange(k)  # (n, k): ground truth in input order
        d_pos = np.where(np.arange(D) < counts[:, None], d_first[members][:, None] + np.arange(D), -1)  # (n, D)
        rr, cc = np.nonzero(d_pos >= 0)
        sim = np.full((n, D, k), -np.inf)
        pair_g = g_pos[rr].reshape(-1)  # every (detection, ground truth) pair of each unit
        pair_d = np.repeat(d_pos[rr, cc], k)
        sim[rr, cc] = similarity(g_idx[pair_g], d_idx[pair_d]).reshape(-1, k)
        ign = g_ign[:, g_pos].transpose(1, 0, 2)  # (n, A, k)
        pick, pick_ignored = greedy(sim, ign, crowd[g_pos], thr, counts, reuse_crowd=True)  # (n, A, T, D)
        col = pick[rr, :, :, cc]  # (nd, A, T): the ground truth each detection took
        m = col >= 0
        if (ids[g_pos] == 0).any():  # a match to ground truth id 0 counts as none
            rows = np.broadcast_to(rr[:, None, None], col.shape)
            m &= ids[g_pos[rows, np.where(m, col, 0)]] != 0
        m_flat[:, :, d_pos[rr, cc]] = m.transpose(1, 2, 0)
        i_flat[:, :, d_pos[rr, cc]] = pick_ignored[rr, :, :, cc].transpose(1, 2, 0)
        blocks.append(Block(sim=sim, g_pos=g_pos, d_pos=d_pos, units=units[members], counts=counts))
    i_flat |= ~m_flat & d_out[:, None, :]
    g_ign_flat = g_ign  # (A, G)

    d_most = int(d_rank.max()) + 1 if len(d_rank) else 0  # most detections a unit has
    precision = -np.ones((T, R, C, A, M))
    recall = -np.ones((T, C, A, M))
    d_cat = d_unit // I if I else d_unit
    g_cat = g_unit // I if I else g_unit
    d_bounds = np.searchsorted(d_cat, np.arange(C + 1))
    g_bounds = np.searchsorted(g_cat, np.arange(C + 1))
    scores_all = d_score[d_idx]
    for c in range(C):
        ds, de = d_bounds[c], d_bounds[c + 1]
        gs, ge = g_bounds[c], g_bounds[c + 1]
        npig = np.count_nonzero(~g_ign_flat[:, gs:ge], axis=1)  # (A,)
        if not npig.any():
            continue
        for m, cap in enumerate(max_dets):
            if m and max_dets[m - 1] >= d_most:  # no unit has more detections than the smaller cap: same numbers
                precision[:, :, c, :, m] = precision[:, :, c, :, m - 1]
                recall[:, c, :, m] = recall[:, c, :, m - 1]
                continue
            sel = np.nonzero(d_rank[ds:de] < cap)[0] + ds
            sel = sel[np.argsort(-scores_all[sel], kind="mergesort")]
            nd = len(sel)
            if nd == 0:
                recall[:, c, npig > 0, m] = 0
                precision[:, :, c, npig > 0, m] = 0
                continue
            dtm = m_flat[:, :, sel]
            dtig = i_flat[:, :, sel]
            tp_sum = np.cumsum(dtm & ~dtig, axis=2, dtype=np.float64)  # counts: exact in float64
            fp_sum = np.cumsum(~dtm & ~dtig, axis=2, dtype=np.float64)
            pr_all = tp_sum / (fp_sum + tp_sum + EPS)
            pr_all = np.maximum.accumulate(pr_all[:, :, ::-1], axis=2)[:, :, ::-1]
            for a in np.nonzero(npig)[0]:
                rc = tp_sum[a] / npig[a]
                recall[:, c, a, m] = rc[:, -1]
                for t in range(T):
                    inds = np.searchsorted(rc[t], rec_thr, side="left")
                    precision[t, :, c, a, m] = np.where(inds < nd, pr_all[a, t, np.minimum(inds, nd - 1)], 0.0)

    return Matching(precision=precision, recall=recall, iou_thresholds=iou_thr, area_labels=area_labels,
                    max_dets=max_dets, category_ids=category_ids, g_rows=g_idx, d_rows=d_idx, g_ignore=g_ign,
                    g_crowd=crowd, blocks=blocks)


def _units(categories: np.ndarray, images: np.ndarray, category_ids: np.ndarray, image_ids: np.ndarray):
    """(rows kept, their unit = category index × I + image index) for objects of known ids."""
    categories = np.asarray(categories, np.int64)
    images = np.asarray(images, np.int64)
    ci = np.searchsorted(category_ids, categories)
    ii = np.searchsorted(image_ids, images)
    keep = (ci < len(category_ids)) & (ii < len(image_ids))
    keep[keep] &= (category_ids[ci[keep]] == categories[keep]) & (image_ids[ii[keep]] == images[keep])
    rows = np.nonzero(keep)[0]
    return rows, ci[rows] * len(image_ids) + ii[rows]


def _rank_within(sorted_groups: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal (sorted) group values."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.r_[0, np.nonzero(np.diff(sorted_groups))[0] + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def greedy(sim: np.ndarray, ign: np.ndarray, crowd: np.ndarray, thresholds: np.ndarray, counts: np.ndarray, *,
           reuse_crowd: bool) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' greedy matching in ``evaluateImg``, for n units at once.

    ``sim`` (n, D, k): similarity of each unit's rank-r detection to its j-th ground truth (-inf:
    none); ``ign`` (n, A, k) ground truth ignored per area range; ``crowd`` (n, k) crowd regions
    (absorb several detections when ``reuse_crowd``); ``counts`` (n,) detections per unit,
    descending. Returns (n, A, T, D) twice: the ground truth each detection took (-1: none), and
    whether that ground truth is ignored.

    A candidate's key orders it as pycocotools' loop does: non-ignored before ignored (2**62
    added), then by similarity (the bits of a float ≥ 0 order as the float does); the columns are
    reversed so that argmax's first maximum is pycocotools' last one.
    """
    n, D, k = sim.shape
    A, T = ign.shape[1], len(thresholds)
    bits = np.ascontiguousarray(np.where(np.isnan(sim), -np.inf, sim)[:, :, ::-1] + 0.0).view(np.int64)
    pref = np.ascontiguousarray(np.where(ign, np.int64(0), np.int64(1 << 62))[:, :, None, ::-1])  # (n, A, 1, k)
    reuse = np.ascontiguousarray(crowd[:, None, None, ::-1]) if reuse_crowd else None
    thr_bits = np.ascontiguousarray(np.maximum(np.asarray(thresholds, np.float64), 0.0) + 0.0).view(np.int64)
    thr_bits = thr_bits[None, None, :, None]
    taken = np.zeros((n, A, T, k), bool)
    pick = np.full((n, A, T, D), -1, np.int64)
    pick_ignored = np.zeros((n, A, T, D), bool)
    descending = -np.asarray(counts)
    for r in range(D):
        m = int(np.searchsorted(descending, -r, side="left"))  # units with more than r detections
        b = bits[:m, r][:, None, None, :]
        free = ~taken[:m] if reuse is None else ~taken[:m] | reuse[:m]
        key = np.where(free & (b >= thr_bits), b + pref[:m], -1)
        p = key.argmax(-1)
        best = np.take_along_axis(key, p[..., None], -1)[..., 0]
        hit = best >= 0
        u, a, t = np.nonzero(hit)
        q = p[hit]
        taken[u, a, t, q] = True
        pick[u, a, t, r] = k - 1 - q
        pick_ignored[u, a, t, r] = best[hit] < (1 << 62)
    return pick, pick_ignored


def mean_valid(s: np.ndarray) -> float:
    """pycocotools' summary of a precision/recall slice: the mean of the entries > −1, else −1."""
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def summarize_one(result: Matching, *, ap: bool, iou: float | None = None, area: str = "all",
                  max_det: int = 100) -> float:
    """pycocotools' ``COCOeval.summarize._summarize`` (one stat)."""
    aind = [i for i, label in enumerate(result.area_labels) if label == area]
    mind = [i for i, m in enumerate(result.max_dets) if m == max_det]
    if ap:
        s = result.precision
        if iou is not None:
            s = s[np.where(iou == result.iou_thresholds)[0]]
        s = s[:, :, :, aind, mind]
    else:
        s = result.recall
        if iou is not None:
            s = s[np.where(iou == result.iou_thresholds)[0]]
        s = s[:, :, aind, mind]
    return mean_valid(s)
