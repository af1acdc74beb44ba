"""Validate an import's options, then plan it: its units, the dataset's unit and metadata, the
per-frame tables and the common frame size — everything decided before a frame is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.schema import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, Meta
from thermcli.stages.importer.options import ImportOptions, ImportReport
from thermcli.stages.importer.sources import (
    _decide_unit,
    _frame_size,
    _selection,
    _Unit,
    flir_video_attrs,
    units_of_source,
)
from thermcli.stages.importer.tables import _check_columns, _labels_from, _load_tables, _overrides_table


def validate_options(options: ImportOptions) -> None:
    """Refuse options that are wrong on their own, before any file is opened."""
    if options.stride < 1:
        raise UsageError("must be ≥ 1", param="--stride")
    if options.emissivity is not None and not 0 < options.emissivity <= 1:
        raise UsageError("must be in (0, 1]", param="--emissivity")
    if options.distance is not None and not 0 <= options.distance < 1e5:
        raise UsageError("must be ≥ 0 (metres)", param="--distance")
    if options.humidity is not None and not 0 <= options.humidity <= 100:
        raise UsageError("must be in [0, 100] (percent)", param="--humidity")
    if options.palette is not None:
        from thermcli.ops.palette import palette_lut

        palette_lut(options.palette)  # unknown name → UsageError before any work
    for regex, param in ((options.subject_regex, "--subject-regex"), (options.sequence_regex, "--sequence-regex")):
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise UsageError(f"bad regular expression: {exc}", param=param) from None


@dataclass
class ImportPlan:
    """What an import will write, decided before the first frame is read."""

    sources: list[Path]
    units: list[_Unit]
    unit: str  # the dataset's unit
    meta: Meta
    overrides: dict[str, dict[str, float]]
    label_tables: list | None
    signal_tables: list | None
    signal_names: list[str]
    labels_all: list[np.ndarray] | None  # labels of every source frame (before selection), per unit
    people: int  # people per frame of a COCO source
    pad_shape: tuple[int, int] | None  # the common frame size when frames differ (None: no padding)
    record_size: bool  # store each frame's own size (``image_size``)
    has_timestamp: bool
    yolo_people: int = 0  # boxes per frame of --yolo labels (the most any frame has)


def plan_import(sources: list[Path], options: ImportOptions, provenance: dict[str, Any], report: ImportReport) -> ImportPlan:
    """The plan of importing ``sources``: reads the sources' listings, headers and tables (small),
    not their frames; refuses what cannot be imported as asked."""
    units: list[_Unit] = []
    for k, source in enumerate(sources):
        for unit_ in units_of_source(Path(source), options, report):
            unit_.source_index = k
            units.append(unit_)
    if not units:
        raise DataError("no readable source (every one was skipped)", path=str(sources[0]))
    if options.yolo is not None:
        if not Path(options.yolo).is_dir():
            raise DataError("no such folder", path=str(options.yolo))
        if any(u.kind in ("video", "coco", "flir_video") for u in units):
            raise UsageError("YOLO labels go with image folders (not videos or COCO files)", param="--yolo")
    for value, param in ((options.distance, "--distance"), (options.humidity, "--humidity")):
        if value is not None and any(u.kind != "flir_video" for u in units):
            raise UsageError("applies to FLIR radiometric video (.seq, .csq, .fff) only", param=param)
    unit = _decide_unit(units, options)
    overrides = _overrides_table(options)

    label_tables = _load_tables(options.labels, units, len(sources), "--labels", options, report)
    signal_tables = _load_tables(options.signals, units, len(sources), "--signals", options, report)
    if label_tables:
        _check_columns([options.label_column], label_tables, "--label-column")
    if signal_tables and options.columns:
        _check_columns(list(options.columns), signal_tables, "--columns")
    group_tables = [t for t in (label_tables, signal_tables) if t]
    for column, param in ((options.subject_column, "--subject-column"), (options.sequence_column, "--sequence-column")):
        if column is not None:
            if not group_tables or not any(column in t[0][0] for t in group_tables):
                raise UsageError(f"no column {column!r} in the --labels/--signals tables", param=param)
    signal_names: list[str] = []
    if signal_tables:
        table0 = signal_tables[0][0]
        signal_names = list(options.columns) if options.columns else [k for k, v in table0.items() if v.dtype != object]
        for name in signal_names:
            if table0[name].dtype == object:
                raise UsageError(f"column {name!r} is not numeric", param="--columns")

    # labels for every source frame (before selection)
    labels_all: list[np.ndarray] | None = None
    class_names: list[str] | None = list(options.class_names) if options.class_names else None
    if label_tables:
        labels_all = []
        values = [table[options.label_column][offset : offset + u.n] for (table, offset), u in zip(label_tables, units)]
        merged, class_names = _labels_from(np.concatenate(values), options.class_names, str(options.labels[0]))
        bounds = np.cumsum([0] + [u.n for u in units])
        labels_all = [merged[bounds[i] : bounds[i + 1]] for i in range(len(units))]

    meta, people = _meta(sources, units, unit, class_names, options, provenance, report)

    # padding: a common frame size when images differ (COCO always, image folders with --pad)
    pad_shape: tuple[int, int] | None = None
    record_size = False
    if any(u.kind == "coco" for u in units):
        sizes = {(im.height, im.width) for u in units if u.kind == "coco" for im in u.coco.images}
        if len(sizes) > 1 or options.pad:
            pad_shape = (max(h for h, _ in sizes), max(w for _, w in sizes))
        record_size = True
    elif options.pad and all(u.kind in ("images", "radiometric") for u in units):
        sizes = {s for u in units for f in u.files if (s := _frame_size(f, u.kind, options)) is not None}
        if sizes:
            pad_shape = (max(h for h, _ in sizes), max(w for _, w in sizes))
        record_size = True

    # timestamps for all frames or none: videos carry their rate, image sequences need --fps
    has_timestamp = options.fps is not None or all(
        u.is_stream or (u.kind == "coco" and all("timestamp" in (im.extra or {}) for im in u.coco.images)) for u in units
    )
    return ImportPlan(
        sources=list(sources), units=units, unit=unit, meta=meta, overrides=overrides, label_tables=label_tables,
        signal_tables=signal_tables, signal_names=signal_names, labels_all=labels_all, people=people,
        pad_shape=pad_shape, record_size=record_size, has_timestamp=has_timestamp,
        yolo_people=_yolo_people(units, options) if options.yolo is not None else 0,
    )


def _meta(sources, units: list[_Unit], unit: str, class_names: list[str] | None, options: ImportOptions,
          provenance: dict[str, Any], report: ImportReport) -> tuple[Meta, int]:
    """The dataset's metadata (and the people per frame of a COCO source)."""
    coco = next((u.coco for u in units if u.kind == "coco"), None)
    hint = ((coco.info or {}).get("thermcli") or {}) if coco is not None else {}
    modality = options.modality or (hint.get("modality") if hint.get("modality") in ("thermal", "rgb") else "thermal")
    if class_names is None and hint.get("class_names"):
        class_names = list(hint["class_names"])
    meta = Meta(unit=unit, modality=modality, class_names=class_names)
    if not options.labels and hint.get("label_kind") in ("multiclass", "multilabel"):
        meta.label_kind = hint["label_kind"]
    people = 0
    if coco is not None:
        people = max(u.coco.max_people for u in units if u.kind == "coco")
        meta.box_class_names = coco.category_names
        if coco.keypoint_names:
            meta.keypoint_names = coco.keypoint_names
            meta.skeleton = coco.skeleton
            k = len(coco.keypoint_names)
            if hint.get("sigmas") and len(hint["sigmas"]) == k:
                meta.sigmas = [float(v) for v in hint["sigmas"]]
            elif coco.keypoint_names == COCO_KEYPOINT_NAMES:
                meta.sigmas = list(COCO_SIGMAS)
            if hint.get("flip_pairs") is not None:
                meta.flip_pairs = [list(p) for p in hint["flip_pairs"]]
            elif coco.keypoint_names == COCO_KEYPOINT_NAMES:
                meta.flip_pairs = [list(p) for p in COCO_FLIP_PAIRS]
    if options.yolo is not None:
        from thermcli.io.yolo import read_yolo_names

        names = list(options.box_classes) if options.box_classes else read_yolo_names(options.yolo)
        meta.box_class_names = names
    attrs: dict[str, Any] = {"source": "thermcli import", "sources": [str(s) for s in sources]}
    if options.palette:
        attrs["palette"] = options.palette
        attrs["relative_intensity"] = True
        report.warnings.append(
            f"frames were converted from the {options.palette} palette to a relative 8-bit intensity, not °C: "
            "the camera's colour scale is not in the pixels"
        )
    attrs.update(flir_video_attrs(units))
    meta.attrs = attrs
    meta.provenance = provenance
    return meta, people


def _yolo_people(units: list[_Unit], options: ImportOptions) -> int:
    """People per frame must be fixed before the first batch: count the boxes first (small files)."""
    most = 0
    for u in units:
        for index in _selection(u.n, options):
            label = Path(options.yolo) / (u.files[index].stem + ".txt")
            if label.is_file():
                count = sum(1 for line in label.read_text(errors="replace").splitlines() if line.strip())
                most = max(most, count)
    return most
