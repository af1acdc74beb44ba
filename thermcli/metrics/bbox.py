"""COCO box detection metrics (box IoU), vectorised NumPy.

The twelve numbers are those of ``pycocotools.cocoeval.COCOeval(iouType="bbox")`` to within
1e-12 (tests compare them and the whole precision/recall arrays): AP, AP50, AP75, APs, APm, APl,
AR1, AR10, AR100, ARs, ARm, ARl. The matching and accumulation are the shared COCO core
(:mod:`thermcli.metrics.cocoeval`); this module adds the similarity — pycocotools' ``bbIou``,
the same arithmetic in the same order — and the box rules:

- a crowd ground truth (``iscrowd``) is ignored, may absorb several detections, and its IoU with
  a detection is intersection / the detection's area (not the union);
- the area ranges (all, small < 32², medium 32²–96², large > 96²) test the ground truth's
  annotation ``area`` (for COCO, the segment's area, not the box's) and a detection's box area;
- at most 1, 10 and 100 detections per image and category (highest scores; ties keep their input
  order, as pycocotools' stable sort does).

Low-resolution frames: every object in an 80×60 thermal frame is "small" (< 32² px²); pass
``area_ranges`` to split them differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from thermcli.io.coco import CocoAnnotations, CocoResults
from thermcli.metrics import cocoeval as core

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
MAX_DETS = (1, 10, 100)
DEFAULT_AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0**2, 1e5**2),
    "small": (0.0**2, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}


@dataclass
class BoxResult:
    stats: dict[str, float]
    precision: np.ndarray  # (T, R, C, A, M) as pycocotools' eval["precision"]
    recall: np.ndarray  # (T, C, A, M)
    area_labels: list[str]
    max_dets: list[int]
    category_ids: np.ndarray
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_area: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**{k: float(v) for k, v in self.stats.items()}, "by_area": self.by_area, "per_class": self.per_class}


def box_iou(g_boxes: np.ndarray, d_boxes: np.ndarray, g_crowd: np.ndarray) -> np.ndarray:
    """IoU of paired boxes (P, 4) xywh, as pycocotools' ``maskApi.c: bbIou`` computes it: for a
    crowd ground truth the union is the detection's area."""
    g_boxes = np.asarray(g_boxes, np.float64)
    d_boxes = np.asarray(d_boxes, np.float64)
    w = np.fmin(d_boxes[:, 2] + d_boxes[:, 0], g_boxes[:, 2] + g_boxes[:, 0]) - np.fmax(d_boxes[:, 0], g_boxes[:, 0])
    h = np.fmin(d_boxes[:, 3] + d_boxes[:, 1], g_boxes[:, 3] + g_boxes[:, 1]) - np.fmax(d_boxes[:, 1], g_boxes[:, 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    da = d_boxes[:, 2] * d_boxes[:, 3]
    ga = g_boxes[:, 2] * g_boxes[:, 3]
    union = np.where(g_crowd, da, da + ga - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def evaluate_boxes(
    gt: CocoAnnotations,
    dt: CocoResults,
    *,
    max_dets: Sequence[int] = MAX_DETS,
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
    iou_thresholds: np.ndarray | None = None,
    rec_thresholds: np.ndarray | None = None,
) -> BoxResult:
    """COCO box AP/AR (pycocotools' ``COCOeval(iouType='bbox')``, vectorised).

    ``area_ranges`` label → (lo, hi) px² (labels 'all', 'small', 'medium', 'large' feed the
    twelve stats; others appear in ``by_area``); ``max_dets`` the detection caps (the stats read
    the first three, as pycocotools does, and AP the cap 100).
    """
    if dt.boxes is None:
        raise ValueError("detections without boxes")
    ranges = dict(DEFAULT_AREA_RANGES if area_ranges is None else area_ranges)
    match = core.evaluate(
        g_image=gt.image_ids, g_category=gt.category_ids, g_id=gt.ids, g_area=gt.areas, g_ignore=gt.iscrowd,
        g_crowd=gt.iscrowd, d_image=dt.image_ids, d_category=dt.category_ids, d_score=dt.scores,
        d_area=dt.areas, image_ids=gt.all_image_ids, category_ids=gt.all_category_ids,
        similarity=lambda gi, di: box_iou(gt.boxes[gi], dt.boxes[di], gt.iscrowd[gi]),
        max_dets=max_dets, area_ranges=ranges, iou_thresholds=iou_thresholds, rec_thresholds=rec_thresholds,
    )
    stats = summarize(match)
    last = match.max_dets[-1]
    by_area = {
        label: {"AP": core.summarize_one(match, ap=True, area=label, max_det=last),
                "AR": core.summarize_one(match, ap=False, area=label, max_det=last)}
        for label in match.area_labels
    }
    result = BoxResult(stats=stats, precision=match.precision, recall=match.recall, area_labels=match.area_labels,
                       max_dets=match.max_dets, category_ids=match.category_ids, by_area=by_area)
    result.per_class = per_class(result, gt, dt)
    return result


def summarize(match: core.Matching) -> dict[str, float]:
    """pycocotools' ``_summarizeDets``: twelve means over valid (> −1) entries."""
    m = list(match.max_dets) + [None] * 3  # pycocotools reads params.maxDets[0..2]
    one = core.summarize_one
    values = [
        one(match, ap=True),  # maxDets=100 literally, as pycocotools' default argument
        one(match, ap=True, iou=0.5, max_det=m[2]),
        one(match, ap=True, iou=0.75, max_det=m[2]),
        one(match, ap=True, area="small", max_det=m[2]),
        one(match, ap=True, area="medium", max_det=m[2]),
        one(match, ap=True, area="large", max_det=m[2]),
        one(match, ap=False, max_det=m[0]),
        one(match, ap=False, max_det=m[1]),
        one(match, ap=False, max_det=m[2]),
        one(match, ap=False, area="small", max_det=m[2]),
        one(match, ap=False, area="medium", max_det=m[2]),
        one(match, ap=False, area="large", max_det=m[2]),
    ]
    return dict(zip(STAT_NAMES, values))


def per_class(result: BoxResult, gt: CocoAnnotations, dt: CocoResults) -> dict[str, dict[str, Any]]:
    """Per category ('all' areas, the largest cap): AP, AP50, AP75, AR (None where the category
    has no counted ground truth), and the counts of ground truth and detections."""
    a = result.area_labels.index("all") if "all" in result.area_labels else 0
    m = len(result.max_dets) - 1
    thresholds = core.IOU_THRESHOLDS if result.precision.shape[0] == len(core.IOU_THRESHOLDS) else None
    names = gt.category_names or {}
    rows: dict[str, dict[str, Any]] = {}
    for c, cat in enumerate(result.category_ids):
        p = result.precision[:, :, c, a, m]
        r = result.recall[:, c, a, m]

        def value(s):
            v = core.mean_valid(s)
            return None if v == -1.0 else v

        row = {"category_id": int(cat), "AP": value(p), "AR": value(r)}
        if thresholds is not None:
            row["AP50"] = value(p[np.where(thresholds == 0.5)[0]])
            row["AP75"] = value(p[np.where(thresholds == 0.75)[0]])
        row["objects"] = int(np.count_nonzero((gt.category_ids == cat) & ~gt.iscrowd & np.isin(gt.image_ids, gt.all_image_ids)))
        row["detections"] = int(np.count_nonzero((dt.category_ids == cat) & np.isin(dt.image_ids, gt.all_image_ids)))
        name = names.get(int(cat), str(int(cat)))
        rows[name if name not in rows else f"{name} ({int(cat)})"] = row
    return rows
