"""Applying a transform to two streams: synchronise, warp, crop around people, write the paired
dataset (``run_align``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError
from thermcli.stages.align.geometry import PairGeometry
from thermcli.stages.align.sync import synchronise
from thermcli.stages.align.transform import Transform, check_sizes


# ---- box sources -----------------------------------------------------------------------------


def read_box_file(path: str | Path) -> dict[int, np.ndarray]:
    """Boxes from a CSV with columns ``row,x,y,w,h`` (thermal row index, thermal pixels; several
    rows per frame for several people)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such box file", path=where)
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    wanted = ["row", "x", "y", "w", "h"]
    if not all(name in header for name in wanted):
        raise DataError(f"expected a header with columns {', '.join(wanted)}", path=where)
    index = [header.index(name) for name in wanted]
    boxes: dict[int, list[list[float]]] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        try:
            r, x, y, w, h = (float(row[i]) for i in index)
        except (ValueError, IndexError):
            raise DataError(f"line {line_no}: expected row,x,y,w,h numbers", path=where) from None
        if w <= 0 or h <= 0:
            raise DataError(f"line {line_no}: box width and height must be > 0", path=where)
        boxes.setdefault(int(r), []).append([x, y, w, h])
    return {k: np.array(v, np.float64) for k, v in boxes.items()}


def is_model(boxes: str) -> bool:
    """``--boxes`` names a detect checkpoint (``train --task detect``'s best.pt / last.pt)."""
    return Path(boxes).suffix.lower() in (".pt", ".pth")


# ---- the whole command -----------------------------------------------------------------------


@dataclass(frozen=True)
class AlignConfig:
    apply: bool = False
    reverse: bool = False
    max_skew: float = 0.060
    clock_offset: float | str = 0.0
    crop: tuple[int, int] | None = None  # (height, width)
    padding: float = 1.25
    boxes: str = "dataset"  # dataset | find | path to a CSV | a detect checkpoint (.pt)
    min_score: float | None = None  # with a detect checkpoint: keep detections scoring at least this (0.5)
    labels: str = "auto"  # auto | thermal | rgb
    batch_size: int = 64


def frame_size(reader) -> tuple[int, int]:
    shape = reader.frame_shape
    return int(shape[1]), int(shape[0])


def _rgb_frames(batch) -> np.ndarray:
    """The RGB stream's pictures: its frames (modality rgb) or, failing that, its ``rgb`` field."""
    if batch.meta.modality == "rgb" or batch.rgb is None:
        return batch.frames
    return batch.rgb


def check_streams(thermal_reader, rgb_reader) -> None:
    if thermal_reader.meta.modality != "thermal":
        raise DataError(f"THERMAL must be a thermal dataset, this one's modality is {thermal_reader.meta.modality!r}",
                        path=str(thermal_reader.path))
    if len(rgb_reader.frame_shape) != 3 or rgb_reader.frame_shape[2] != 3:
        raise DataError(f"RGB frames must be (N, H, W, 3), got (N, {', '.join(map(str, rgb_reader.frame_shape))})",
                        path=str(rgb_reader.path))


def run_align(thermal_path: Path, rgb_path: Path, out: Path, transform: Transform, *, config: AlignConfig,
              provenance: dict[str, Any], force: bool = False, transform_where: str = "transform") -> dict[str, Any]:
    """Synchronise, (warp,) (crop,) and write the paired dataset; returns a JSON-able report."""
    from thermcli.io import create_writer, open_dataset
    from thermcli.progress import track

    with open_dataset(thermal_path) as thermal_reader, open_dataset(rgb_path) as rgb_reader:
        check_streams(thermal_reader, rgb_reader)
        rgb_size, thermal_size = frame_size(rgb_reader), frame_size(thermal_reader)
        check_sizes(transform, rgb_size, thermal_size, where=transform_where)
        sync = synchronise(thermal_reader, rgb_reader, max_skew=config.max_skew, clock_offset=config.clock_offset)
        apply = config.apply or config.crop is not None
        geometry = PairGeometry(transform, rgb_size, thermal_size, reverse=config.reverse) if apply else None

        labels_from = config.labels
        if labels_from == "auto":
            labels_from = "thermal" if "keypoints" in thermal_reader.fields or "boxes" in thermal_reader.fields else "rgb"
        label_reader = thermal_reader if labels_from == "thermal" else rgb_reader
        other_name = "rgb" if labels_from == "thermal" else "thermal"
        box_file = None
        if config.min_score is not None and not is_model(config.boxes):
            from thermcli.errors import UsageError

            raise UsageError("--min-score filters the detections of --boxes MODEL.pt", param="--min-score")
        if is_model(config.boxes):
            from thermcli.stages.predict_detect import BoxDetector

            if not Path(config.boxes).is_file():
                raise DataError("no such detect checkpoint", path=str(config.boxes))
            box_file = BoxDetector(config.boxes, min_score=0.5 if config.min_score is None else config.min_score)
        elif config.boxes not in ("dataset", "find"):
            box_file = read_box_file(config.boxes)
        elif config.crop is not None and config.boxes == "dataset" and "boxes" not in label_reader.fields:
            raise DataError("has no person boxes to crop around; use --boxes find or --boxes FILE.csv",
                            path=str(label_reader.path))

        meta_source = label_reader.meta
        meta = thermal_reader.meta.copy(
            keypoint_names=meta_source.keypoint_names,
            skeleton=meta_source.skeleton,
            sigmas=meta_source.sigmas,
            flip_pairs=meta_source.flip_pairs,
            box_class_names=meta_source.box_class_names or (["person"] if config.crop or config.boxes != "dataset" else None),
            class_names=thermal_reader.meta.class_names,
            attrs={
                **{k: v for k, v in thermal_reader.meta.attrs.items()},
                "align": {
                    "transform": transform.to_json(),
                    "geometry": ("rgb" if config.reverse else "thermal") if apply else "unwarped",
                    "labels_from": labels_from,
                    "crop": list(config.crop) if config.crop else None,
                    "padding": config.padding if config.crop else None,
                    "boxes": config.boxes if config.crop else None,
                },
            },
            provenance=provenance,
        )
        if apply and config.reverse:
            meta.attrs["align"]["note"] = "thermal frames warped into the RGB frame's geometry; NaN outside the thermal view"

        counts = {"pairs": int(len(sync.pairs)), "crops": 0, "pairs_without_person": 0}
        pairs = sync.pairs
        with create_writer(out, meta, force=force) as writer:
            starts = range(0, len(pairs), config.batch_size)
            for lo in track(starts, total=len(starts), description="align"):
                chunk = pairs[lo : lo + config.batch_size]
                batch = _read_rows(thermal_reader, chunk[:, 0])
                rgb_batch = _read_rows(rgb_reader, chunk[:, 1])
                paired = _pair_batch(batch, rgb_batch, chunk, sync, lo, geometry, labels_from, other_name, meta)
                if config.crop is not None:
                    paired, missing = _crop_batch(paired, config, box_file, meta)
                    counts["pairs_without_person"] += missing
                    counts["crops"] += len(paired) if paired is not None else 0
                if paired is not None and len(paired):
                    writer.append(paired)
            if writer.n == 0:
                raise DataError("no person found in any frame pair: nothing to write (try another --boxes source)",
                                path=str(thermal_path))
        return {
            "output": str(out),
            "rows": int(writer.n),
            **counts,
            "dropped": {"thermal": sync.dropped_thermal, "rgb": sync.dropped_rgb},
            "clock_offset_s": sync.offset,
            "max_abs_skew_ms": float(np.max(np.abs(sync.skew)) * 1000) if len(sync.skew) else 0.0,
            "max_skew_ms": config.max_skew * 1000,
            "transform": {"method": transform.method, "error_px": transform.error_px},
        }


def _read_rows(reader, rows: np.ndarray):
    """Rows (any order) of a dataset, reading one contiguous span (pairs are nearly sorted)."""
    lo, hi = int(rows.min()), int(rows.max()) + 1
    span = reader.read(lo, hi)
    return span.take(rows - lo)


def _pair_batch(thermal, rgb, chunk, sync, lo, geometry, labels_from, other_name, meta):
    """One batch of synchronised pairs as a dataset in the output geometry."""
    from thermcli.io import Dataset

    n = len(chunk)
    thermal_frames = thermal.frames
    rgb_frames = _rgb_frames(rgb)
    if geometry is not None:
        thermal_frames = geometry.frames("thermal", thermal_frames)
        rgb_frames = geometry.frames("rgb", rgb_frames)
        if thermal_frames.dtype.kind == "f":
            all_nan = np.isnan(thermal_frames).reshape(n, -1).all(axis=1)
            if all_nan.any():
                raise DataError("the transform maps no thermal pixel into the output frame (fields of view do not overlap)")
    source = thermal if labels_from == "thermal" else rgb
    other = rgb if labels_from == "thermal" else thermal
    keypoints = source.keypoints
    boxes = source.boxes
    columns = dict(thermal.columns)
    if geometry is not None:
        if keypoints is not None:
            keypoints = geometry.keypoints(labels_from, keypoints)
        if boxes is not None:
            boxes = geometry.boxes(labels_from, boxes)
        if other.keypoints is not None:
            columns[f"{other_name}_keypoints"] = geometry.keypoints(other_name, other.keypoints)
    elif other.keypoints is not None:
        columns[f"{other_name}_keypoints"] = other.keypoints.astype(np.float32)
    if boxes is not None and source.box_classes is None:
        box_classes = np.zeros(boxes.shape[:2], np.int32)
    else:
        box_classes = source.box_classes if boxes is not None else None
    columns["thermal_row"] = chunk[:, 0].astype(np.int64)
    columns["rgb_row"] = chunk[:, 1].astype(np.int64)
    columns["skew_s"] = sync.skew[lo : lo + n].astype(np.float64)
    if rgb.timestamp is not None:
        columns["rgb_timestamp"] = rgb.timestamp.astype(np.float64)
    for name, values in rgb.columns.items():
        columns.setdefault(f"rgb_{name}", values)
    return Dataset(
        frames=np.ascontiguousarray(thermal_frames),
        meta=meta,
        rgb=np.ascontiguousarray(rgb_frames),
        labels=thermal.labels if thermal.labels is not None else None,
        keypoints=keypoints,
        boxes=boxes,
        box_classes=box_classes,
        scores=source.scores if boxes is not None and source.scores is not None else None,
        subject=thermal.subject,
        sequence=thermal.sequence,
        timestamp=thermal.timestamp,
        columns=columns,
    )


def _crop_batch(paired, config: AlignConfig, box_file, meta):
    """One crop row per person: (crop dataset or None, pairs in which no person was found)."""
    from thermcli.io import Dataset
    from thermcli.ops.crops import crop_affine, crop_image, map_boxes, map_keypoints, padded_box
    from thermcli.ops.person_finder import find_people

    rows, people, boxes_per_row = [], [], []
    missing = 0
    detected = None
    if box_file is not None and not isinstance(box_file, dict):  # a detector on the thermal frames
        detected = box_file.boxes(paired.frames, paired.meta.unit)
    for i in range(len(paired)):
        if config.boxes == "dataset":
            found = paired.boxes[i] if paired.boxes is not None else np.zeros((0, 4))
            found = [(p, b) for p, b in enumerate(found) if np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0]
        elif config.boxes == "find":
            relative = paired.meta.unit not in ("celsius", "kelvin")
            frame = paired.frames[i]
            if paired.meta.unit == "kelvin":
                frame = frame - 273.15
            found = [(p, b) for p, b in enumerate(find_people(frame, relative=relative))]
        elif detected is not None:
            found = list(enumerate(detected[i]))
        else:
            row = int(paired.columns["thermal_row"][i])
            raw = box_file.get(row, np.zeros((0, 4)))
            found = [(p, b) for p, b in enumerate(raw)]
        if not found:
            missing += 1
        for person, box in found:
            rows.append(i)
            people.append(person)
            boxes_per_row.append(np.asarray(box, np.float64))
    if not rows:
        return None, missing
    size = config.crop
    thermal_crops, rgb_crops, affines, padded, kps, bxs = [], [], [], [], [], []
    for i, person, box in zip(rows, people, boxes_per_row):
        affine = crop_affine(box, size, config.padding)
        affines.append(affine)
        padded.append(padded_box(box, size, config.padding))
        thermal_crops.append(crop_image(paired.frames[i], affine, size))
        rgb_crops.append(crop_image(paired.rgb[i], affine, size))
        if paired.keypoints is not None and config.boxes == "dataset":
            kps.append(map_keypoints(affine, paired.keypoints[i, person]))
        elif paired.keypoints is not None:
            kps.append(map_keypoints(affine, _nearest_person(paired.keypoints[i], box)))
        bxs.append(map_boxes(affine, box[None])[0])
    idx = np.array(rows)
    columns = {name: values[idx] for name, values in paired.columns.items()}
    for name in list(columns):
        if name.endswith("_keypoints") and paired.columns[name].ndim == 4:
            columns[name] = np.stack([map_keypoints(a, kp[min(p, len(kp) - 1)])
                                      for a, kp, p in zip(affines, paired.columns[name][idx], people)])[:, None].astype(np.float32)
    columns["crop_affine"] = np.stack(affines).astype(np.float64)
    columns["crop_box"] = np.stack(padded).astype(np.float64)
    columns["pair_row"] = idx.astype(np.int64)
    columns["person"] = np.array(people, np.int64)
    out = Dataset(
        frames=np.stack(thermal_crops),
        meta=meta,
        rgb=np.stack(rgb_crops),
        labels=paired.labels[idx] if paired.labels is not None else None,
        keypoints=np.stack(kps)[:, None].astype(np.float32) if kps else None,
        boxes=np.stack(bxs)[:, None].astype(np.float32),
        box_classes=np.zeros((len(idx), 1), np.int32),
        subject=paired.subject[idx] if paired.subject is not None else None,
        sequence=paired.sequence[idx] if paired.sequence is not None else None,
        timestamp=paired.timestamp[idx] if paired.timestamp is not None else None,
        columns=columns,
    )
    return out, missing


def _nearest_person(keypoints: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The person (K, 3) whose labelled keypoints fall most inside ``box`` (found boxes carry no identity)."""
    x, y, w, h = box
    best, score = keypoints[0], -1
    for person in keypoints:
        lab = person[:, 2] > 0
        inside = lab & (person[:, 0] >= x) & (person[:, 0] <= x + w) & (person[:, 1] >= y) & (person[:, 1] <= y + h)
        if inside.sum() > score:
            best, score = person, inside.sum()
    if score <= 0:
        return np.zeros_like(keypoints[0])
    return best


def crop_to_frame(points: np.ndarray, crop_affine_matrix: np.ndarray) -> np.ndarray:
    """Map predictions (…, 2) in crop pixels back to the (aligned) frame with a row's ``crop_affine``."""
    from thermcli.ops.crops import apply_affine, invert_affine

    return apply_affine(invert_affine(crop_affine_matrix), points)
