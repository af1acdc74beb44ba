"""Export a dataset to formats other tools read: PNG folders, COCO keypoint JSON, YOLO text.

The library API behind ``thermcli export``. Frames are streamed batch by batch; only the
annotations (small) are collected whole.

- ``png``: a thermcli PNG folder. Without ``palette``/``window`` it is the lossless encoding of
  ``thermcli.io.pngdir`` (16-bit centikelvin for °C). With them, 8-bit display images: the
  temperature window ``lo:hi`` is mapped to 0..255 and coloured with the palette.
- ``coco``: ``OUT/annotations.json`` + ``OUT/images/NNNNNN.png``; keypoints, boxes, areas,
  crowd flags and ids are written back as imported. ``info.thermcli`` records the unit, encoding
  and modality, so ``thermcli import OUT/annotations.json`` gives back the same dataset.
- ``yolo``: ``OUT/images/NNNNNN.png``, ``OUT/labels/NNNNNN.txt`` (``class cx cy w h``,
  normalised) and ``OUT/data.yaml`` with the class names.

Padded frames (``columns/image_size`` from a COCO import or ``--pad``) are cropped back to their
own size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.pngdir import ENCODINGS, encode_temperature
from thermcli.io.schema import RADIOMETRIC_UNITS, Dataset

FORMATS = ("png", "coco", "yolo")


@dataclass
class ExportReport:
    n: int = 0
    to: str = ""
    files: list[str] = field(default_factory=list)
    annotations: int = 0
    window: tuple[float, float] | None = None


def _value_range(reader, batch_size: int) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for batch in reader.iter_batches(batch_size):
        values = batch.frames[np.isfinite(batch.frames)]
        if values.size:
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if not np.isfinite(lo) or hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _display(frames: np.ndarray, unit: str, palette: str | None, window: tuple[float, float] | None) -> np.ndarray:
    """Frames → 8-bit display images (grey, or RGB with a palette)."""
    from thermcli.ops.palette import apply_palette, window_to_uint8

    if window is not None:
        values = window_to_uint8(frames if frames.ndim in (3,) else frames[..., 0], *window)
    elif unit == "intensity":
        values = frames
    else:
        raise UsageError(f"{unit} frames need --window LO:HI for 8-bit output", param="--window")
    if palette is None:
        return values
    if values.ndim != 3:
        raise UsageError("--palette colours single-channel frames; these have colour channels", param="--palette")
    return apply_palette(values, palette)


def _image_encoding(unit: str, eight_bit: bool) -> dict[str, Any]:
    if eight_bit:
        return {"unit": "intensity", **ENCODINGS["intensity"]}
    return {"unit": unit, **ENCODINGS[unit]}


def _encode_image(frame: np.ndarray, unit: str, eight_bit_frame: np.ndarray | None) -> np.ndarray:
    if eight_bit_frame is not None:
        return eight_bit_frame
    if unit in RADIOMETRIC_UNITS:
        return encode_temperature(frame, unit)
    return frame


def _write_image(path: Path, image: np.ndarray) -> None:
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise DataError("cannot write image", path=str(path))


def _sizes(batch: Dataset) -> list[tuple[int, int]]:
    size = batch.columns.get("image_size")
    if size is not None:
        return [(int(h), int(w)) for h, w in np.asarray(size)]
    return [(int(batch.frames.shape[1]), int(batch.frames.shape[2]))] * len(batch)


# columns the COCO format itself carries (ids, areas, crowd flags, sizes)
COCO_COLUMNS = ("annotation_id", "area", "iscrowd", "image_id", "image_size")


def _frame_extras(batch: Dataset, j: int) -> dict[str, Any]:
    """Frame j's fields that COCO has no place for, stored under the image's "thermcli" key."""
    extra: dict[str, Any] = {}
    if batch.labels is not None:
        extra["labels"] = batch.labels[j].tolist()
    for name in ("subject", "sequence"):
        values = getattr(batch, name)
        if values is not None:
            extra[name] = str(values[j])
    if batch.timestamp is not None:
        extra["timestamp"] = float(batch.timestamp[j])
    columns = {k: np.asarray(v[j]).tolist() for k, v in batch.columns.items() if k not in COCO_COLUMNS}
    if columns:
        extra["columns"] = columns
    return extra


def run_export(
    path: Path,
    out: Path,
    *,
    to: str,
    palette: str | None,
    window: tuple[float, float] | None,
    provenance: dict[str, Any],
    force: bool,
    batch_size: int = 64,
) -> ExportReport:
    """Export the dataset at ``path`` to ``out`` in format ``to``."""
    from thermcli.io import atomic_path, create_writer, open_dataset

    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r}; choose from {', '.join(FORMATS)}", param="--to")
    if palette is not None:
        from thermcli.ops.palette import palette_lut

        palette_lut(palette)
    if out.suffix:
        raise UsageError(f"--to {to} writes a folder: give OUT without a suffix", param="OUT")
    report = ExportReport(to=to)
    with open_dataset(path) as reader:
        meta = reader.meta
        unit = meta.unit
        eight_bit = palette is not None or window is not None
        if eight_bit and unit in RADIOMETRIC_UNITS and window is None:
            window = _value_range(reader, batch_size)  # the data's full range, recorded in the output
        if eight_bit and unit == "counts" and window is None:
            raise UsageError("counts need --window LO:HI for 8-bit output", param="--window")
        report.window = window

        if to == "png":
            if not eight_bit:
                out_meta = meta.copy(provenance=provenance)
            else:
                attrs = dict(meta.attrs, palette=palette, window=list(window) if window else None, source_unit=unit)
                out_meta = meta.copy(unit="intensity", attrs=attrs, provenance=provenance)
            with create_writer(out, out_meta, force=force) as writer:
                for batch in reader.iter_batches(batch_size):
                    if eight_bit:
                        batch = batch.replace(frames=_display(batch.frames, unit, palette, window), meta=out_meta)
                    else:
                        batch = batch.replace(meta=out_meta)
                    writer.append(batch)
            report.n = reader.n
            report.files = [str(out)]
            return report

        if to == "yolo" and "boxes" not in reader.fields:
            raise DataError("has no boxes to export as YOLO labels", path=str(path))
        if to == "coco" and "boxes" not in reader.fields and "keypoints" not in reader.fields:
            raise DataError("has no keypoints or boxes to export as COCO annotations", path=str(path))

        file_names: list[str] = []
        sizes: list[tuple[int, int]] = []
        image_ids: list[int] = []
        collected: dict[str, list[np.ndarray]] = {}
        extras: list[dict[str, Any]] = []
        box_names = meta.box_class_names or (["person"] if to == "coco" else None)
        column_dtypes = {name: reader.read_field(f"columns/{name}").dtype.str for name in reader.column_names
                         if name not in COCO_COLUMNS}
        with atomic_path(out, force=force, directory=True) as tmp:
            (tmp / "images").mkdir()
            if to == "yolo":
                (tmp / "labels").mkdir()
            index = 0
            max_class = -1
            for batch in reader.iter_batches(batch_size):
                display = _display(batch.frames, unit, palette, window) if eight_bit else None
                batch_sizes = _sizes(batch)
                for j in range(len(batch)):
                    h, w = batch_sizes[j]
                    image = _encode_image(batch.frames[j], unit, display[j] if display is not None else None)[:h, :w]
                    name = f"{index:06d}.png"
                    _write_image(tmp / "images" / name, image)
                    if to == "yolo":
                        from thermcli.io.yolo import format_yolo_boxes

                        classes = batch.box_classes[j] if batch.box_classes is not None else np.zeros(batch.boxes.shape[1], np.int32)
                        finite = np.all(np.isfinite(batch.boxes[j]), axis=1)
                        if finite.any():
                            max_class = max(max_class, int(classes[finite].max()))
                            if int(classes[finite].min()) < 0:
                                raise DataError(f"frame {index} has a box without a class", path=str(path))
                        text = format_yolo_boxes(batch.boxes[j], classes, width=w, height=h)
                        (tmp / "labels" / f"{index:06d}.txt").write_text(text)
                        report.annotations += text.count("\n")
                    if to == "coco":
                        extras.append(_frame_extras(batch, j))
                    file_names.append(f"images/{name}")
                    sizes.append((h, w))
                    index += 1
                if to == "coco":
                    ids = batch.columns.get("image_id")
                    image_ids.extend(int(v) for v in ids) if ids is not None else image_ids.extend(
                        range(len(image_ids) + 1, len(image_ids) + 1 + len(batch))
                    )
                    for key in ("boxes", "box_classes", "keypoints"):
                        if getattr(batch, key) is not None:
                            collected.setdefault(key, []).append(getattr(batch, key))
                    for key in ("annotation_id", "area", "iscrowd"):
                        if key in batch.columns:
                            collected.setdefault(key, []).append(np.asarray(batch.columns[key]))
            if to == "yolo":
                from thermcli.io.yolo import format_data_yaml

                names = list(box_names) if box_names else [f"class{k}" for k in range(max_class + 1)]
                if max_class >= len(names):
                    raise DataError(f"box class {max_class} is outside the {len(names)} class names", path=str(path))
                (tmp / "data.yaml").write_text(format_data_yaml(names))
            else:
                from thermcli.io.coco import build_coco

                arrays = {k: np.concatenate(v) for k, v in collected.items()}
                encoding = _image_encoding(unit, eight_bit)
                info = {
                    "description": f"exported by thermcli from {path.name}",
                    "thermcli": {
                        "unit": encoding["unit"],
                        "encoding": encoding,
                        "modality": meta.modality,
                        "sigmas": meta.sigmas,
                        "flip_pairs": meta.flip_pairs,
                        "class_names": meta.class_names,
                        "label_kind": meta.label_kind,
                        "columns": {k: v for k, v in column_dtypes.items()},
                        "window": list(window) if window else None,
                        "palette": palette,
                    },
                    "provenance": provenance,
                }
                doc = build_coco(
                    file_names=file_names,
                    sizes=sizes,
                    image_ids=image_ids,
                    boxes=arrays.get("boxes"),
                    box_classes=arrays.get("box_classes"),
                    keypoints=arrays.get("keypoints"),
                    annotation_ids=arrays.get("annotation_id"),
                    area=arrays.get("area"),
                    iscrowd=arrays.get("iscrowd"),
                    category_names=list(box_names),
                    keypoint_names=meta.keypoint_names,
                    skeleton=meta.skeleton,
                    info=info,
                    image_extras=extras,
                )
                report.annotations = len(doc["annotations"])
                (tmp / "annotations.json").write_text(json.dumps(doc) + "\n")
            (tmp / "provenance.json").write_text(json.dumps({"provenance": provenance}, indent=2) + "\n")
        report.n = reader.n
        report.files = [str(out)]
    return report
