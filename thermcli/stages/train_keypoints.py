"""``train --task keypoints``: a top-down heatmap pose model on person crops.

Trains either side of a dataset: the thermal frames (a supervised thermal baseline) or the
paired RGB frames (``side="rgb"``: the RGB teacher), through the shared loop
(:func:`thermcli.stages.trainer.fit`: optimiser, weight decay, clipping, schedule on the
validation loss, early stopping on validation OKS AP, resume, Ctrl-C). Keypoint-aware
augmentation (scale, rotation, flip with left/right swap) is drawn per batch from
(seed, epoch, batch). ``cv="loso"``: one model per subject, trained on the others and scored
on the held-out subject. Writes a run folder (config.json, metrics.csv, curves.png, best.pt,
last.pt).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages import keypoints_data as KD
from thermcli.stages.trainer import LoopConfig

SIDES = ("frames", "rgb")
CV = (None, "loso")


@dataclass(frozen=True)
class KeypointTrainConfig:
    """What ``train --task keypoints`` learns (the loop's settings are a :class:`LoopConfig`)."""

    arch: str = "mobilenet_v3_small"  # encoder: mobilenet_v3_small, resnet50, vit_b, vit_tiny
    side: str = "frames"  # frames (thermal) or rgb (the paired RGB frames: a teacher)
    input_size: tuple[int, int] = (256, 192)
    sigma: float = 2.0
    loss: str = "adaptive_wing"
    val_fraction: float = 0.2
    augment: bool = True
    flip_test: bool = True
    weights: str = "none"
    teacher_weights: str | None = None  # official ViTPose checkpoint (arch vit_b)
    subjects: tuple[str, ...] | None = None
    exclude_subjects: tuple[str, ...] | None = None
    vit: dict[str, int] | None = None
    map_weight: float = 0.0  # Adaptive Wing weighted loss map W (the paper: 10; 0 = off)
    color_jitter: bool = False  # RGB side with augment: brightness, contrast, saturation, channel order, grey
    cv: str | None = None  # loso: one model per subject, scored on the held-out subject

    def __post_init__(self) -> None:
        from thermcli.models.pose import HEATMAP_LOSSES

        if self.side not in SIDES:
            raise UsageError(f"{self.side!r}: choose frames or rgb", param="--side")
        if self.loss not in HEATMAP_LOSSES:
            raise UsageError(f"unknown loss {self.loss!r}; choose from {', '.join(HEATMAP_LOSSES)}", param="--loss")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise UsageError(f"{self.input_size!r}: expected HEIGHTxWIDTH", param="--input-size")
        if self.sigma <= 0:
            raise UsageError("must be > 0", param="--sigma")
        if self.map_weight < 0:
            raise UsageError("must be ≥ 0", param="--map-weight")
        if self.map_weight and self.loss != "adaptive_wing":
            raise UsageError("the weighted loss map is Adaptive Wing's: use --loss adaptive_wing", param="--map-weight")
        if self.color_jitter and not self.augment:
            raise UsageError("colour jitter is an augmentation: drop --no-augment", param="--color-jitter")
        if self.arch.startswith("vit") and self.weights not in ("none", ""):
            raise UsageError(f"{self.arch} starts from --teacher-weights (a ViTPose checkpoint), not --weights",
                             param="--weights")
        if self.cv not in CV:
            raise UsageError(f"{self.cv!r}: the only protocol is loso (leave one subject out)", param="--cv")
        if self.cv and self.subjects and len(self.subjects) < 2:
            raise UsageError("--cv loso needs at least two subjects", param="--subjects")


def keypoint_loop(loop: LoopConfig) -> LoopConfig:
    """The loop as keypoint training runs it: best.pt and early stopping on validation OKS AP,
    the plateau schedule on the validation loss (×0.5 after 3 epochs), every sample each epoch."""
    return replace(loop, monitor="val_AP", mode="max", schedule_on="val_loss", schedule_mode="min",
                   schedule_patience=3, drop_last=False)


def build_pose_model(arch: str, *, in_chans: int, input_size, num_keypoints: int, weights: str = "none",
                     decoder_in: int | None = None, vit: dict | None = None):
    from thermcli.models.pose import pose_kwargs
    from thermcli.models.registry import create_model

    kwargs = pose_kwargs(arch, in_chans=in_chans, input_size=list(input_size), num_keypoints=num_keypoints,
                         weights=weights, decoder_in=decoder_in, **(vit or {}))
    return create_model("topdown_pose", **kwargs), kwargs


def _initial_weights(model, config) -> dict[str, Any] | None:
    """What the model started from (name, file, SHA-256): --weights or --teacher-weights."""
    from thermcli.models.weights import weights_record

    if config.teacher_weights:
        return weights_record(str(config.teacher_weights), config.teacher_weights)
    return getattr(model.encoder, "weights_record", None)


class KeypointTask(KD.PeopleRowsTask):
    """Heatmap regression on person crops (the trainer's Task)."""

    name = "keypoints"

    def __init__(self, config: KeypointTrainConfig, people, train_idx, val_people, val_idx, kmeta, model,
                 ckpt_config: dict[str, Any], batch_size: int):
        from thermcli.models.pose import HEATMAP_LOSSES

        self.config, self.people, self.train_idx = config, people, np.asarray(train_idx)
        self.val_people, self.val_idx, self.kmeta = val_people, val_idx, kmeta
        self.in_chans, self.heatmap_size = int(model.config["in_chans"]), tuple(model.heatmap_size)
        self.ckpt_config, self.batch_size = ckpt_config, batch_size
        loss_fn = HEATMAP_LOSSES[config.loss]
        if config.map_weight and config.loss == "adaptive_wing":
            loss_fn = functools.partial(loss_fn, map_weight=config.map_weight)
        self.loss_fn = loss_fn

    def batch(self, rows, device, rng):
        index = self.person_rows(rows)
        x, target, weight = _batch(self.people, index, self.config, self.in_chans, self.heatmap_size,
                                   rng if self.config.augment else None, self.kmeta)
        return x.to(device), target.to(device), weight.to(device)

    def loss(self, model, batch):
        x, target, weight = batch
        return self.loss_fn(model(x), target, weight), {}

    def validate(self, model, device) -> dict[str, float]:
        if self.val_people is None:  # loso folds: the held-out subject is the test, never a validation set
            return {}
        return _validate(model, self.val_people, self.val_idx, self.config, self.kmeta, self.loss_fn, device,
                         self.in_chans, self.heatmap_size, self.batch_size)

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        return {}

    def checkpoint_config(self) -> dict[str, Any]:
        return self.ckpt_config


def _prepare(config: KeypointTrainConfig, loop: LoopConfig, people, train_idx, val_people, val_idx, provenance):
    """(model, task) for the people at ``train_idx`` (validated on ``val_people[val_idx]``)."""
    import torch

    from thermcli.models.pose import load_vitpose_checkpoint

    kmeta = KD.keypoint_meta(people.meta)
    in_chans = 3 if people.kind == "rgb" else 1
    if config.color_jitter and people.kind != "rgb":
        raise UsageError("colour jitter applies to RGB crops; these are thermal (use --side rgb)", param="--color-jitter")
    torch.manual_seed(loop.seed)  # the model's initial weights
    model, model_kwargs = build_pose_model(config.arch, in_chans=in_chans, input_size=config.input_size,
                                           num_keypoints=people.num_keypoints, weights=config.weights, vit=config.vit)
    if config.teacher_weights:
        if model_kwargs["encoder"] != "vit":
            raise UsageError("--teacher-weights loads an official ViTPose checkpoint: use --arch vit_b",
                             param="--teacher-weights")
        load_vitpose_checkpoint(model, config.teacher_weights)
    ckpt_config = {
        "arch": "topdown_pose", "model_kwargs": model_kwargs, "task": "keypoints", "side": config.side,
        "input_kind": people.kind, "input_size": list(config.input_size),
        "input_shape": [in_chans, *config.input_size], "heatmap_size": list(model.heatmap_size),
        "sigma": config.sigma, **kmeta, "train_config": {**_jsonable(asdict(config)), "loop": loop.to_json()},
        "provenance": provenance,
        "weights": _initial_weights(model, config),
    }
    task = KeypointTask(config, people, train_idx, val_people, val_idx, kmeta, model, ckpt_config, loop.batch_size)
    return model, task


def _load(dataset, config: KeypointTrainConfig):
    people = KD.load_people(dataset, side=config.side, subjects=config.subjects,
                            exclude_subjects=config.exclude_subjects)
    if len(people) == 0:
        raise DataError("no labelled people (boxes) in the dataset", path=str(dataset))
    return people


def train_keypoints(dataset: str | Path, out: str | Path, config: KeypointTrainConfig, loop: LoopConfig, *,
                    provenance: dict[str, Any], val: str | Path | None = None, force: bool = False,
                    resume: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Train and write ``out/`` (a run folder). Returns the summary (best epoch, AP, paths)."""
    from thermcli.runs import open_run
    from thermcli.stages.trainer import distributed_from_env, fit

    if config.cv:
        if val is not None:
            raise UsageError("--cv loso holds out each subject in turn; do not give --val", param="--val")
        if resume:
            raise UsageError("--cv loso trains each fold from scratch; --resume does not apply", param="--resume")
        return cv_loso(dataset, out, config, loop, provenance=provenance, force=force, quiet=quiet)
    loop = keypoint_loop(loop)
    dist_info = distributed_from_env()
    with open_run(out, force=force, resume=resume, writer=dist_info.main) as run:
        people = _load(dataset, config)
        if val is not None:
            val_people = KD.load_people(val, side=config.side)
            train_idx, val_idx = np.arange(len(people)), np.arange(len(val_people))
        else:
            train_idx, val_idx = KD.split_by_subject(people, config.val_fraction, loop.seed)
            val_people = people
        n_val = len(val_idx)
        if not n_val:  # too few people to hold some out: validate on the training people
            val_idx = train_idx
        model, task = _prepare(config, loop, people, train_idx, val_people, val_idx, provenance)
        result = fit(model, task, loop, run, resume=resume, run_config=task.ckpt_config, show_progress=not quiet)
        final = run.final
    return {"run": str(final), "best": str(final / "best.pt"), "best_val_AP": float(result.best_value or 0.0),
            "best_epoch": result.best_epoch, "epochs": result.epochs_run, "stopped_early": result.stopped_early,
            "train_people": int(len(train_idx)), "val_people": int(n_val)}


def cv_loso(dataset: str | Path, out: str | Path, config: KeypointTrainConfig, loop: LoopConfig, *,
            provenance: dict[str, Any], force: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Leave-one-subject-out: a model per subject, trained on the others for ``loop.epochs`` epochs
    (no early stopping: the held-out subject is the test, never a validation set), scored (OKS) on
    the held-out subject with the last weights. Writes ``out/fold-SUBJECT/`` and ``out/cv.json``."""
    import json

    from thermcli.device import resolve_device
    from thermcli.io import write_text_atomic
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.runs import open_run
    from thermcli.stages.trainer import fit

    from thermcli.stages.trainer import distributed_from_env

    if distributed_from_env().world > 1:
        raise UsageError("--cv loso runs in one process (not under torchrun)", param="--cv")
    loop = replace(loop, patience=0, monitor="train_loss", mode="min", schedule_on="train_loss", schedule_mode="min",
                   schedule_patience=3, drop_last=False)
    with open_run(out, force=force) as run:
        people = _load(dataset, config)
        if people.subject is None:
            raise DataError("has no subject ids; --cv loso needs them", path=str(dataset))
        subject_of = people.subject.astype(str)[people.row]
        subjects = sorted(set(subject_of))
        if len(subjects) < 2:
            raise DataError(f"--cv loso needs at least two subjects, found {len(subjects)}", path=str(dataset))
        folds = []
        device = resolve_device(loop.device)
        for subject in subjects:
            train_idx = np.flatnonzero(subject_of != subject)
            test_idx = np.flatnonzero(subject_of == subject)
            fold = run.subrun(f"fold-{subject}")
            model, task = _prepare(config, loop, people, train_idx, None, None,
                                   {**provenance, "held_out_subject": subject})
            fit(model, task, loop, fold, run_config={**task.ckpt_config, "held_out_subject": subject},
                show_progress=not quiet)
            model, _, _ = load_checkpoint(fold.last)
            model.to(device)
            kmeta = task.kmeta
            test = people.take(test_idx)
            kp, sc = KD.predict_people(model, test, input_size=config.input_size, batch_size=loop.batch_size,
                                       flip_test=config.flip_test, flip_pairs=kmeta["flip_pairs"],
                                       in_chans=task.in_chans, device=device)
            result = KD.evaluate_people(test, kp, sc)
            metrics = {"AP": float(result.stats["AP"]), "AP50": float(result.stats["AP50"]),
                       "pixel_error": float(result.mean_pixel_error)}
            folds.append({"subject": subject, "people": int(len(test_idx)), **metrics})
            if not quiet:
                from thermcli.progress import say

                say(f"fold {subject}: AP {metrics['AP']:.4f}")
        summary: dict[str, Any] = {"protocol": "leave-one-subject-out", "folds": folds}
        for key in ("AP", "AP50", "pixel_error"):
            values = np.array([f[key] for f in folds], np.float64)
            summary[key] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values))}
        summary["provenance"] = provenance
        write_text_atomic(run.path / "cv.json", json.dumps(summary, indent=2) + "\n")
        summary["run"] = str(run.final)
    return summary


def _batch(people, index, config, in_chans, heatmap_size, rng, kmeta):
    import torch

    affines, flipped = KD.augmented_affines(people, index, config.input_size, rng)
    jitter = rng if (rng is not None and config.color_jitter) else None
    x = KD.crop_inputs(people, index, affines, config.input_size, in_chans, jitter=jitter)
    target, weight = KD.crop_targets(people, index, affines, flipped, config.input_size, heatmap_size,
                                     sigma=config.sigma, flip_pairs=kmeta["flip_pairs"])
    return torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(weight)


def _validate(model, people, index, config, kmeta, loss_fn, device, in_chans, heatmap_size,
              batch_size) -> dict[str, float]:
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for lo in range(0, len(index), batch_size):
            sub = index[lo: lo + batch_size]
            x, target, weight = _batch(people, sub, config, in_chans, heatmap_size, None, kmeta)
            losses.append(float(loss_fn(model(x.to(device)), target.to(device), weight.to(device))) * len(sub))
    subset = people.take(index)
    kp, scores = KD.predict_people(model, subset, input_size=config.input_size, batch_size=batch_size,
                                   flip_test=config.flip_test, flip_pairs=kmeta["flip_pairs"], in_chans=in_chans,
                                   device=device)
    result = KD.evaluate_people(subset, kp, scores)
    return {"val_loss": float(np.sum(losses) / max(len(index), 1)), "val_AP": max(result.stats["AP"], 0.0),
            "val_AP50": result.stats["AP50"], "val_px_error": result.mean_pixel_error}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class KeypointJob:
    """``train --task keypoints``: the data, the run folder and what to learn."""

    data: Path
    out: Path
    cfg: KeypointTrainConfig
    loop: LoopConfig
    val: Path | None = None
    force: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        if self.cfg.cv and self.val is not None:
            raise UsageError("--cv loso holds out each subject in turn; do not give --val", param="--val")
        if self.cfg.cv and self.resume:
            raise UsageError("--cv loso trains each fold from scratch; --resume does not apply", param="--resume")


def run(job: KeypointJob, *, options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """``thermcli train --task keypoints``."""
    from thermcli.io import make_provenance

    inputs = [job.data] + ([job.val] if job.val else []) + ([job.cfg.teacher_weights] if job.cfg.teacher_weights else [])
    provenance = make_provenance("thermcli train", options, inputs=inputs, seed=job.loop.seed)
    summary = train_keypoints(job.data, job.out, job.cfg, job.loop, provenance=provenance, val=job.val, force=job.force,
                              resume=job.resume, quiet=quiet)
    if job.cfg.cv:
        return summary
    return {**summary, "monitor": "val_AP", "best_value": summary["best_val_AP"]}
