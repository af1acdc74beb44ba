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

Where the reference loops over images, detections and ground truth in Python, this module pads
every (category, image) unit to the same number of objects and processes all units, thresholds
and area ranges at once, one detection rank at a time (units sorted by their number of
detections, so rank r only touches the units that have r + 1 detections).
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
class Matching:
    """What :func:`evaluate` computed, for summaries and for per-object follow-ups (OKS's
    per-keypoint errors replay the matching on ``sim``)."""

    precision: np.ndarray  # (T, R, C, A, M) as pycocotools' eval["precision"]
    recall: np.ndarray  # (T, C, A, M)
    iou_thresholds: np.ndarray
    area_labels: list[str]
    max_dets: list[int]
    category_ids: np.ndarray  # (C,)
    # padded per-unit tables (units sorted by descending detection count)
    sim: np.ndarray  # (U, Dm, Gm) similarity, -inf = padding
    g_valid: np.ndarray  # (U, Gm)
    g_ignore: np.ndarray  # (A, U, Gm)
    g_map: np.ndarray  # (U, Gm) ground-truth row (-1 = padding)
    d_map: np.ndarray  # (U, Dm) detection row (-1 = padding)
    unit_rows: np.ndarray  # (U,) table row of each unit, units in (category, image) order


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
    g_rank = _rank_within(g_unit)
    # detections: per unit by descending score (stable), capped at max_det
    order = np.lexsort((np.arange(len(d_idx)), -d_score[d_idx], d_unit))
    d_idx, d_unit = d_idx[order], d_unit[order]
    d_rank = _rank_within(d_unit)
    capped = d_rank < max_det
    d_idx, d_unit, d_rank = d_idx[capped], d_unit[capped], d_rank[capped]

    # padded tables over the units that hold anything; rows sorted by the unit's number of ground
    # truth (ascending), then of detections (descending): a block of rows with k ground truth
    # needs only k columns, and rank r only the block's rows that have r + 1 detections
    units = np.unique(np.r_[g_unit, d_unit])
    U = len(units)
    d_count = np.bincount(np.searchsorted(units, d_unit), minlength=U)
    g_count = np.bincount(np.searchsorted(units, g_unit), minlength=U)
    perm = np.lexsort((-d_count, g_count))  # table row → index into units
    row_of = np.empty(U, np.int64)
    row_of[perm] = np.arange(U)
    g_u = row_of[np.searchsorted(units, g_unit)]
    d_u = row_of[np.searchsorted(units, d_unit)]
    row_g, row_d = g_count[perm], d_count[perm]
    Dm = int(d_rank.max()) + 1 if len(d_rank) else 0
    Gm = int(g_rank.max()) + 1 if len(g_rank) else 0

    g_valid = np.zeros((U, Gm), bool)
    g_valid[g_u, g_rank] = True
    g_crowd_t = np.zeros((U, Gm), bool)
    g_crowd_t[g_u, g_rank] = g_crowd[g_idx]
    g_id_t = np.zeros((U, Gm), np.int64)
    g_id_t[g_u, g_rank] = g_id[g_idx]
    g_area_t = np.zeros((U, Gm))
    g_area_t[g_u, g_rank] = g_area[g_idx]
    g_base = np.zeros((U, Gm), bool)
    g_base[g_u, g_rank] = g_ignore[g_idx]
    lo, hi = area_bounds[:, 0, None, None], area_bounds[:, 1, None, None]
    g_ign = g_base[None] | (g_area_t[None] < lo) | (g_area_t[None] > hi)  # (A, U, Gm)
    d_out_flat = (d_area[d_idx][None] < area_bounds[:, :1]) | (d_area[d_idx][None] > area_bounds[:, 1:])  # (A, n)

    sim = np.full((U, Dm, Gm), -np.inf)  # -inf: padding, never matches
    if len(g_idx) and len(d_idx):
        pair_d, pair_g = _pairs(g_u, d_u)
        sim[d_u[pair_d], d_rank[pair_d], g_rank[pair_g]] = similarity(g_idx[pair_g], d_idx[pair_d])

    # greedy matching: all units × area ranges × thresholds at once, one detection rank at a time.
    # A candidate's key orders it as pycocotools' loop does: non-ignored before ignored (2**62
    # added), then by similarity (the bits of a float ≥ 0 order as the float does); ground truth
    # columns are reversed so that argmax's first maximum is pycocotools' last one.
    sim_bits = np.ascontiguousarray(np.where(np.isnan(sim), -np.inf, sim)[:, :, ::-1] + 0.0).view(np.int64)
    pref = np.where(g_ign, np.int64(0), np.int64(1 << 62))[:, :, ::-1].transpose(1, 0, 2)[:, :, None, :]  # (U, A, 1, Gm)
    pref = np.ascontiguousarray(pref)
    crowd_r = np.ascontiguousarray(g_crowd_t[:, ::-1])[:, None, None, :]
    id_r = g_id_t[:, ::-1]
    thr_bits = np.ascontiguousarray(np.minimum(iou_thr, 1 - 1e-10)).view(np.int64)[None, None, :, None]
    g_taken = np.zeros((U, A, T, Gm), bool)
    matched = np.zeros((U, A, T, Dm), bool)  # pycocotools' dtm != 0
    ignored = np.zeros((U, A, T, Dm), bool)
    for k in np.unique(row_g[row_g > 0]):
        start, stop = np.searchsorted(row_g, [k, k + 1])
        cols = slice(Gm - k, Gm)  # the block's k ground truth (reversed) columns
        descending = -row_d[start:stop]
        for r in range(int(row_d[start])):
            stop_r = start + int(np.searchsorted(descending, -r, side="left"))  # rows with count > r
            rows = slice(start, stop_r)
            bits = sim_bits[rows, r, cols][:, None, None, :]  # (n, 1, 1, k)
            cand = (~g_taken[rows, :, :, cols] | crowd_r[rows, :, :, cols]) & (bits >= thr_bits)
            key = np.where(cand, bits + pref[rows, :, :, cols], -1)
            pick = key.argmax(-1)
            best = np.take_along_axis(key, pick[..., None], -1)[..., 0]
            hit = best >= 0
            u_i, a_i, t_i = np.nonzero(hit)
            u_i += start
            p_i = pick[hit] + (Gm - k)
            g_taken[u_i, a_i, t_i, p_i] = True
            matched[u_i, a_i, t_i, r] = id_r[u_i, p_i] != 0
            ignored[u_i, a_i, t_i, r] = best[hit] < (1 << 62)

    # back to flat detections in pycocotools' order (category, image, rank)
    if len(d_idx):
        m_flat = matched[d_u, :, :, d_rank].transpose(1, 2, 0)  # (A, T, n)
        i_flat = ignored[d_u, :, :, d_rank].transpose(1, 2, 0)
    else:
        m_flat = i_flat = np.zeros((A, T, 0), bool)
    i_flat = i_flat | (~m_flat & d_out_flat[:, None, :])
    g_ign_flat = g_ign[:, g_u, g_rank]  # (A, G)

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
            if m and max_dets[m - 1] >= Dm:  # no unit has more detections than the smaller cap: same numbers
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

    g_map = np.full((U, Gm), -1)
    g_map[g_u, g_rank] = g_idx
    d_map = np.full((U, Dm), -1)
    d_map[d_u, d_rank] = d_idx
    return Matching(precision=precision, recall=recall, iou_thresholds=iou_thr, area_labels=area_labels,
                    max_dets=max_dets, category_ids=category_ids, sim=sim, g_valid=g_valid, g_ignore=g_ign,
                    g_map=g_map, d_map=d_map, unit_rows=row_of)


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


def _pairs(g_u: np.ndarray, d_u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground truth) pair sharing a table row: (positions in d, positions in g)."""
    g_sort = np.argsort(g_u, kind="stable")
    g_sorted = g_u[g_sort]
    start = np.searchsorted(g_sorted, d_u, side="left")
    counts = np.searchsorted(g_sorted, d_u, side="right") - start
    pair_d = np.repeat(np.arange(len(d_u)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_g = g_sort[np.repeat(start, counts) + offsets]
    return pair_d, pair_g


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """argmax along the last axis, ties resolved to the LAST index (pycocotools' ``<`` test)."""
    g = values.shape[-1]
    if g == 0:
        return np.zeros(values.shape[:-1], np.int64)
    return g - 1 - np.argmax(values[..., ::-1], axis=-1)


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
