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

Where the reference loops over images, detections and ground truth in Python, this module
pads every (category, image) unit to the same number of people and processes all units,
thresholds and area ranges at once, one detection rank at a time.

Low-resolution frames: every person in an 80×60 thermal frame is smaller than COCO's
"medium" range (32² px²), so APm/APl are −1 under the default ranges; :func:`area_warning`
says so, and ``area_ranges`` accepts custom ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from thermcli.errors import DataError

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0
# Exactly pycocotools' grids (np.linspace, not np.arange: see its comment).
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
DEFAULT_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0**2, 1e5**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
EPS = np.spacing(1)


@dataclass
class KeypointGT:
    """Ground-truth people, one row each.

    ``keypoints`` (G, K, 3) float64 x, y, visibility in image pixels; ``boxes`` (G, 4) xywh;
    ``areas`` (G,) px² (COCO: the segment's area); ``image_ids``/``category_ids``/``ids`` (G,);
    ``iscrowd`` (G,) bool; ``num_keypoints`` (G,) int. ``all_image_ids``: every image of the
    set (images without people still count: their detections are false positives).
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    ids: np.ndarray
    iscrowd: np.ndarray
    num_keypoints: np.ndarray
    all_image_ids: np.ndarray
    all_category_ids: np.ndarray
    keypoint_names: list[str] | None = None

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])


@dataclass
class KeypointDT:
    """Detections: ``keypoints`` (D, K, 3), ``scores`` (D,), ``areas`` (D,), ``image_ids``,
    ``category_ids`` (D,). Ids are 1..D in input order, as ``COCO.loadRes`` assigns them."""

    keypoints: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray


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
    """A COCO keypoints JSON (dict with images, annotations, categories) → :class:`KeypointGT`."""
    if not isinstance(coco, Mapping) or "annotations" not in coco or "images" not in coco:
        raise DataError("not a COCO ground-truth file (needs 'images' and 'annotations')", path=where)
    anns = list(coco["annotations"])
    image_ids = np.unique(np.array([img["id"] for img in coco["images"]], dtype=np.int64))
    category_ids = np.unique(np.array([c["id"] for c in coco.get("categories", [])] or [1], dtype=np.int64))
    names = None
    for cat in coco.get("categories", []):
        if cat.get("keypoints"):
            names = list(cat["keypoints"])
            break
    k = None
    rows = []
    for ann in anns:
        if "keypoints" not in ann:
            raise DataError(f"annotation {ann.get('id')} has no keypoints", path=where)
        values = np.asarray(ann["keypoints"], dtype=np.float64)
        if values.size % 3:
            raise DataError(f"annotation {ann.get('id')}: keypoints length {values.size} is not a multiple of 3", path=where)
        if k is None:
            k = values.size // 3
        elif values.size // 3 != k:
            raise DataError(f"annotation {ann.get('id')} has {values.size // 3} keypoints, others {k}", path=where)
        rows.append(values.reshape(k, 3))
    k = k if k is not None else (len(names) if names else 17)
    keypoints = np.stack(rows) if rows else np.zeros((0, k, 3))
    vis_count = np.count_nonzero(keypoints[..., 2] > 0, axis=1)
    return KeypointGT(
        keypoints=keypoints,
        boxes=np.array([a.get("bbox", [0, 0, 0, 0]) for a in anns], dtype=np.float64).reshape(-1, 4),
        areas=np.array([a["area"] for a in anns], dtype=np.float64),
        image_ids=np.array([a["image_id"] for a in anns], dtype=np.int64),
        category_ids=np.array([a.get("category_id", 1) for a in anns], dtype=np.int64),
        ids=np.array([a.get("id", i + 1) for i, a in enumerate(anns)], dtype=np.int64),
        iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        num_keypoints=np.array(
            [a["num_keypoints"] if "num_keypoints" in a else int(c) for a, c in zip(anns, vis_count)], dtype=np.int64
        ),
        all_image_ids=image_ids,
        all_category_ids=category_ids,
        keypoint_names=names,
    )


def dt_from_coco(results: Sequence[Mapping[str, Any]], gt: KeypointGT, *, where: str = "predictions") -> KeypointDT:
    """A COCO results list (image_id, category_id, keypoints, score[, bbox]) → :class:`KeypointDT`.

    Checked as ``COCO.loadRes`` checks them: every image id must be in the ground truth.
    """
    if not isinstance(results, Sequence) or isinstance(results, (str, bytes)):
        raise DataError("not a COCO results file (expected a JSON list of detections)", path=where)
    k = gt.num_joints
    n = len(results)
    keypoints = np.zeros((n, k, 3))
    for i, res in enumerate(results):
        if "keypoints" not in res or "image_id" not in res:
            raise DataError(f"result {i} lacks 'keypoints' or 'image_id'", path=where)
        values = np.asarray(res["keypoints"], dtype=np.float64).ravel()
        if values.size != 3 * k:
            raise DataError(
                f"result {i} (image {res['image_id']}) has {values.size // 3} keypoints; the ground truth has {k}",
                path=where,
            )
        keypoints[i] = values.reshape(k, 3)
    image_ids = np.array([r["image_id"] for r in results], dtype=np.int64)
    unknown = np.setdiff1d(image_ids, gt.all_image_ids)
    if unknown.size:
        shown = ", ".join(str(int(v)) for v in unknown[:5])
        raise DataError(
            f"predictions for {unknown.size} image id(s) not in the ground truth ({shown}{', …' if unknown.size > 5 else ''})",
            path=where,
        )
    if n and "bbox" in results[0] and len(results[0]["bbox"]) > 0:
        try:  # COCO.loadRes: the first result decides; then area = box area for all
            areas = np.array([float(r["bbox"][2]) * float(r["bbox"][3]) for r in results])
        except (KeyError, IndexError, TypeError):
            raise DataError("the first result has a bbox, so every result needs one", path=where) from None
    else:
        areas = keypoint_extent_area(keypoints)
    return KeypointDT(
        keypoints=keypoints,
        scores=np.array([float(r.get("score", 1.0)) for r in results], dtype=np.float64),
        areas=areas,
        image_ids=image_ids,
        category_ids=np.array([r.get("category_id", 1) for r in results], dtype=np.int64),
    )


def keypoint_extent_area(keypoints: np.ndarray) -> np.ndarray:
    """Area of the box spanned by all K keypoints (visible or not), as ``COCO.loadRes`` computes it."""
    if keypoints.shape[0] == 0:
        return np.zeros(0)
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))


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
    area_labels = list(ranges)
    area_bounds = np.array([ranges[a] for a in area_labels], dtype=np.float64).reshape(-1, 2)
    iou_thr = IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, np.float64)
    rec_thr = REC_THRESHOLDS if rec_thresholds is None else np.asarray(rec_thresholds, np.float64)
    max_dets = sorted(int(m) for m in max_dets)
    max_det = max_dets[-1]
    T, R, A, M = len(iou_thr), len(rec_thr), len(area_labels), len(max_dets)

    # units = (category, image) pairs, ordered category-major then by image id
    img_index = {int(v): i for i, v in enumerate(gt.all_image_ids)}
    cat_ids = gt.all_category_ids
    cat_index = {int(v): i for i, v in enumerate(cat_ids)}
    I, C = len(gt.all_image_ids), len(cat_ids)
    g_keep = np.isin(gt.category_ids, cat_ids) & np.isin(gt.image_ids, gt.all_image_ids)
    d_keep = np.isin(dt.category_ids, cat_ids) & np.isin(dt.image_ids, gt.all_image_ids)
    g_idx = np.nonzero(g_keep)[0]
    d_idx = np.nonzero(d_keep)[0]
    g_unit = _unit_of(gt.category_ids[g_idx], gt.image_ids[g_idx], cat_index, img_index, I)
    d_unit = _unit_of(dt.category_ids[d_idx], dt.image_ids[d_idx], cat_index, img_index, I)

    # ground truth grouped by unit, in input order (as pycocotools' per-image lists)
    g_order = np.argsort(g_unit, kind="stable")
    g_idx, g_unit = g_idx[g_order], g_unit[g_order]
    g_rank = _rank_within(g_unit)
    # detections: per unit by descending score (stable), capped at max_det
    d_order = np.lexsort((np.arange(len(d_idx)), -dt.scores[d_idx], d_unit))
    d_idx, d_unit = d_idx[d_order], d_unit[d_order]
    d_rank = _rank_within(d_unit)
    capped = d_rank < max_det
    d_idx, d_unit, d_rank = d_idx[capped], d_unit[capped], d_rank[capped]

    units = np.union1d(g_unit, d_unit)  # units with anything to evaluate
    U = len(units)
    g_u = np.searchsorted(units, g_unit)
    d_u = np.searchsorted(units, d_unit)
    Gm = int(g_rank.max()) + 1 if len(g_rank) else 0
    Dm = int(d_rank.max()) + 1 if len(d_rank) else 0

    # padded per-unit tables
    g_valid = np.zeros((U, Gm), bool)
    g_valid[g_u, g_rank] = True
    g_crowd = np.zeros((U, Gm), bool)
    g_crowd[g_u, g_rank] = gt.iscrowd[g_idx]
    g_id = np.zeros((U, Gm), np.int64)
    g_id[g_u, g_rank] = gt.ids[g_idx]
    g_area = np.zeros((U, Gm))
    g_area[g_u, g_rank] = gt.areas[g_idx]
    g_base_ignore = np.zeros((U, Gm), bool)
    g_base_ignore[g_u, g_rank] = gt.iscrowd[g_idx] | (gt.num_keypoints[g_idx] == 0)
    # gtIg per area range: (A, U, Gm)
    g_ignore = g_base_ignore[None] | (g_area[None] < area_bounds[:, 0, None, None]) | (
        g_area[None] > area_bounds[:, 1, None, None]
    )
    d_valid = np.zeros((U, Dm), bool)
    d_valid[d_u, d_rank] = True
    d_area = np.zeros((U, Dm))
    d_area[d_u, d_rank] = dt.areas[d_idx]
    d_out = (d_area[None] < area_bounds[:, 0, None, None]) | (d_area[None] > area_bounds[:, 1, None, None])

    oks = np.full((U, Dm, Gm), -np.inf)  # -inf: padding, never matches
    pair_oks, pair_d, pair_g = _pairwise_oks(gt, dt, g_idx, g_u, d_idx, d_u, sigmas)
    oks[d_u[pair_d], d_rank[pair_d], g_rank[pair_g]] = pair_oks

    # greedy matching, all units × thresholds × area ranges at once, one detection rank at a time
    thr = np.minimum(iou_thr, 1 - 1e-10)[None, None, :, None]  # (1, 1, T, 1)
    g_taken = np.zeros((A, U, T, Gm), bool)
    d_matched = np.zeros((A, U, T, Dm), bool)  # pycocotools' dtm != 0
    d_ignore = np.zeros((A, U, T, Dm), bool)
    ign = g_ignore[:, :, None, :]
    free_base = g_valid[None, :, None, :]
    crowd = g_crowd[None, :, None, :]
    for r in range(Dm):
        s = oks[:, r, :][None, :, None, :]  # (1, U, 1, Gm)
        cand = free_base & (~g_taken | crowd) & (s >= thr) & d_valid[None, :, None, r : r + 1]
        cand0 = cand & ~ign
        cand1 = cand & ign
        has0 = cand0.any(-1)
        has1 = cand1.any(-1) & ~has0
        pick0 = _last_argmax(np.where(cand0, s, -np.inf))
        pick1 = _last_argmax(np.where(cand1, s, -np.inf))
        pick = np.where(has0, pick0, pick1)
        hit = has0 | has1
        a_i, u_i, t_i = np.nonzero(hit)
        p_i = pick[a_i, u_i, t_i]
        g_taken[a_i, u_i, t_i, p_i] = True
        d_matched[a_i, u_i, t_i, r] = g_id[u_i, p_i] != 0
        d_ignore[a_i, u_i, t_i, r] = ign[a_i, u_i, 0, p_i]
    d_ignore |= ~d_matched & d_out[:, :, None, :]

    # accumulate: per category, area range and detection cap, over all images at once
    precision = -np.ones((T, R, C, A, M))
    recall = -np.ones((T, C, A, M))
    unit_cat = units // I
    d_score = np.full((U, Dm), -np.inf)
    d_score[d_u, d_rank] = dt.scores[d_idx]
    for c in range(C):
        in_c = unit_cat == c
        if not in_c.any():
            continue
        for a in range(A):
            npig = int(np.count_nonzero(g_valid[in_c] & ~g_ignore[a][in_c]))
            if npig == 0:
                continue
            for m, cap in enumerate(max_dets):
                sel = d_valid[in_c][:, :cap]
                scores = d_score[in_c][:, :cap][sel]  # image order, then rank: pycocotools' concat
                order = np.argsort(-scores, kind="mergesort")
                scores = scores[order]
                dtm = d_matched[a][in_c][:, :, :cap].transpose(1, 0, 2)[:, sel][:, order]
                dtig = d_ignore[a][in_c][:, :, :cap].transpose(1, 0, 2)[:, sel][:, order]
                tps = dtm & ~dtig
                fps = ~dtm & ~dtig
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
                nd = tp_sum.shape[1]
                if nd == 0:
                    recall[:, c, a, m] = 0
                    precision[:, :, c, a, m] = 0
                    continue
                rc = tp_sum / npig
                pr = tp_sum / (fp_sum + tp_sum + EPS)
                recall[:, c, a, m] = rc[:, -1]
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(T):
                    inds = np.searchsorted(rc[t], rec_thr, side="left")
                    q = np.where(inds < nd, pr[t, np.minimum(inds, nd - 1)], 0.0)
                    precision[t, :, c, a, m] = q

    stats = _summarize(precision, recall, iou_thr, area_labels, max_dets)
    by_area = {
        label: {
            "AP": _mean_valid(precision[:, :, :, a, _index(max_dets, 20)]),
            "AR": _mean_valid(recall[:, :, a, _index(max_dets, 20)]),
        }
        for a, label in enumerate(area_labels)
    }
    result = OKSResult(
        stats=stats, precision=precision, recall=recall, area_labels=area_labels, max_dets=max_dets, by_area=by_area
    )
    _per_keypoint(result, gt, dt, sigmas, oks, units, g_u, g_rank, g_idx, d_u, d_rank, d_idx, g_ignore, g_valid,
                  area_labels, T, iou_thr)
    return result


def _unit_of(cats, imgs, cat_index, img_index, n_images) -> np.ndarray:
    c = np.array([cat_index[int(v)] for v in cats], dtype=np.int64)
    i = np.array([img_index[int(v)] for v in imgs], dtype=np.int64)
    return c * n_images + i


def _rank_within(sorted_groups: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal (sorted) group values."""
    n = len(sorted_groups)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.r_[0, np.nonzero(np.diff(sorted_groups))[0] + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """argmax along the last axis, ties resolved to the LAST index (pycocotools' ``<`` test)."""
    g = values.shape[-1]
    if g == 0:
        return np.zeros(values.shape[:-1], np.int64)
    return g - 1 - np.argmax(values[..., ::-1], axis=-1)


def _pairwise_oks(gt, dt, g_idx, g_u, d_idx, d_u, sigmas):
    """OKS of every (detection, ground truth) pair sharing a unit, in pycocotools' arithmetic."""
    if len(g_idx) == 0 or len(d_idx) == 0:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    # pairs: for each detection, the ground truth of its unit (both sorted by unit)
    g_start = np.searchsorted(g_u, d_u, side="left")
    g_stop = np.searchsorted(g_u, d_u, side="right")
    counts = g_stop - g_start
    pair_d = np.repeat(np.arange(len(d_idx)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_g = np.repeat(g_start, counts) + offsets
    gk = gt.keypoints[g_idx[pair_g]]
    dk = dt.keypoints[d_idx[pair_d]]
    xg, yg, vg = gk[..., 0], gk[..., 1], gk[..., 2]
    xd, yd = dk[..., 0], dk[..., 1]
    vis = vg > 0
    k1 = np.count_nonzero(vis, axis=1)
    bb = gt.boxes[g_idx[pair_g]]
    x0 = (bb[:, 0] - bb[:, 2])[:, None]
    x1 = (bb[:, 0] + bb[:, 2] * 2)[:, None]
    y0 = (bb[:, 1] - bb[:, 3])[:, None]
    y1 = (bb[:, 1] + bb[:, 3] * 2)[:, None]
    labelled = (k1 > 0)[:, None]
    dx = np.where(labelled, xd - xg, np.maximum(0, x0 - xd) + np.maximum(0, xd - x1))
    dy = np.where(labelled, yd - yg, np.maximum(0, y0 - yd) + np.maximum(0, yd - y1))
    variances = (sigmas * 2) ** 2
    area = gt.areas[g_idx[pair_g]][:, None]
    e = (dx**2 + dy**2) / variances / (area + EPS) / 2
    mask = np.where(labelled, vis, True)
    sim = np.where(mask, np.exp(-e), 0.0)
    denom = np.where(k1 > 0, k1, gk.shape[1])
    return sim.sum(axis=1) / denom, pair_d, pair_g


def _index(values: list[int], wanted: int) -> list[int]:
    return [i for i, v in enumerate(values) if v == wanted]


def _mean_valid(s: np.ndarray) -> float:
    valid = s[s > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def _summarize(precision, recall, iou_thr, area_labels, max_dets) -> dict[str, float]:
    """pycocotools' ``_summarizeKps``: ten means over valid (> −1) entries, maxDets = 20."""

    def one(ap: bool, thr: float | None = None, area: str = "all") -> float:
        aind = [i for i, label in enumerate(area_labels) if label == area]
        mind = _index(max_dets, 20)
        s = precision if ap else recall
        if thr is not None:
            s = s[np.where(thr == iou_thr)[0]]
        s = s[:, :, :, aind, :][..., mind] if ap else s[:, :, aind, :][..., mind]
        return _mean_valid(s)

    values = [
        one(True), one(True, 0.5), one(True, 0.75), one(True, area="medium"), one(True, area="large"),
        one(False), one(False, 0.5), one(False, 0.75), one(False, area="medium"), one(False, area="large"),
    ]  # fmt: skip
    return dict(zip(STAT_NAMES, values))


def _per_keypoint(result, gt, dt, sigmas, oks, units, g_u, g_rank, g_idx, d_u, d_rank, d_idx, g_ignore, g_valid,
                  area_labels, T, iou_thr) -> None:
    """Per-keypoint similarity and pixel error of each counted ground-truth person ('all' range).

    Each person takes the detection the greedy COCO matching gives it with no OKS threshold
    (highest score first, best OKS); people left without a detection are counted, not averaged.
    """
    names = gt.keypoint_names or [f"k{i}" for i in range(gt.num_joints)]
    a = area_labels.index("all") if "all" in area_labels else 0
    counted = g_valid & ~g_ignore[a]
    n_counted = int(counted.sum())
    if n_counted == 0 or oks.shape[1] == 0:
        result.unmatched = n_counted
        return
    # replay the greedy match at the first threshold for 'all' to find each person's detection
    U, Dm, Gm = oks.shape
    thr = 0.0
    taken = np.zeros((U, Gm), bool)
    owner = np.full((U, Gm), -1)
    ign = g_ignore[a]
    for r in range(Dm):
        s = oks[:, r, :]
        cand = g_valid & ~taken & (s >= thr)
        cand0 = cand & ~ign
        cand1 = cand & ign
        has0 = cand0.any(-1)
        has1 = cand1.any(-1) & ~has0
        pick = np.where(has0, _last_argmax(np.where(cand0, s, -np.inf)), _last_argmax(np.where(cand1, s, -np.inf)))
        rows = np.nonzero(has0 | has1)[0]
        taken[rows, pick[rows]] = True
        owner[rows, pick[rows]] = r
    sel = counted & (owner >= 0)
    result.matched = int(sel.sum())
    result.unmatched = n_counted - result.matched
    if not sel.any():
        return
    gmap = np.full((U, Gm), -1)
    gmap[g_u, g_rank] = g_idx
    dmap = np.full((U, Dm), -1)
    dmap[d_u, d_rank] = d_idx
    uu, gg = np.nonzero(sel)
    gi = gmap[uu, gg]
    di = dmap[uu, owner[uu, gg]]
    gk = gt.keypoints[gi]
    dk = dt.keypoints[di]
    vis = gk[..., 2] > 0
    dist2 = (dk[..., 0] - gk[..., 0]) ** 2 + (dk[..., 1] - gk[..., 1]) ** 2
    e = dist2 / ((sigmas * 2) ** 2) / (gt.areas[gi][:, None] + EPS) / 2
    sim = np.exp(-e)
    dist = np.sqrt(dist2)
    result.mean_oks = float(oks[uu, owner[uu, gg], gg].mean())
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


# ---- `thermcli eval --metric oks` family ----------------------------------------------------

FAMILY = "oks"
METRICS = ("oks", "keypoints")
GATES = STAT_NAMES


def parse_area_ranges(text: str | None) -> dict[str, tuple[float, float]] | None:
    """``all=0:1e10,medium=0:400,large=400:1e10`` → {label: (lo, hi)} (px²)."""
    if not text:
        return None
    from thermcli.errors import UsageError

    ranges: dict[str, tuple[float, float]] = {}
    for part in text.split(","):
        label, _, span = part.partition("=")
        lo, _, hi = span.partition(":")
        try:
            ranges[label.strip()] = (float(lo), float(hi))
        except ValueError:
            raise UsageError(f"{part.strip()!r}: expected LABEL=LO:HI (px²)", param="--area-ranges") from None
        if not label.strip() or ranges[label.strip()][0] > ranges[label.strip()][1]:
            raise UsageError(f"{part.strip()!r}: expected LABEL=LO:HI with LO ≤ HI", param="--area-ranges")
    ranges.setdefault("all", (0.0, 1e10))
    return {"all": ranges.pop("all"), **ranges}


def _read_json(path, what: str):
    import json
    from pathlib import Path

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"no such {what} file", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{what} is not readable JSON ({' '.join(str(exc).split())[:80]})", path=str(path)) from None


def _ground_truth(context) -> tuple[KeypointGT, list[float] | None]:
    from pathlib import Path

    if context.data is None:
        from thermcli.errors import UsageError

        raise UsageError("give the ground truth (DATA or --gt)", param="--gt")
    if Path(context.data).suffix.lower() == ".json":
        return gt_from_coco(_read_json(context.data, "ground truth"), where=str(context.data)), None
    ds = context.ground_truth
    if ds.keypoints is None:
        raise DataError("has no keypoints: nothing to compare the predictions with", path=str(context.data))
    keypoints, boxes, image_ids = crops_to_frames(ds, ds.keypoints, ds.boxes)
    gt = gt_from_arrays(keypoints, boxes, keypoint_names=ds.meta.keypoint_names, image_ids=image_ids)
    return gt, ds.meta.sigmas


def crops_to_frames(ds, keypoints: np.ndarray, boxes: np.ndarray | None):
    """Person crops (``thermcli align --crop``: ``columns/crop_affine`` frame → crop,
    ``columns/pair_row``) back to frame pixels, image id = the frame's row; other datasets as
    they are (image id = row)."""
    affine = ds.columns.get("crop_affine")
    if affine is None:
        return keypoints, boxes, None
    from thermcli.ops.heatmaps import apply_affine, invert_affines

    inverse = invert_affines(np.asarray(affine, np.float64).reshape(-1, 2, 3))
    kp = np.array(keypoints, np.float64)
    n, p, k, _ = kp.shape
    xy = apply_affine(kp[..., :2].reshape(n, p * k, 2), inverse).reshape(n, p, k, 2)
    kp[..., :2] = np.where(np.isfinite(kp[..., :2]), xy, kp[..., :2])
    out_boxes = None
    if boxes is not None:
        b = np.asarray(boxes, np.float64)
        corners = np.stack([b[..., :2], b[..., :2] + b[..., 2:]], axis=2).reshape(n, p * 2, 2)
        c = apply_affine(corners, inverse).reshape(n, p, 2, 2)
        lo, hi = c.min(axis=2), c.max(axis=2)
        out_boxes = np.concatenate([lo, hi - lo], axis=-1)
    image_ids = ds.columns.get("pair_row")
    return kp, out_boxes, None if image_ids is None else np.asarray(image_ids, np.int64)


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """COCO OKS of a model run on DATA, a predictions dataset, or a COCO results JSON."""
    from pathlib import Path

    from thermcli.progress import warn

    gt, sigmas = _ground_truth(context)
    source = Path(context.source)
    if source.suffix.lower() == ".json":
        dt = dt_from_coco(_read_json(source, "predictions"), gt, where=str(source))
    else:
        pred = context.predictions
        if pred.keypoints is None:
            raise DataError("holds no predicted keypoints", path=str(source))
        if Path(context.data).suffix.lower() != ".json" and len(context.ground_truth) != len(pred):
            raise DataError(f"{len(pred)} prediction rows for {len(context.ground_truth)} ground-truth rows",
                            path=str(source))
        if pred.keypoints.shape[2] != gt.num_joints:
            raise DataError(f"predictions have {pred.keypoints.shape[2]} keypoints; the ground truth has {gt.num_joints}",
                            path=str(source))
        ref = context.ground_truth if Path(context.data).suffix.lower() != ".json" else pred
        keypoints, _, image_ids = crops_to_frames(ref, pred.keypoints, None)
        dt = dt_from_arrays(keypoints, pred.scores, image_ids=image_ids)
    options = getattr(context, "options", {}) or {}
    ranges = parse_area_ranges(options.get("area_ranges"))
    if options.get("sigmas"):
        sigmas = [float(v) for v in str(options["sigmas"]).split(",")]
    if sigmas is None and gt.num_joints != 17:
        sigmas = [0.05] * gt.num_joints
        warn(f"no OKS sigmas for {gt.num_joints} keypoints: using 0.05 each (pass --sigmas)")
    message = area_warning(gt, ranges)
    if message:
        warn(message)
    result = evaluate_oks(gt, dt, sigmas=sigmas, area_ranges=ranges)
    out = result.to_json()
    out["people"] = int((~(gt.iscrowd | (gt.num_keypoints == 0))).sum())
    out["detections"] = int(len(dt.scores))
    return out


def gate_value(result: dict[str, Any], key: str) -> float | None:
    value = result.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    table = Table(title=f"COCO keypoints (OKS): {result.get('people', '?')} people, {result.get('detections', '?')} detections")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in STAT_NAMES:
        table.add_row(name, f"{result[name]:.4f}")
    if result.get("mean_pixel_error") is not None:
        table.add_row("mean pixel error", f"{result['mean_pixel_error']:.3f} px")
    tables = [table]
    per = result.get("per_keypoint") or {}
    if per:
        kt = Table(title="per keypoint")
        kt.add_column("keypoint")
        kt.add_column("OKS", justify="right")
        kt.add_column("pixel error", justify="right")
        for name, row in per.items():
            kt.add_row(name, "-" if row["oks"] is None else f"{row['oks']:.3f}",
                       "-" if row["pixel_error"] is None else f"{row['pixel_error']:.2f}")
        tables.append(kt)
    return tables
