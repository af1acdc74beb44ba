"""``thermcli eval --metric oks|bbox``: COCO keypoint OKS and box AP of a model, a predictions
dataset or a COCO results JSON, against a dataset or a COCO JSON.

The two metric families (``oks``, ``bbox``) of :mod:`thermcli.stages.evaluate`. COCO JSON files
are read once through the context (orjson; the digest of the same bytes goes into the
provenance) and parsed by the one COCO parser, :mod:`thermcli.io.coco`; the numbers come from
:mod:`thermcli.metrics.oks` and :mod:`thermcli.metrics.bbox` (identical to pycocotools).

Datasets ↔ COCO ids: a frame's image id is its ``columns/image_id`` (what ``import`` of a COCO
file writes) or else its row; a box class ``c`` is the COCO category ``c + 1`` against a dataset
(as ``export`` writes it) and the file's ``c``-th category against a COCO JSON (as ``import``
reads it).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.coco import CocoAnnotations, CocoResults, eval_ground_truth, eval_results


def _is_json(path: Path | None) -> bool:
    return path is not None and Path(path).suffix.lower() == ".json"


def parse_area_ranges(text: str | None) -> dict[str, tuple[float, float]] | None:
    """``all=0:1e10,medium=0:400,large=400:1e10`` → {label: (lo, hi)} (px²)."""
    if not text:
        return None
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


def _need_ground_truth(context) -> None:
    if context.data is None:
        raise UsageError("give the ground truth (DATA or --gt)", param="--gt")


def gate_value(family: str, names: tuple[str, ...]):
    """``--fail-under`` lookup: a stat (``AP``), a family-qualified stat (``bbox.AP``) or, for
    per-class rows, ``AP.person`` / ``AP50.person`` / ``AR.person``."""

    def lookup(result: dict[str, Any], key: str) -> float | None:
        if key.startswith(family + "."):
            key = key[len(family) + 1:]
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        stat, _, cls = key.partition(".")
        row = (result.get("per_class") or {}).get(cls)
        if row is not None and isinstance(row.get(stat), (int, float)):
            return float(row[stat])
        return None

    return lookup


# ---- keypoints (OKS) -------------------------------------------------------------------------


def _oks_ground_truth(context):
    from thermcli.metrics import oks as O

    _need_ground_truth(context)
    if _is_json(context.data):
        doc = context.read_json(context.data, "ground truth").value
        return eval_ground_truth(doc, where=str(context.data), kind="keypoints"), None
    ds = context.ground_truth
    if ds.keypoints is None:
        raise DataError("has no keypoints: nothing to compare the predictions with", path=str(context.data))
    keypoints, boxes, image_ids = crops_to_frames(ds, ds.keypoints, ds.boxes)
    gt = O.gt_from_arrays(keypoints, boxes, keypoint_names=ds.meta.keypoint_names, image_ids=image_ids)
    return gt, ds.meta.sigmas


def oks_evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """COCO OKS of a model run on DATA, a predictions dataset, or a COCO results JSON."""
    from thermcli.metrics import oks as O
    from thermcli.progress import warn

    gt, sigmas = _oks_ground_truth(context)
    source = Path(context.source)
    if _is_json(source):
        dt = eval_results(context.read_json(source, "predictions").value, gt, where=str(source), kind="keypoints")
    else:
        pred = context.predictions
        if pred.keypoints is None:
            raise DataError("holds no predicted keypoints", path=str(source))
        if not _is_json(context.data) and len(context.ground_truth) != len(pred):
            raise DataError(f"{len(pred)} prediction rows for {len(context.ground_truth)} ground-truth rows",
                            path=str(source))
        if pred.keypoints.shape[2] != gt.num_joints:
            raise DataError(f"predictions have {pred.keypoints.shape[2]} keypoints; the ground truth has {gt.num_joints}",
                            path=str(source))
        ref = context.ground_truth if not _is_json(context.data) else pred
        keypoints, _, image_ids = crops_to_frames(ref, pred.keypoints, None)
        dt = O.dt_from_arrays(keypoints, pred.scores, image_ids=image_ids)
    options = getattr(context, "options", {}) or {}
    ranges = parse_area_ranges(options.get("area_ranges"))
    if options.get("sigmas"):
        try:
            sigmas = [float(v) for v in str(options["sigmas"]).split(",")]
        except ValueError:
            raise UsageError(f"{options['sigmas']!r}: expected a comma list of numbers", param="--sigmas") from None
    if sigmas is None and gt.num_joints != 17:
        sigmas = [0.05] * gt.num_joints
        warn(f"no OKS sigmas for {gt.num_joints} keypoints: using 0.05 each (pass --sigmas)")
    message = O.area_warning(gt, ranges)
    if message:
        warn(message)
    result = O.evaluate_oks(gt, dt, sigmas=sigmas, area_ranges=ranges)
    out = result.to_json()
    out["people"] = int((~(gt.iscrowd | (gt.num_keypoints == 0))).sum())
    out["detections"] = int(len(dt.scores))
    return out


def oks_render(result: dict[str, Any]) -> list:
    from rich.table import Table

    from thermcli.metrics.oks import STAT_NAMES

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


# ---- boxes (IoU) -----------------------------------------------------------------------------


def _dataset_image_ids(ds) -> np.ndarray:
    ids = ds.columns.get("image_id")
    return np.arange(len(ds), dtype=np.int64) if ids is None else np.asarray(ids, np.int64).reshape(len(ds))


def boxes_from_dataset(ds, where: str) -> CocoAnnotations:
    """A dataset's ``boxes`` (N, P, 4) (+ ``box_classes``, ``columns/area``, ``columns/iscrowd``)
    → ground truth: a finite box is an object; area = ``columns/area`` where finite, else w·h."""
    if ds.boxes is None:
        raise DataError("has no boxes: nothing to compare the predictions with", path=where)
    boxes = np.asarray(ds.boxes, np.float64)
    n, p = boxes.shape[:2]
    present = np.isfinite(boxes).all(-1)
    rows, slots = np.nonzero(present)
    bx = boxes[rows, slots]
    classes = np.zeros((n, p), np.int64) if ds.box_classes is None else np.asarray(ds.box_classes, np.int64)
    cls = classes[rows, slots]
    names = list(ds.meta.box_class_names or [])
    bad_mask = (cls < 0) | (cls >= len(names)) if names else cls < 0
    if bad_mask.any():
        bad = int(cls[bad_mask][0])
        raise DataError(f"box class {bad} is not among the {len(names) or 'known'} classes", path=where)
    n_classes = max(len(names), int(cls.max()) + 1 if cls.size else 1)
    area = bx[:, 2] * bx[:, 3]
    column = ds.columns.get("area")
    if column is not None:
        given = np.asarray(column, np.float64).reshape(n, p)[rows, slots]
        area = np.where(np.isfinite(given), given, area)
    crowd = ds.columns.get("iscrowd")
    iscrowd = np.zeros(len(rows), bool) if crowd is None else np.asarray(crowd).reshape(n, p)[rows, slots].astype(bool)
    image_ids = _dataset_image_ids(ds)
    order = np.arange(1, n_classes + 1, dtype=np.int64)
    return CocoAnnotations(
        boxes=bx, areas=area, image_ids=image_ids[rows], category_ids=cls + 1,
        ids=np.arange(1, len(rows) + 1, dtype=np.int64), iscrowd=iscrowd,
        all_image_ids=np.unique(image_ids), all_category_ids=order,
        category_names={i + 1: (names[i] if i < len(names) else str(i)) for i in range(n_classes)},
        category_order=order,
    )


def detections_from_dataset(pred, gt: CocoAnnotations, where: str, image_ids: np.ndarray) -> CocoResults:
    """A predictions dataset's ``boxes`` + ``scores`` (+ ``box_classes``) → detections (a finite
    box with a finite score is one); class ``c`` → the ground truth's ``c``-th category."""
    if pred.boxes is None:
        raise DataError("holds no predicted boxes", path=where)
    if pred.scores is None:
        raise DataError("holds no detection scores (`scores`)", path=where)
    boxes = np.asarray(pred.boxes, np.float64)
    n, p = boxes.shape[:2]
    scores = np.asarray(pred.scores, np.float64).reshape(n, p)
    present = np.isfinite(boxes).all(-1) & np.isfinite(scores)
    rows, slots = np.nonzero(present)
    classes = np.zeros((n, p), np.int64) if pred.box_classes is None else np.asarray(pred.box_classes, np.int64)
    cls = classes[rows, slots]
    order = gt.category_order if gt.category_order is not None else gt.all_category_ids
    if cls.size and (cls.min() < 0 or cls.max() >= len(order)):
        bad = int(cls[(cls < 0) | (cls >= len(order))][0])
        raise DataError(f"box class {bad} is beyond the ground truth's {len(order)} categories", path=where)
    bx = boxes[rows, slots]
    return CocoResults(scores=scores[rows, slots], areas=bx[:, 2] * bx[:, 3], image_ids=image_ids[rows],
                       category_ids=order[cls], boxes=bx)


def bbox_evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """COCO box AP of a detection model run on DATA, a predictions dataset, or a COCO results JSON."""
    from thermcli.metrics.bbox import evaluate_boxes

    _need_ground_truth(context)
    gt_ds = None
    if _is_json(context.data):
        doc = context.read_json(context.data, "ground truth").value
        gt = eval_ground_truth(doc, where=str(context.data), kind="bbox")
    else:
        gt_ds = context.ground_truth
        gt = boxes_from_dataset(gt_ds, str(context.data))
    source = Path(context.source)
    if _is_json(source):
        dt = eval_results(context.read_json(source, "predictions").value, gt, where=str(source), kind="bbox")
    else:
        pred = context.predictions
        if gt_ds is not None and len(gt_ds) != len(pred):
            raise DataError(f"{len(pred)} prediction rows for {len(gt_ds)} ground-truth rows", path=str(source))
        if "image_id" in pred.columns:
            image_ids = _dataset_image_ids(pred)
        elif gt_ds is not None:
            image_ids = _dataset_image_ids(gt_ds)
        else:
            image_ids = np.arange(len(pred), dtype=np.int64)
        unknown = np.setdiff1d(image_ids, gt.all_image_ids)
        if unknown.size:
            raise DataError(f"{unknown.size} prediction frame(s) have image ids not in the ground truth "
                            f"({', '.join(str(int(v)) for v in unknown[:5])})", path=str(source))
        dt = detections_from_dataset(pred, gt, str(source), image_ids)
    options = getattr(context, "options", {}) or {}
    result = evaluate_boxes(gt, dt, area_ranges=_box_ranges(options.get("area_ranges")))
    out = result.to_json()
    out["objects"] = int(np.count_nonzero(~gt.iscrowd & np.isin(gt.image_ids, gt.all_image_ids)))
    out["images"] = int(len(gt.all_image_ids))
    out["detections"] = int(len(dt))
    return out


def _box_ranges(text: str | None) -> dict[str, tuple[float, float]] | None:
    ranges = parse_area_ranges(text)
    if ranges is None:
        return None
    from thermcli.metrics.bbox import DEFAULT_AREA_RANGES

    return {**DEFAULT_AREA_RANGES, **ranges}


def bbox_render(result: dict[str, Any]) -> list:
    from rich.table import Table

    from thermcli.metrics.bbox import STAT_NAMES

    table = Table(title=f"COCO boxes (IoU): {result.get('objects', '?')} objects in {result.get('images', '?')} images, "
                        f"{result.get('detections', '?')} detections")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in STAT_NAMES:
        table.add_row(name, f"{result[name]:.4f}")
    tables = [table]
    per = result.get("per_class") or {}
    if per:
        ct = Table(title="per class (IoU 0.50:0.95, all areas, 100 detections)")
        for column in ("class", "AP", "AP50", "AP75", "AR", "objects", "detections"):
            ct.add_column(column, justify="left" if column == "class" else "right")

        def cell(v):
            return "-" if v is None else f"{v:.4f}"

        for name, row in per.items():
            ct.add_row(name, cell(row.get("AP")), cell(row.get("AP50")), cell(row.get("AP75")), cell(row.get("AR")),
                       str(row["objects"]), str(row["detections"]))
        tables.append(ct)
    return tables


def _stat_names(module: str) -> tuple[str, ...]:
    if module == "oks":
        from thermcli.metrics.oks import STAT_NAMES
    else:
        from thermcli.metrics.bbox import STAT_NAMES
    return STAT_NAMES


OKS = SimpleNamespace(FAMILY="oks", METRICS=("oks", "keypoints"), GATES=_stat_names("oks"), evaluate=oks_evaluate,
                      render=oks_render, gate_value=gate_value("oks", _stat_names("oks")))
BBOX = SimpleNamespace(FAMILY="bbox", METRICS=("bbox", "box_ap"), GATES=_stat_names("bbox"), evaluate=bbox_evaluate,
                       render=bbox_render, gate_value=gate_value("bbox", _stat_names("bbox")))
FAMILIES = {"oks": OKS, "bbox": BBOX}
