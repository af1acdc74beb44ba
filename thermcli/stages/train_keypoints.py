"""``train --task keypoints``: a top-down heatmap pose model on person crops.

Trains either side of a dataset: the thermal frames (a supervised thermal baseline) or the
paired RGB frames (``side="rgb"``: the RGB teacher). Adam, ReduceLROnPlateau on the validation
loss, early stopping on validation OKS AP; keypoint-aware augmentation (scale, rotation,
flip with left/right swap) drawn per sample from the seed. Writes a run folder
(config.json, metrics.csv, curves.png, best.pt, last.pt).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages import keypoints_data as KD


@dataclass(frozen=True)
class KeypointTrainConfig:
    arch: str = "mobilenet_v3_small"  # encoder: mobilenet_v3_small, resnet50, vit_b, vit_tiny
    side: str = "frames"  # frames (thermal) or rgb (the paired RGB frames: a teacher)
    input_size: tuple[int, int] = (256, 192)
    sigma: float = 2.0
    loss: str = "adaptive_wing"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 8
    val_fraction: float = 0.2
    augment: bool = True
    flip_test: bool = True
    weights: str = "none"
    teacher_weights: str | None = None  # official ViTPose checkpoint (arch vit_b)
    seed: int = 0
    device: str = "auto"
    subjects: tuple[str, ...] | None = None
    exclude_subjects: tuple[str, ...] | None = None
    vit: dict[str, int] = field(default_factory=dict)
    map_weight: float = 0.0  # Adaptive Wing weighted loss map W (the paper: 10; 0 = off)
    color_jitter: bool = False  # RGB side with augment: brightness, contrast, saturation, channel order, grey
    scheduler: str = "plateau"  # plateau | cosine | none


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


def train_keypoints(dataset: str | Path, out: str | Path, config: KeypointTrainConfig, *, provenance: dict[str, Any],
                    val: str | Path | None = None, force: bool = False, resume: bool = False,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train and write ``out/`` (a run folder). Returns the summary (best epoch, AP, paths)."""
    import torch

    from thermcli.device import resolve_device, seed_everything
    from thermcli.models.pose import HEATMAP_LOSSES, load_vitpose_checkpoint
    from thermcli.runs import RunDir

    if config.loss not in HEATMAP_LOSSES:
        raise UsageError(f"unknown loss {config.loss!r}; choose from mse, adaptive_wing", param="--loss")
    KD.check_scheduler(config.scheduler)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    people = KD.load_people(dataset, side=config.side, subjects=config.subjects, exclude_subjects=config.exclude_subjects)
    if len(people) == 0:
        raise DataError("no labelled people (boxes) in the dataset", path=str(dataset))
    kmeta = KD.keypoint_meta(people.meta)
    in_chans = 3 if people.kind == "rgb" else 1
    model, model_kwargs = build_pose_model(config.arch, in_chans=in_chans, input_size=config.input_size,
                                           num_keypoints=people.num_keypoints, weights=config.weights, vit=config.vit)
    if config.teacher_weights:
        if model_kwargs["encoder"] != "vit":
            raise UsageError("--teacher-weights loads an official ViTPose checkpoint: use --arch vit_b",
                             param="--teacher-weights")
        load_vitpose_checkpoint(model, config.teacher_weights)
    model.to(device)
    if val is not None:
        val_people = KD.load_people(val, side=config.side)
        train_idx, val_idx = np.arange(len(people)), np.arange(len(val_people))
    else:
        train_idx, val_idx = KD.split_by_subject(people, config.val_fraction, config.seed)
        val_people = people
    ckpt_config = {
        "arch": "topdown_pose", "model_kwargs": model_kwargs, "task": "keypoints", "side": config.side,
        "input_kind": people.kind, "input_size": list(config.input_size),
        "input_shape": [in_chans, *config.input_size], "heatmap_size": list(model.heatmap_size),
        "sigma": config.sigma, **kmeta, "train_config": _jsonable(asdict(config)), "provenance": provenance,
        "weights": _initial_weights(model, config),
    }
    run = RunDir(out, force=force, resume=resume)
    run.write_config(ckpt_config)
    loss_fn = HEATMAP_LOSSES[config.loss]
    if config.map_weight and loss_fn is HEATMAP_LOSSES["adaptive_wing"]:
        loss_fn = functools.partial(loss_fn, map_weight=config.map_weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = KD.make_scheduler(optimizer, config.scheduler, config.epochs)
    start_epoch, best_ap, stale, best_epoch = 0, -np.inf, 0, 0
    if resume and run.last.is_file():
        from thermcli.models.checkpoint import read_checkpoint

        payload = read_checkpoint(run.last)
        model.load_state_dict(payload["state_dict"])
        extra = payload["extra"]
        optimizer.load_state_dict(extra["optimizer"])
        if scheduler is not None and extra.get("scheduler"):
            scheduler.load_state_dict(extra["scheduler"])
        start_epoch = int(extra["epoch"]) + 1
        best_ap, stale = float(extra.get("best_ap", -np.inf)), int(extra.get("stale", 0))
        run.truncate(start_epoch)
    rng = np.random.default_rng(config.seed)
    summary: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        tic = time.perf_counter()
        model.train()
        order = rng.permutation(train_idx)
        losses = []
        for lo in range(0, len(order), config.batch_size):
            index = order[lo: lo + config.batch_size]
            x, target, weight = _batch(people, index, config, model, rng if config.augment else None, kmeta)
            pred = model(x.to(device))
            loss = loss_fn(pred, target.to(device), weight.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        row: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        if len(val_idx):
            row.update(_validate(model, val_people, val_idx, config, kmeta, loss_fn, device, in_chans))
        else:
            row.update(_validate(model, people, train_idx, config, kmeta, loss_fn, device, in_chans))
        KD.step_scheduler(scheduler, row["val_loss"])
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - tic
        improved = row["val_AP"] > best_ap
        if improved:
            best_ap, stale, best_epoch = row["val_AP"], 0, epoch
            _save(run.best, model, ckpt_config, {"epoch": epoch, "val_AP": best_ap})
        else:
            stale += 1
        run.log(row)  # before last.pt: an interrupt between the two re-runs the epoch on --resume
        _save(run.last, model, ckpt_config,
              {"epoch": epoch, "optimizer": optimizer.state_dict(), "best_ap": best_ap, "stale": stale,
               "scheduler": scheduler.state_dict() if scheduler is not None else None})
        if log:
            log(f"epoch {epoch}: loss {row['train_loss']:.4f} val_loss {row['val_loss']:.4f} val AP {row['val_AP']:.3f}")
        if stale >= config.patience:
            break
    summary = {"run": str(run.path), "best": str(run.best), "best_val_AP": float(best_ap), "best_epoch": best_epoch,
               "epochs": len(run.rows),
               "train_people": int(len(train_idx)), "val_people": int(len(val_idx))}
    return summary


def _batch(people, index, config, model, rng, kmeta):
    import torch

    affines, flipped = KD.augmented_affines(people, index, config.input_size, rng)
    jitter = rng if (rng is not None and config.color_jitter) else None
    x = KD.crop_inputs(people, index, affines, config.input_size, model.config["in_chans"], jitter=jitter)
    target, weight = KD.crop_targets(people, index, affines, flipped, config.input_size, model.heatmap_size,
                                     sigma=config.sigma, flip_pairs=kmeta["flip_pairs"])
    return torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(weight)


def _validate(model, people, index, config, kmeta, loss_fn, device, in_chans) -> dict[str, float]:
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for lo in range(0, len(index), config.batch_size):
            sub = index[lo: lo + config.batch_size]
            x, target, weight = _batch(people, sub, config, model, None, kmeta)
            losses.append(float(loss_fn(model(x.to(device)), target.to(device), weight.to(device))) * len(sub))
    subset = people.take(index)
    kp, scores = KD.predict_people(model, subset, input_size=config.input_size, batch_size=config.batch_size,
                                   flip_test=config.flip_test, flip_pairs=kmeta["flip_pairs"], in_chans=in_chans,
                                   device=device)
    result = KD.evaluate_people(subset, kp, scores)
    return {"val_loss": float(np.sum(losses) / max(len(index), 1)), "val_AP": max(result.stats["AP"], 0.0),
            "val_AP50": result.stats["AP50"], "val_px_error": result.mean_pixel_error}


def _save(path, model, config, extra) -> None:
    from thermcli.models.checkpoint import save_checkpoint

    save_checkpoint(path, state_dict=model.state_dict(), config=config, extra=extra)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def run_from_cli(params: dict[str, Any], *, options: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """``thermcli train --task keypoints``."""
    from thermcli.cli.options import parse_size
    from thermcli.io import make_provenance
    from thermcli.progress import say

    arch = params["arch"]
    if arch == "small_cnn":  # the classify default: keypoints default to the paper's student encoder
        arch = "mobilenet_v3_small"
    if params["side"] not in ("frames", "rgb"):
        raise UsageError(f"{params['side']!r}: choose frames or rgb", param="--side")
    if params.get("frames", 1) != 1:
        raise UsageError("--task keypoints uses one frame a sample", param="--frames")
    for option, value, default in (("--stem", params.get("stem") or "sum", "sum"), ("--grey", bool(params.get("grey")), False)):
        if value != default:  # classification input options
            raise UsageError("is an option of --task classify", param=option)
    config = KeypointTrainConfig(
        arch=arch, side=params["side"], input_size=parse_size(params["input_size"] or "256x192", "--input-size"),
        sigma=params["sigma"], loss=params["loss"], epochs=params["epochs"], batch_size=params["batch_size"],
        lr=params["lr"], weight_decay=params["weight_decay"], patience=params["patience"] or 10**9,
        augment=params["augment"], flip_test=params["flip_test"], weights=params["weights"],
        teacher_weights=str(params["teacher_weights"]) if params.get("teacher_weights") else None,
        seed=params["seed"], device=params["device"], map_weight=params.get("map_weight", 0.0),
        color_jitter=params.get("color_jitter", False), scheduler=params.get("scheduler", "plateau"),
        subjects=tuple(KD.parse_subjects(params.get("subjects")) or ()) or None,
        exclude_subjects=tuple(KD.parse_subjects(params.get("exclude_subjects")) or ()) or None,
    )
    inputs = [params["train"]] + ([params["val"]] if params.get("val") else [])
    inputs += [params["teacher_weights"]] if params.get("teacher_weights") else []
    provenance = make_provenance("thermcli train", options, inputs=inputs, seed=params["seed"])
    summary = train_keypoints(Path(params["train"]), Path(params["out"]), config, provenance=provenance,
                              val=Path(params["val"]) if params.get("val") else None, force=params["force"],
                              resume=params["resume"], log=None if quiet else say)
    return {**summary, "monitor": "val_AP", "best_value": summary["best_val_AP"]}
