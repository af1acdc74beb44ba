"""Stream the planned import: read each selected frame, pad it, attach its per-frame labels and
signals, and write batches; a failure aborts the writer (nothing half-written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError
from thermcli.io.schema import Dataset
from thermcli.stages.importer.options import ImportOptions, ImportReport, _Skip
from thermcli.stages.importer.plan import ImportPlan
from thermcli.stages.importer.sources import _selection, read_unit_frames
from thermcli.stages.importer.tables import _group_id, _id_text

# a batch is flushed at --batch-size frames or at this many bytes of frames, whichever comes
# first: large frames (a 1024×768 °C video frame is 3 MB) keep memory flat, and batches under
# glibc's 32 MB mmap threshold reuse their memory instead of faulting it in again every batch
_BATCH_BYTES = 24 << 20


def stream_import(plan: ImportPlan, out: Path, *, options: ImportOptions, report: ImportReport, force: bool) -> ImportReport:
    """Write the planned import into ``out``; fills and returns ``report``."""
    from thermcli.io import create_writer

    units, meta = plan.units, plan.meta
    yolo_cache: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    writer = None
    frame_shape: tuple[int, ...] | None = None
    batch: list[tuple[int, int, np.ndarray, dict[str, Any], tuple[int, int]]] = []

    def flush() -> None:
        nonlocal writer
        if not batch:
            return
        dataset = _batch_dataset(batch, meta, units, options, plan.labels_all, plan.signal_tables, plan.signal_names,
                                 plan.label_tables, plan.has_timestamp, plan.record_size)
        if options.yolo is not None:
            per_frame = []
            for ui, index, *_ in batch:
                path = units[ui].files[index]
                per_frame.append(yolo_cache.pop(path))
            p = max(plan.yolo_people, 1)
            boxes = np.full((len(batch), p, 4), np.nan, np.float32)
            classes = np.full((len(batch), p), -1, np.int32)
            for j, (b, c) in enumerate(per_frame):
                boxes[j, : len(b)] = b
                classes[j, : len(c)] = c
            dataset.boxes, dataset.box_classes = boxes, classes
        if writer is None:
            writer = create_writer(out, meta, force=force)
        writer.append(dataset)
        batch.clear()

    try:
        for ui, u in enumerate(units):
            frames = read_unit_frames(u, _selection(u.n, options), plan.unit, options, plan.overrides, plan.people, report)
            for index, frame, extras in frames:
                source_path = u.source if u.is_stream else u.files[index]
                size = (int(frame.shape[0]), int(frame.shape[1]))
                try:
                    frame = _pad(frame, plan.pad_shape, str(source_path))
                    shape = tuple(frame.shape)
                    if frame_shape is None:
                        frame_shape = shape
                    elif shape != frame_shape:
                        raise _Skip(source_path, f"is {shape[1]}×{shape[0]}{'' if len(shape) == 2 else f'×{shape[2]}'}, "
                                    f"but the first frame is {frame_shape[1]}×{frame_shape[0]} (pass --pad to pad to the largest)")
                    if options.yolo is not None:
                        yolo_cache[source_path] = _yolo_boxes(options, source_path, size, plan.meta)
                except _Skip as skip:
                    if not options.skip_bad:
                        raise DataError(skip.message, path=str(skip.path)) from None
                    report.skipped.append({"path": str(skip.path), "error": skip.message})
                    continue
                batch.append((ui, index, frame, extras, size))
                if len(batch) >= options.batch_size or len(batch) * frame.nbytes >= _BATCH_BYTES:
                    flush()
        if writer is None and not batch:
            raise DataError("no frames to import" + (" (every file was skipped)" if report.skipped else ""),
                            path=str(plan.sources[0]))
        if report.skipped:
            meta.attrs["skipped"] = report.skipped
            if writer is not None:
                writer.meta.attrs["skipped"] = report.skipped
        flush()
        writer.close()
        report.n = writer.n
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for u in units:
            if u.recording is not None:
                u.recording.close()
    report.unit = plan.unit
    report.frame_shape = frame_shape or ()
    report.columns = sorted(plan.signal_names)
    return report


def _pad(frame: np.ndarray, pad_shape: tuple[int, int] | None, path_hint: str) -> np.ndarray:
    if pad_shape is None:
        return frame
    h, w = frame.shape[:2]
    if h > pad_shape[0] or w > pad_shape[1]:
        raise _Skip(Path(path_hint), f"is larger than the padded size {pad_shape}")
    if (h, w) == pad_shape:
        return frame
    fill = np.nan if frame.dtype.kind == "f" else 0
    out_frame = np.full((*pad_shape, *frame.shape[2:]), fill, dtype=frame.dtype)
    out_frame[:h, :w] = frame
    return out_frame


def _yolo_boxes(options: ImportOptions, source_path: Path, size: tuple[int, int], meta) -> tuple[np.ndarray, np.ndarray]:
    from thermcli.io.yolo import read_yolo_boxes

    try:
        return read_yolo_boxes(Path(options.yolo) / (source_path.stem + ".txt"), width=size[1], height=size[0],
                               num_classes=len(meta.box_class_names) if meta.box_class_names else None)
    except DataError as exc:
        raise _Skip(Path(exc.path or source_path), exc.message) from None


def _batch_dataset(batch, meta, units, options, labels_all, signal_tables, signal_names, label_tables, has_timestamp, record_size) -> Dataset:
    frames = np.stack([item[2] for item in batch])
    kwargs: dict[str, Any] = {"frames": frames, "meta": meta}
    columns: dict[str, np.ndarray] = {}
    if has_timestamp:
        kwargs["timestamp"] = np.array([item[3].get("timestamp", 0.0) for item in batch], np.float64)
    if labels_all is not None:
        kwargs["labels"] = np.array([labels_all[ui][index] for ui, index, *_ in batch], np.int64)
    if signal_tables:
        for name in signal_names:
            columns[name] = np.array(
                [signal_tables[ui][0][name][signal_tables[ui][1] + index] for ui, index, *_ in batch], np.float64
            )
    for field_name, literal, regex, column in (
        ("subject", options.subject, options.subject_regex, options.subject_column),
        ("sequence", options.sequence, options.sequence_regex, options.sequence_column),
    ):
        values = None
        if literal is not None:
            values = [literal] * len(batch)
        elif column is not None:
            values = []
            for ui, index, *_ in batch:
                for tables in (label_tables, signal_tables):
                    if tables and column in tables[ui][0]:
                        table, offset = tables[ui]
                        cell = table[column][offset + index]
                        values.append(_id_text(cell))
                        break
        elif regex is not None:
            values = []
            for ui, index, *_ in batch:
                u = units[ui]
                path = u.source if u.is_stream else u.files[index]
                values.append(_group_id(path, regex, f"--{field_name}-regex"))
        if values is not None:
            kwargs[field_name] = np.array(values, dtype=object)
    extras = [item[3] for item in batch]
    for key in ("keypoints", "boxes", "box_classes"):
        if key in extras[0]:
            kwargs[key] = np.stack([e[key] for e in extras])
    # fields a thermcli COCO export stored per image, unless an option sets them
    if labels_all is None and all("labels" in e for e in extras):
        kwargs["labels"] = np.asarray([e["labels"] for e in extras], np.uint8 if meta.label_kind == "multilabel" else np.int64)
    for key in ("subject", "sequence"):
        if key not in kwargs and all(key in e for e in extras):
            kwargs[key] = np.array([str(e[key]) for e in extras], dtype=object)
    for key in [k for k in extras[0] if k.startswith("columns/")]:
        columns[key.removeprefix("columns/")] = np.stack([np.asarray(e[key]) for e in extras])
    if record_size:
        columns["image_size"] = np.array([item[4] for item in batch], np.int32)
    kwargs["columns"] = columns
    return Dataset(**kwargs)
