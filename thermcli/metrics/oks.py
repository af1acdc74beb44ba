"""COCO keypoint evaluation (object keypoint similarity, OKS), vectorised NumPy.

The ten numbers are those of ``pycocotools.cocoeval.COCOeval(iouType="keypoints")`` to within
1e-12 (tests compare them): AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl. Every rule of
the reference is reproduced on purpose, quirks included:

- crowd ground truth (``iscrowd``) and annotations with ``num_keypoints == 0`` are *ignored*:
  a detection matched to them is neither a true nor a false positive; a crowd region may absorb
  several detections;
- a ground truth with no visible keypoint is compared with the detection through its box (the
  distance outside the box enlarged by its own size on each side);
- detections are sorted by score (stable) and capped at ``max_dets`` (20) per image and category;
- greedy matching per OKS threshold 0.50:0.05:0.95, preferring non-ignored ground truth;
- precision is made monotone and read at the 101 recall points 0:0.01:1;
- area ranges (all / medium 32²–96² / large > 96²) decide which ground truth counts, and
  unmatched detections outside the range are ignored; a detection's area is its box area when
  the results carry boxes (decided by the first result, as ``COCO.loadRes`` does), else the
  extent of its keypoints;
- a match to a ground truth whose id is 0 counts as no match (pycocotools stores matches as
  ids and tests them for truth).

The matching and accumulation are the COCO core shared with box AP
(:mod:`thermcli.metrics.cocoeval`); this module adds the similarity (OKS, pycocotools'
``computeOks`` arithmetic), the keypoint ignore rule and the per-keypoint errors. COCO files are
read by the one COCO parser, :mod:`thermcli.io.coco`; ``thermcli eval --metric oks`` is wired in
:mod:`thermcli.stages.evaluate_coco`.

Low-resolution frames: every person in an 80×60 thermal frame is smaller than COCO's
"medium" range (32² px²), so APm/APl are −1 under the default ranges; :func:`area_warning`
says so, and ``area_ranges`` accepts custom ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from thermcli.errors import DataError
from thermcli.io.coco import CocoAnnotations, CocoResults, eval_ground_truth, eval_results, keypoint_extent_area
from thermcli.metrics import cocoeval as core

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0
# Exactly pycocotools' grids (np.linspace, not np.arange: see its comment).
IOU_THRESHOLDS = core.IOU_THRESHOLDS
REC_THRESHOLDS = core.REC_THRESHOLDS
DEFAULT_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0**2, 1e5**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
EPS = core.EPS


# Ground truth and detections are the COCO parser's flat arrays (thermcli.io.coco):
# KeypointGT: keypoints (G, K, 3) x, y, visibility; boxes (G, 4) xywh; areas; image_ids,
# category_ids, ids; iscrowd; num_keypoints; all_image_ids / all_category_ids; keypoint_names.
# KeypointDT: keypoints (D, K, 3), scores, areas, image_ids, category_ids.
KeypointGT = CocoAnnotations
KeypointDT = CocoResults


@dataclass
class OKSResult:
    stats: dict[str, float]
    precision: np.ndarray  # (T, R, C, A, M) as pycocotools' eval["precision"]
    recall: np.ndarray  # (T, C, A, M)
    area_labels: list[str]
    max_dets: list[int]
    per_keypoint: dict[str, dict[str, float]] = field(default_factory=dict)
    mean_pixel_error: float = float("nan")
    mean_oks: float = float("nan")
    matched: int = 0
    unmatched: int = 0
    by_area: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: float(v) for k, v in self.stats.items()},
            "by_area": self.by_area,
            "per_keypoint": self.per_keypoint,
            "mean_oks": _finite_or_none(self.mean_oks),
            "mean_pixel_error": _finite_or_none(self.mean_pixel_error),
            "matched": self.matched,
            "unmatched": self.unmatched,
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ---- loaders ---------------------------------------------------------------------------------


def gt_from_coco(coco: Mapping[str, Any], *, where: str = "ground truth") -> KeypointGT:
    """A COCO keypoints JSON (dict with images, annotations, categories) → :class:`KeypointGT`
    (the one COCO parser: :func:`thermcli.io.coco.eval_ground_truth`)."""
    return eval_ground_truth(coco, where=where, kind="keypoints")


def dt_from_coco(results: Sequence[Mapping[str, Any]], gt: KeypointGT, *, where: str = "predictions") -> KeypointDT:
    """A COCO results list (image_id, category_id, keypoints, score[, bbox]) → :class:`KeypointDT`.

    Checked as ``COCO.loadRes`` checks them: every image id must be in the ground truth.
    """
    return eval_results(results, gt, where=where, kind="keypoints")


def gt_from_arrays(
    keypoints: np.ndarray,
    boxes: np.ndarray | None = None,
    *,
    areas: np.ndarray | None = None,
    keypoint_names: list[str] | None = None,
    image_ids: np.ndarray | None = None,
) -> KeypointGT:
    """A thermcli dataset's ``keypoints`` (N, P, K, 3) and ``boxes`` (N, P, 4) → ground truth.

    Image id = row index (or ``image_ids`` (N,): several rows may be crops of one frame); a person slot counts when its box is finite or any keypoint is
    labelled. Area defaults to the box area (no segments here; COCO's segment area is smaller,
    so OKS is slightly more lenient than on COCO for the same pixel error).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[-1] != 3:
        raise DataError(f"keypoints must be (N, P, K, 3), got {keypoints.shape}")
    n, p, k, _ = keypoints.shape
    if boxes is None:
        boxes = _boxes_from_keypoints(keypoints)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(n, p, 4)
    vis = keypoints[..., 2] > 0
    present = np.isfinite(boxes).all(-1) | vis.any(-1)
    rows, slots = np.nonzero(present)
    kp = keypoints[rows, slots]
    kp = np.where(np.isfinite(kp), kp, 0.0)
    bx = boxes[rows, slots]
    fallback = _boxes_from_keypoints(kp[:, None])[:, 0]
    bx = np.where(np.isfinite(bx), bx, fallback)
    if areas is None:
        area = bx[:, 2] * bx[:, 3]
    else:
        area = np.asarray(areas, dtype=np.float64).reshape(n, p)[rows, slots]
    row_ids = np.arange(n, dtype=np.int64) if image_ids is None else np.asarray(image_ids, np.int64).reshape(n)
    return KeypointGT(
        keypoints=kp,
        boxes=bx,
        areas=area,
        image_ids=row_ids[rows],
        category_ids=np.ones(len(rows), np.int64),
        ids=np.arange(1, len(rows) + 1, dtype=np.int64),
        iscrowd=np.zeros(len(rows), bool),
        num_keypoints=np.count_nonzero(kp[..., 2] > 0, axis=1).astype(np.int64),
        all_image_ids=np.unique(row_ids),
        all_category_ids=np.array([1], np.int64),
        keypoint_names=keypoint_names,
    )


def dt_from_arrays(keypoints: np.ndarray, scores: np.ndarray | None = None, boxes: np.ndarray | None = None,
                   image_ids: np.ndarray | None = None) -> KeypointDT:
    """Predicted ``keypoints`` (N, P, K, 3) (third value = per-keypoint confidence), person
    ``scores`` (N, P) (NaN = no detection) and optional ``boxes`` → detections, image id = row."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[-1] != 3:
        raise DataError(f"predicted keypoints must be (N, P, K, 3), got {keypoints.shape}")
    n, p = keypoints.shape[:2]
    if scores is None:
        scores = np.where(np.isfinite(keypoints[..., :2]).all(-1).any(-1), keypoints[..., 2].mean(-1), np.nan)
    scores = np.asarray(scores, dtype=np.float64).reshape(n, p)
    present = np.isfinite(scores) & np.isfinite(keypoints[..., :2]).all(-1).all(-1)
    rows, slots = np.nonzero(present)
    kp = keypoints[rows, slots]
    if boxes is not None:
        bx = np.asarray(boxes, dtype=np.float64).reshape(n, p, 4)[rows, slots]
        areas = bx[:, 2] * bx[:, 3]
    else:
        areas = keypoint_extent_area(kp)
    row_ids = np.arange(n, dtype=np.int64) if image_ids is None else np.asarray(image_ids, np.int64).reshape(n)
    return KeypointDT(
        keypoints=kp,
        scores=scores[rows, slots],
        areas=areas,
        image_ids=row_ids[rows],
        category_ids=np.ones(len(rows), np.int64),
    )


def dt_to_coco(dt: KeypointDT) -> list[dict[str, Any]]:
    """Detections as a COCO results list (for pycocotools or a results JSON file)."""
    return [
        {
            "image_id": int(i),
            "category_id": int(c),
            "keypoints": [float(v) for v in kp.ravel()],
            "score": float(s),
        }
        for i, c, kp, s in zip(dt.image_ids, dt.category_ids, dt.keypoints, dt.scores)
    ]


def gt_to_coco(gt: KeypointGT) -> dict[str, Any]:
    names = gt.keypoint_names or [f"k{i}" for i in range(gt.num_joints)]
    return {
        "images": [{"id": int(i)} for i in gt.all_image_ids],
        "categories": [{"id": int(c), "name": "person", "keypoints": names} for c in gt.all_category_ids],
        "annotations": [
            {
                "id": int(gt.ids[j]),
                "image_id": int(gt.image_ids[j]),
                "category_id": int(gt.category_ids[j]),
                "keypoints": [float(v) for v in gt.keypoints[j].ravel()],
                "num_keypoints": int(gt.num_keypoints[j]),
                "bbox": [float(v) for v in gt.boxes[j]],
                "area": float(gt.areas[j]),
                "iscrowd": int(gt.iscrowd[j]),
            }
            for j in range(len(gt.ids))
        ],
    }


def _boxes_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """(N, P, K, 3) → (N, P, 4) xywh of the labelled keypoints (NaN where none)."""
    vis = keypoints[..., 2] > 0
    x = np.where(vis, keypoints[..., 0], np.nan)
    y = np.where(vis, keypoints[..., 1], np.nan)
    with np.errstate(all="ignore"), _quiet_nan():
        x0, x1 = np.nanmin(x, -1), np.nanmax(x, -1)
        y0, y1 = np.nanmin(y, -1), np.nanmax(y, -1)
    return np.stack([x0, y0, x1 - x0, y1 - y0], -1)


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# ---- evaluation ------------------------------------------------------------------------------


def area_warning(gt: KeypointGT, area_ranges: Mapping[str, tuple[float, float]] | None = None) -> str | None:
    """A message when every counted person is smaller than the 'medium' range (APm/APl = −1)."""
    ranges = dict(area_ranges or DEFAULT_AREA_RANGES)
    if "medium" not in ranges:
        return None
    counted = ~(gt.iscrowd | (gt.num_keypoints == 0))
    if not counted.any():
        return None
    largest = float(gt.areas[counted].max())
    if largest < ranges["medium"][0]:
        return (
            f"every person is smaller than the 'medium' area range (largest {largest:.0f} px² < "
            f"{ranges['medium'][0]:.0f} px²), so APm/APl/ARm/ARl are -1; pass custom area ranges "
            "(e.g. --area-ranges medium=0:400,large=400:1e10) to split them"
        )
    return None


def evaluate_oks(
    gt: KeypointGT,
    dt: KeypointDT,
    *,
    sigmas: Sequence[float] | np.ndarray | None = None,
    max_dets: Sequence[int] = (20,),
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
    iou_thresholds: np.ndarray | None = None,
    rec_thresholds: np.ndarray | None = None,
) -> OKSResult:
    """COCO keypoint AP/AR (pycocotools' ``COCOeval(iouType='keypoints')``, vectorised).

    ``sigmas`` (K,) per-keypoint OKS constants (default COCO's 17); ``area_ranges`` label →
    (lo, hi) px² (labels 'all', 'medium', 'large' feed the ten stats; others appear in
    ``by_area``).
    """
    k = gt.num_joints
    if dt.keypoints.shape[1] != k:
        raise DataError(f"predictions have {dt.keypoints.shape[1]} keypoints, the ground truth {k}")
    sigmas = np.asarray(COCO_SIGMAS if sigmas is None else sigmas, dtype=np.float64)
    if sigmas.shape != (k,):
        raise DataError(f"{sigmas.size} OKS sigmas for {k} keypoints")
    ranges = dict(DEFAULT_AREA_RANGES if area_ranges is None else area_ranges)
    match = core.evaluate(
        g_image=gt.image_ids, g_category=gt.category_ids, g_id=gt.ids, g_area=gt.areas,
        g_ignore=gt.iscrowd | (gt.num_keypoints == 0), g_crowd=gt.iscrowd, d_image=dt.image_ids,
        d_category=dt.category_ids, d_score=dt.scores, d_area=dt.areas, image_ids=gt.all_image_ids,
        category_ids=gt.all_category_ids, similarity=lambda gi, di: pair_oks(gt, dt, gi, di, sigmas),
        max_dets=max_dets, area_ranges=ranges, iou_thresholds=iou_thresholds, rec_thresholds=rec_thresholds,
    )
    stats = _summarize(match)
    by_area = {
        label: {"AP": core.summarize_one(match, ap=True, area=label, max_det=20),
                "AR": core.summarize_one(match, ap=False, area=label, max_det=20)}
        for label in match.area_labels
    }
    result = OKSResult(stats=stats, precision=match.precision, recall=match.recall, area_labels=match.area_labels,
                       max_dets=match.max_dets, by_area=by_area)
    _per_keypoint(result, gt, dt, sigmas, match)
    return result


def pair_oks(gt: KeypointGT, dt: KeypointDT, gi: np.ndarray, di: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS of paired ground truth rows ``gi`` and detections ``di``, in pycocotools' arithmetic
    (``computeOks``): a ground truth with no visible keypoint is compared through its box, the
    distance outside the box enlarged by its own size on each side."""
    gk = gt.keypoints[gi]
    dk = dt.keypoints[di]
    xg, yg, vg = gk[..., 0], gk[..., 1], gk[..., 2]
    xd, yd = dk[..., 0], dk[..., 1]
    vis = vg > 0
    k1 = np.count_nonzero(vis, axis=1)
    bb = gt.boxes[gi]
    x0 = (bb[:, 0] - bb[:, 2])[:, None]
    x1 = (bb[:, 0] + bb[:, 2] * 2)[:, None]
    y0 = (bb[:, 1] - bb[:, 3])[:, None]
    y1 = (bb[:, 1] + bb[:, 3] * 2)[:, None]
    labelled = (k1 > 0)[:, None]
    dx = np.where(labelled, xd - xg, np.maximum(0, x0 - xd) + np.maximum(0, xd - x1))
    dy = np.where(labelled, yd - yg, np.maximum(0, y0 - yd) + np.maximum(0, yd - y1))
    variances = (sigmas * 2) ** 2
    area = gt.areas[gi][:, None]
    e = (dx**2 + dy**2) / variances / (area + EPS) / 2
    mask = np.where(labelled, vis, True)
    sim = np.where(mask, np.exp(-e), 0.0)
    denom = np.where(k1 > 0, k1, gk.shape[1])
    return sim.sum(axis=1) / denom


def _summarize(match: core.Matching) -> dict[str, float]:
    """pycocotools' ``_summarizeKps``: ten means over valid (> −1) entries, maxDets = 20."""
    one = core.summarize_one
    values = [
        one(match, ap=True, max_det=20), one(match, ap=True, iou=0.5, max_det=20),
        one(match, ap=True, iou=0.75, max_det=20), one(match, ap=True, area="medium", max_det=20),
        one(match, ap=True, area="large", max_det=20), one(match, ap=False, max_det=20),
        one(match, ap=False, iou=0.5, max_det=20), one(match, ap=False, iou=0.75, max_det=20),
        one(match, ap=False, area="medium", max_det=20), one(match, ap=False, area="large", max_det=20),
    ]  # fmt: skip
    return dict(zip(STAT_NAMES, values))


def _per_keypoint(result: OKSResult, gt: KeypointGT, dt: KeypointDT, sigmas: np.ndarray, match: core.Matching) -> None:
    """Per-keypoint similarity and pixel error of each counted ground-truth person ('all' range).

    Each person takes the detection the greedy COCO matching gives it with no OKS threshold
    (highest score first, best OKS); people left without a detection are counted, not averaged.
    """
    names = gt.keypoint_names or [f"k{i}" for i in range(gt.num_joints)]
    a = match.area_labels.index("all") if "all" in match.area_labels else 0
    ign = match.g_ignore[a]  # (G,) by position
    n_counted = int(np.count_nonzero(~ign))
    found = []  # (unit, ground-truth rank, g position, d position, oks) of each counted match
    for block in match.blocks:
        # replay the greedy match at threshold 0 for 'all' (crowd regions absorb nothing here)
        pick = core.greedy(block.sim, ign[block.g_pos][:, None, :], match.g_crowd[block.g_pos], np.zeros(1),
                           block.counts, reuse_crowd=False)[0][:, 0, 0, :]
        rr, cc = np.nonzero(pick >= 0)
        col = pick[rr, cc]
        keep = ~ign[block.g_pos[rr, col]]
        rr, cc, col = rr[keep], cc[keep], col[keep]
        found.append(np.stack([block.units[rr], col, block.g_pos[rr, col], block.d_pos[rr, cc]]))
        found.append(block.sim[rr, cc, col][None])
    matches = np.concatenate(found[0::2], axis=1) if found else np.zeros((4, 0), np.int64)
    values = np.concatenate(found[1::2], axis=1)[0] if found else np.zeros(0)
    order = np.lexsort((matches[1], matches[0]))  # (category, image) order, then the person's rank
    result.matched = int(matches.shape[1])
    result.unmatched = n_counted - result.matched
    if result.matched == 0:
        return
    gi = match.g_rows[matches[2, order]]
    di = match.d_rows[matches[3, order]]
    gk = gt.keypoints[gi]
    dk = dt.keypoints[di]
    vis = gk[..., 2] > 0
    dist2 = (dk[..., 0] - gk[..., 0]) ** 2 + (dk[..., 1] - gk[..., 1]) ** 2
    e = dist2 / ((sigmas * 2) ** 2) / (gt.areas[gi][:, None] + EPS) / 2
    sim = np.exp(-e)
    dist = np.sqrt(dist2)
    result.mean_oks = float(values[order].mean())
    result.mean_pixel_error = float(dist[vis].mean()) if vis.any() else float("nan")
    per = {}
    for j, name in enumerate(names):
        v = vis[:, j]
        per[name] = {
            "oks": float(sim[v, j].mean()) if v.any() else None,
            "pixel_error": float(dist[v, j].mean()) if v.any() else None,
            "count": int(v.sum()),
        }
    result.per_keypoint = per


def evaluate_coco_files(gt_json: Mapping[str, Any], results: Sequence[Mapping[str, Any]], **kwargs: Any) -> OKSResult:
    """Convenience: COCO ground-truth dict + results list → :class:`OKSResult`."""
    gt = gt_from_coco(gt_json)
    return evaluate_oks(gt, dt_from_coco(results, gt), **kwargs)
