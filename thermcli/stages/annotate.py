"""``thermcli annotate``: draw ground truth and predictions (keypoints + skeleton, boxes, scores,
class labels) on a dataset's frames and write a PNG folder, a contact sheet (.png) or an MP4.

Predictions come from a keypoint model (``model``: run on the frames) or a predictions dataset
(``predictions``: e.g. from ``thermcli predict``, with ``keypoints``/``boxes``/``scores``/
``labels``). Temperature frames go through a palette with one temperature window for the whole
output (so colours compare across frames), upscaled for legibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError


@dataclass(frozen=True)
class AnnotateConfig:
    palette: str = "ironbow"
    window: tuple[float, float] | None = None
    scale: int = 0  # 0 = auto: frames at least 480 px wide
    colorbar: bool = True
    show_gt: bool = True
    show_pred: bool = True
    columns: int = 6
    fps: float = 5.0
    min_confidence: float = 0.0
    min_score: float = 0.0  # predicted boxes/people scoring below this are not drawn
    rows: tuple[int | None, int | None] | None = None
    device: str = "auto"


def output_kind(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix == ".png":
        return "sheet"
    if suffix == ".mp4":
        return "mp4"
    if suffix:
        raise UsageError(f"{out.name}: OUT is a folder (no suffix), a contact sheet (.png) or a video (.mp4)", param="OUT")
    return "folder"


def annotate(data: Path, out: Path, config: AnnotateConfig, *, model: Path | None = None,
             predictions: Path | None = None, force: bool = False, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    from thermcli.io import read_dataset
    from thermcli.ops import draw as D
    from thermcli.ops.palette import palette_names

    if model is not None and predictions is not None:
        raise UsageError("give --model or --pred, not both", param="--pred")
    if config.palette not in palette_names():
        raise UsageError(f"unknown palette {config.palette!r}; choose from {', '.join(palette_names())}", param="--palette")
    kind = output_kind(out)
    ds = read_dataset(data)
    pred = None
    if model is not None and checkpoint_task(model) == "detect":
        from thermcli.device import resolve_device
        from thermcli.stages.predict_detect import predict as predict_boxes

        p = predict_boxes(model, data, device=resolve_device(config.device), batch_size=16, provenance={})
        pred = {"keypoints": None, "scores": p.scores, "boxes": p.boxes, "labels": None, "class_names": None,
                "box_classes": p.box_classes, "box_class_names": p.meta.box_class_names}
    elif model is not None:
        from thermcli.device import resolve_device
        from thermcli.stages.predict_keypoints import predict_arrays

        kp, scores, _, mconfig = predict_arrays(model, data, device=resolve_device(config.device))
        pred = {"keypoints": kp, "scores": scores, "boxes": ds.boxes, "labels": None, "class_names": None}
    elif predictions is not None:
        p = read_dataset(predictions)
        if len(p) != len(ds):
            raise DataError(f"{len(p)} prediction frames for {len(ds)} frames in {data}", path=str(predictions))
        if p.keypoints is not None and ds.keypoints is not None and p.keypoints.shape[2] != ds.keypoints.shape[2]:
            raise DataError(f"predictions have {p.keypoints.shape[2]} keypoints, {data} has {ds.keypoints.shape[2]}",
                            path=str(predictions))
        pred = {"keypoints": p.keypoints, "scores": p.scores, "boxes": p.boxes, "labels": p.labels,
                "class_names": p.meta.class_names, "box_classes": p.box_classes,
                "box_class_names": p.meta.box_class_names}
    start, stop = (config.rows or (None, None))
    index = np.arange(len(ds))[slice(start, stop)]
    if index.size == 0:
        raise UsageError("no frames selected", param="--frames")
    names = ds.meta.keypoint_names or [f"k{i}" for i in range(ds.keypoints.shape[2] if ds.keypoints is not None else 17)]
    from thermcli.stages.keypoints_data import keypoint_meta

    skeleton = keypoint_meta(ds.meta)["skeleton"]
    h, w = ds.frames.shape[1:3]
    scale = config.scale or max(1, int(np.ceil(480 / w)))
    window = config.window
    radiometric = ds.frames.ndim == 3 and ds.meta.unit in ("celsius", "kelvin", "counts")
    if radiometric and window is None:
        window = D.robust_window(ds.frames[index])
    images = []
    for i in index:
        image = np.ascontiguousarray(D.frame_to_rgb(ds.frames[i], unit=ds.meta.unit, palette=config.palette,
                                                    window=window, scale=scale))
        if config.show_gt:
            _draw_people(image, ds.keypoints, ds.boxes, None, i, names, skeleton, scale, "gt", ds.box_classes,
                         ds.meta.box_class_names, config)
        if pred is not None and config.show_pred:
            _draw_people(image, pred["keypoints"], pred["boxes"], pred["scores"], i, names, skeleton, scale, "pred",
                         pred.get("box_classes"), pred.get("box_class_names"), config)
        title = _title(ds, pred, i)
        if title:
            D.put_label(image, title, (4, image.shape[0] - 6), size=0.4)
        parts = [image]
        if config.colorbar and radiometric:
            unit = "celsius" if ds.meta.unit == "celsius" else ds.meta.unit
            parts.append(D.colour_bar(image.shape[0], window, palette=config.palette, unit=unit))
        framed = np.concatenate(parts, axis=1) if len(parts) > 1 else image
        if pred is not None and config.show_gt and ds.keypoints is not None:
            framed = np.concatenate([D.legend(framed.shape[1]), framed], axis=0)
        images.append(framed)
    _write(out, kind, images, config, force)
    return {"out": str(out), "kind": kind, "frames": int(len(images)), "scale": scale,
            "window": list(window) if window else None, "palette": config.palette}


def checkpoint_task(path: Path) -> str | None:
    """The task a checkpoint was trained for (its config's ``task``), read without building it."""
    from thermcli.models.checkpoint import read_checkpoint

    return read_checkpoint(path)["config"].get("task")


def _title(ds, pred, i: int) -> str:
    parts = [f"#{i}"]
    if ds.subject is not None:
        parts.append(str(ds.subject[i]))
    if ds.labels is not None and ds.labels.ndim == 1 and ds.meta.class_names and ds.labels[i] >= 0:
        parts.append(f"gt {ds.meta.class_names[int(ds.labels[i])]}")
    if pred is not None and pred.get("labels") is not None and pred.get("class_names"):
        label = int(pred["labels"][i])
        if 0 <= label < len(pred["class_names"]):
            parts.append(f"pred {pred['class_names'][label]}")
    return "  ".join(parts)


def _draw_people(image, keypoints, boxes, scores, i, names, skeleton, scale, style, box_classes, box_class_names, config):
    from thermcli.ops import draw as D

    people = 0
    if keypoints is not None:
        people = keypoints.shape[1]
    if boxes is not None:
        people = max(people, boxes.shape[1])
    for p in range(people):
        if style == "pred" and scores is not None and scores.ndim == 2 and p < scores.shape[1] \
                and np.isfinite(scores[i, p]) and scores[i, p] < config.min_score:
            continue
        if boxes is not None and p < boxes.shape[1]:
            label = None
            if style == "pred" and scores is not None and np.isfinite(scores[i, p]):
                cls = "person"
                if box_classes is not None and box_class_names:
                    cls = box_class_names[int(box_classes[i, p])]
                label = f"{cls} {float(scores[i, p]):.2f}"
            elif style == "gt" and box_classes is not None and box_class_names and np.isfinite(boxes[i, p]).all():
                label = box_class_names[int(box_classes[i, p])] if (keypoints is None) else None
            D.draw_box(image, boxes[i, p], scale=scale, style=style, label=label)
        if keypoints is not None and p < keypoints.shape[1]:
            D.draw_pose(image, keypoints[i, p], skeleton=skeleton, names=names, scale=scale, style=style,
                        min_confidence=config.min_confidence)


def _write(out: Path, kind: str, images: list[np.ndarray], config: AnnotateConfig, force: bool) -> None:
    import cv2

    from thermcli.io import atomic_path
    from thermcli.io.atomic import check_space, is_no_space, no_space_error
    from thermcli.io.pngdir import write_image_bytes
    from thermcli.ops import draw as D

    if kind == "folder":
        with atomic_path(out, force=force, directory=True) as tmp:
            for n, image in enumerate(images):
                ok, data = cv2.imencode(".png", image[..., ::-1])
                if not ok:
                    raise DataError("cannot encode image", path=str(out))
                write_image_bytes(tmp / f"{n:06d}.png", data)
        return
    if kind == "sheet":
        sheet = D.contact_sheet(images, columns=config.columns)
        ok, data = cv2.imencode(".png", sheet[..., ::-1])
        if not ok:
            raise DataError("cannot encode image", path=str(out))
        with atomic_path(out, force=force) as tmp:
            write_image_bytes(Path(tmp), data)
        return
    h, w = images[0].shape[:2]
    with atomic_path(out, force=force) as tmp:
        target = Path(str(tmp) + ".mp4")  # OpenCV picks the container from the suffix
        try:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), float(config.fps), (w, h))
            if not writer.isOpened():
                raise DataError("OpenCV cannot write MP4 here (no mp4v encoder)", path=str(out))
            try:
                # OpenCV's writer only logs a warning when a frame cannot be written: each frame
                # is checked against the free space, and the finished file is read back
                for image in images:
                    check_space(target, image.nbytes, out)
                    writer.write(image[..., ::-1])
            finally:
                writer.release()
            check_space(target, 0, out)
            written = cv2.VideoCapture(str(target))
            try:
                count = int(written.get(cv2.CAP_PROP_FRAME_COUNT)) if written.isOpened() else 0
            finally:
                written.release()
            if count != len(images):
                raise DataError(f"the video writer wrote {count} of {len(images)} frames (disk full?); nothing was written",
                                path=str(out))
            target.replace(tmp)
        except OSError as exc:
            if is_no_space(exc):
                raise no_space_error(out) from None
            raise
        finally:
            target.unlink(missing_ok=True)
