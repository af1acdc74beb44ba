"""``train --task detect``: a torchvision object detector on frames with ``boxes`` + ``box_classes``.

One task on the shared loop (:func:`thermcli.stages.trainer.fit`: optimiser, schedule, early
stopping, resume, Ctrl-C, seeding, the run folder). Frames of any unit become 3-channel 0..1
images (:func:`thermcli.models.detection.frames_to_images`); augmentation (horizontal flip and a
random zoom crop, the boxes following both) is drawn per batch from (seed, epoch, batch).
best.pt follows the validation box AP50 (COCO, this project's pycocotools-identical evaluator).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.trainer import LoopConfig

DEFAULT_ARCH = "ssdlite320_mobilenet_v3_large"


@dataclass(frozen=True)
class DetectConfig:
    arch: str = DEFAULT_ARCH
    weights: str = "none"  # none, or a file: torchvision detection state dict or a thermcli detect checkpoint
    input_size: tuple[int, int] = (320, 320)  # HxW the detector resizes to (R-CNN/FCOS: min and max side)
    augment: bool = True
    color_jitter: bool = False  # with augment: brightness, contrast, saturation, channel order, grey
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        from thermcli.models.detection import DETECTORS

        if self.arch not in DETECTORS:
            raise UsageError(f"unknown detector {self.arch!r}; choose from {', '.join(DETECTORS)}", param="--arch")
        if len(self.input_size) != 2 or min(self.input_size) < 32:
            raise UsageError(f"{self.input_size!r}: expected HxW, each ≥ 32", param="--input-size")
        if self.color_jitter and not self.augment:
            raise UsageError("--color-jitter is part of --augment: drop --no-augment", param="--color-jitter")
        from thermcli.models.weights import is_weight_name

        if self.weights not in ("none", "") and not Path(self.weights).suffix and not is_weight_name(self.weights):
            raise UsageError(f"{self.weights!r}: give none, a torchvision weights name (COCO_V1, DEFAULT) or a "
                             "weights file (.pt/.pth)", param="--weights")


@dataclass(frozen=True)
class DetectJob:
    data: Path
    out: Path
    cfg: DetectConfig
    loop: LoopConfig
    val: Path | None = None
    force: bool = False
    resume: bool = False


def detect_loop(loop: LoopConfig) -> LoopConfig:
    return replace(loop, monitor="val_AP50", mode="max", schedule_on="train_loss", schedule_mode="min",
                   drop_last=False)


# ---- data ------------------------------------------------------------------------------------


def load_detection_data(path: str | Path, *, need_boxes: bool = True):
    """(dataset, images (N, 3, H, W) float32, per-frame (boxes xyxy (b, 4), classes (b,))).

    Bad labels are one-line errors naming the file: a box outside the frame, a class beyond the
    class list, no boxes at all."""
    from thermcli.io import read_dataset
    from thermcli.models.detection import frames_to_images

    where = str(path)
    ds = read_dataset(path)
    images = frames_to_images(ds.frames, ds.unit)
    h, w = images.shape[2:]
    targets = []
    if ds.boxes is None:
        if need_boxes:
            raise DataError("has no boxes: --task detect needs boxes + box_classes (import --yolo or a COCO file)",
                            path=where)
        return ds, images, [(np.zeros((0, 4), np.float32), np.zeros(0, np.int64)) for _ in range(len(ds))]
    names = list(ds.meta.box_class_names or [])
    boxes = np.asarray(ds.boxes, np.float64)
    classes = np.zeros(boxes.shape[:2], np.int64) if ds.box_classes is None else np.asarray(ds.box_classes, np.int64)
    n_classes = len(names) or (int(classes[np.isfinite(boxes).all(-1)].max()) + 1 if np.isfinite(boxes).any() else 1)
    tol = 1.0  # a pixel of rounding in exported labels
    total = 0
    for i in range(len(ds)):
        present = np.isfinite(boxes[i]).all(-1)
        b, c = boxes[i][present], classes[i][present]
        if len(b):
            x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
            bad = (x0 < -tol) | (y0 < -tol) | (x1 > w + tol) | (y1 > h + tol)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DataError(f"frame {i}: box {b[k].round(1).tolist()} (x, y, w, h) lies outside the {w}×{h} frame",
                                path=where)
            if (b[:, 2] <= 0).any() or (b[:, 3] <= 0).any():
                raise DataError(f"frame {i}: a box has zero or negative width/height", path=where)
            wrong = (c < 0) | (c >= n_classes)
            if wrong.any():
                raise DataError(f"frame {i}: box class {int(c[wrong][0])} is beyond the {n_classes} classes "
                                f"({', '.join(names) or 'box_class_names'})", path=where)
            xyxy = np.stack([np.clip(x0, 0, w), np.clip(y0, 0, h), np.clip(x1, 0, w), np.clip(y1, 0, h)], 1)
        else:
            xyxy = np.zeros((0, 4))
        total += len(b)
        targets.append((xyxy.astype(np.float32), c.astype(np.int64)))
    if need_boxes and total == 0:
        raise DataError("has no boxes in any frame: nothing to learn", path=where)
    return ds, images, targets


def class_names(ds, targets) -> list[str]:
    names = list(ds.meta.box_class_names or [])
    if names:
        return names
    most = max((int(c.max()) for _, c in targets if len(c)), default=0)
    return [str(i) for i in range(most + 1)]


def augment(image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator, *,
            color_jitter: bool = False):
    """Horizontal flip (p = 0.5), then a zoom crop (side 0.6–1 of the frame, p = 0.5) or a zoom
    out (the frame shrunk to 0.5–1 of its side on a canvas of its mean colour, p = 0.25), resized
    back; boxes are moved and clipped; a box keeping < 40 % of its area is dropped. With
    ``color_jitter``: brightness, contrast, saturation, channel order and grey (pseudo-colour
    palettes differ between cameras)."""
    import cv2

    _, h, w = image.shape
    boxes = boxes.copy()
    if rng.random() < 0.5:
        image = image[:, :, ::-1]
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    draw = rng.random()
    if draw < 0.5:
        s = rng.uniform(0.6, 1.0)
        cw, ch = max(8, int(round(w * s))), max(8, int(round(h * s)))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = np.ascontiguousarray(image[:, y0:y0 + ch, x0:x0 + cw].transpose(1, 2, 0))
        image = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        moved = boxes - np.array([x0, y0, x0, y0], np.float32)
        moved[:, [0, 2]] = np.clip(moved[:, [0, 2]], 0, cw)
        moved[:, [1, 3]] = np.clip(moved[:, [1, 3]], 0, ch)
        kept = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1]) >= 0.4 * np.maximum(area, 1e-6)
        boxes = (moved[kept] * np.array([w / cw, h / ch, w / cw, h / ch], np.float32)).astype(np.float32)
        classes = classes[kept]
    elif draw < 0.75:
        s = rng.uniform(0.5, 1.0)
        sw, sh = max(8, int(round(w * s))), max(8, int(round(h * s)))
        x0, y0 = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))
        small = cv2.resize(np.ascontiguousarray(image.transpose(1, 2, 0)), (sw, sh), interpolation=cv2.INTER_AREA)
        canvas = np.empty((h, w, image.shape[0]), np.float32)
        canvas[:] = image.reshape(image.shape[0], -1).mean(1)
        canvas[y0:y0 + sh, x0:x0 + sw] = small.reshape(sh, sw, -1)
        image = canvas.transpose(2, 0, 1)
        boxes = (boxes * np.array([sw / w, sh / h, sw / w, sh / h], np.float32)
                 + np.array([x0, y0, x0, y0], np.float32)).astype(np.float32)
    if color_jitter and image.shape[0] == 3:
        from thermcli.stages.keypoints_data import color_jitter as jitter

        image = jitter(np.ascontiguousarray(image.transpose(1, 2, 0))[None], rng)[0].transpose(2, 0, 1)
    return np.ascontiguousarray(image, dtype=np.float32), boxes, classes


# ---- predictions and validation ---------------------------------------------------------------


def detect(model, images: np.ndarray, *, device, batch_size: int = 16):
    """Per image: (boxes xywh (d, 4) float32, scores (d,), classes (d,) 0-based)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            batch = [torch.from_numpy(im).to(device) for im in images[i:i + batch_size]]
            for det in model(batch):
                b = det["boxes"].cpu().numpy().astype(np.float32)
                xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1) if len(b) else np.zeros((0, 4), np.float32)
                out.append((xywh, det["scores"].cpu().numpy().astype(np.float32),
                            det["labels"].cpu().numpy().astype(np.int64) - 1))
    return out


def to_frame_arrays(dets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged detections → (boxes (N, P, 4) NaN-padded, scores (N, P), box_classes (N, P) −1-padded)."""
    p = max([len(d[0]) for d in dets] + [1])
    n = len(dets)
    boxes = np.full((n, p, 4), np.nan, np.float32)
    scores = np.full((n, p), np.nan, np.float32)
    classes = np.full((n, p), -1, np.int32)
    for i, (b, s, c) in enumerate(dets):
        boxes[i, :len(b)], scores[i, :len(b)], classes[i, :len(b)] = b, s, c
    return boxes, scores, classes


def box_ap(gt_ds, dets) -> dict[str, float]:
    """COCO box AP / AP50 of ``dets`` against ``gt_ds``'s boxes."""
    from thermcli.metrics.bbox import evaluate_boxes
    from thermcli.stages.evaluate_coco import boxes_from_dataset, detections_from_dataset

    gt = boxes_from_dataset(gt_ds, "validation")
    boxes, scores, classes = to_frame_arrays(dets)
    pred = gt_ds.replace(boxes=boxes, scores=scores, box_classes=np.maximum(classes, 0))
    scores = np.where(classes >= 0, scores, np.nan)
    pred = pred.replace(scores=scores.astype(np.float32))
    dt = detections_from_dataset(pred, gt, "predictions", np.arange(len(gt_ds), dtype=np.int64))
    stats = evaluate_boxes(gt, dt).stats
    return {"val_AP": float(stats["AP"]), "val_AP50": float(stats["AP50"])}


# ---- the task ----------------------------------------------------------------------------------


class DetectTask:
    name = "detect"

    def __init__(self, images, targets, train_idx, val, cfg: DetectConfig, ckpt_config: dict[str, Any],
                 batch_size: int):
        self.images, self.targets, self.train_idx = images, targets, np.asarray(train_idx)
        self.val = val  # (dataset, images) or None
        self.cfg, self.ckpt_config, self.batch_size = cfg, ckpt_config, batch_size

    def sample_count(self) -> int:
        return len(self.train_idx)

    def sample_weights(self):
        return None

    def batch(self, rows, device, rng):
        import torch

        images, targets = [], []
        for r in np.asarray(rows, dtype=np.int64):
            i = int(self.train_idx[r])
            image, (boxes, classes) = self.images[i], self.targets[i]
            if self.cfg.augment:
                image, boxes, classes = augment(image, boxes, classes, rng, color_jitter=self.cfg.color_jitter)
            images.append(torch.from_numpy(np.ascontiguousarray(image)).to(device))
            targets.append({"boxes": torch.from_numpy(boxes.reshape(-1, 4)).float().to(device),
                            "labels": torch.from_numpy(classes + 1).long().to(device)})
        return images, targets

    def loss(self, model, batch):
        images, targets = batch
        losses = model(images, targets)
        total = sum(losses.values())
        return total, {k: float(v.detach()) for k, v in losses.items()}

    def validate(self, model, device) -> dict[str, float]:
        if self.val is None:
            return {}
        ds, images = self.val
        return box_ap(ds, detect(model, images, device=device, batch_size=self.batch_size))

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        return {}

    def checkpoint_config(self) -> dict[str, Any]:
        return self.ckpt_config


def split_frames(ds, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of the groups (subject, else sequence, else frame): never frames of
    one recording on both sides."""
    n = len(ds)
    groups = ds.subject if ds.subject is not None else ds.sequence
    keys = np.asarray(groups).astype(str) if groups is not None else np.arange(n).astype(str)
    unique = np.unique(keys)
    if len(unique) < 2 or n < 5:
        return np.arange(n), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    held = rng.permutation(unique)[:max(1, int(round(fraction * len(unique))))]
    mask = np.isin(keys, held)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def train_detect(job: DetectJob, *, provenance: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    import torch

    from thermcli.models.detection import load_detection_weights
    from thermcli.models.registry import create_model
    from thermcli.runs import open_run
    from thermcli.stages.trainer import distributed_from_env, fit

    cfg, loop = job.cfg, detect_loop(job.loop)
    dist_info = distributed_from_env()
    with open_run(job.out, force=job.force, resume=job.resume, writer=dist_info.main) as run:
        ds, images, targets = load_detection_data(job.data)
        names = class_names(ds, targets)
        if job.val is not None:
            val_ds, val_images, val_targets = load_detection_data(job.val)
            if len(class_names(val_ds, val_targets)) > len(names):
                raise DataError(f"has more box classes than the training data's {len(names)}", path=str(job.val))
            train_idx = np.arange(len(ds))
            val = (val_ds, val_images)
        else:
            train_idx, val_idx = split_frames(ds, cfg.val_fraction, loop.seed)
            if not len(val_idx):
                val_idx = train_idx
            val = (ds.take(val_idx) if hasattr(ds, "take") else _take(ds, val_idx), images[val_idx])
        torch.manual_seed(loop.seed)
        kwargs = {"arch": cfg.arch, "num_classes": len(names), "min_size": min(cfg.input_size),
                  "max_size": max(cfg.input_size), "size": list(cfg.input_size)}
        model = create_model("detector", **kwargs)
        weights = None
        if cfg.weights not in ("none", ""):
            from thermcli.models.weights import weights_record

            from thermcli.models.detection import published_file

            path = published_file(cfg.arch, cfg.weights)
            loaded = load_detection_weights(model, str(path))
            weights = {**weights_record(str(cfg.weights), path), **loaded}
        ckpt_config = {
            "arch": "detector", "model_kwargs": kwargs, "task": "detect", "box_class_names": names,
            "input_kind": ds.unit, "input_size": list(cfg.input_size), "frame_shape": list(images.shape[2:]),
            "train_config": {**asdict(cfg), "loop": loop.to_json()}, "provenance": provenance, "weights": weights,
        }
        task = DetectTask(images, targets, train_idx, val, cfg, ckpt_config, loop.batch_size)
        result = fit(model, task, loop, run, resume=job.resume, run_config=ckpt_config, show_progress=not quiet)
        final = run.final
    return {"run": str(final), "best": str(final / "best.pt"), "monitor": "val_AP50",
            "best_value": float(result.best_value) if result.best_value is not None else None,
            "best_epoch": result.best_epoch, "epochs": result.epochs_run, "stopped_early": result.stopped_early,
            "train_frames": int(len(train_idx)), "classes": names}


def _take(ds, idx):
    fields = {}
    for name in ("frames", "rgb", "labels", "keypoints", "boxes", "box_classes", "scores", "subject", "sequence",
                 "timestamp"):
        value = getattr(ds, name)
        fields[name] = value[idx] if value is not None else None
    return ds.replace(**fields, columns={k: v[idx] for k, v in ds.columns.items()})


def run(job: DetectJob, *, options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """``thermcli train --task detect``."""
    from thermcli.io import make_provenance

    inputs = [job.data] + ([job.val] if job.val else []) + \
        ([Path(job.cfg.weights)] if job.cfg.weights not in ("none", "") else [])
    provenance = make_provenance("thermcli train", options, inputs=inputs, seed=job.loop.seed)
    return train_detect(job, provenance=provenance, quiet=quiet)
