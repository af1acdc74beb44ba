"""``train --task classify`` (and ``distill --task classify``): frame classification with
transfer learning, fine-tuning schedules, a contrastive term, class balancing and K-frame input.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.classify_forward import (  # noqa: F401 (predict_embeddings: for callers)
    predict_embeddings,
    predict_logits,
    predict_logits_and_embeddings,
    torch_from,
)
from thermcli.stages.trainer import LoopConfig

BALANCE = ("none", "weights", "resample")


@dataclass(frozen=True)
class ClassifyConfig:
    arch: str = "small_cnn"
    weights: str = "none"
    frames: int = 1
    window: str = "causal"  # causal (frames up to i) | centered (frames around i)
    normalize: str = "frame"
    finetune: str = "full"  # full | frozen | last:N | gradual:E
    balance: str = "weights"
    contrastive_weight: float = 0.0
    margin: float = 1.0
    dropout: float = 0.5
    embed_dim: int = 128
    label_smoothing: float = 0.0
    model_kwargs: tuple = ()  # extra (key, value) pairs for create_model, e.g. (("norm", "group"),)
    input_size: tuple | None = None  # (H, W): the model resizes its input (recorded: predict does the same)
    stem: str = "sum"  # sum (first conv's RGB filters summed) | conv2x3 (BreathAI: two 3×3 convs → RGB stem)
    grey: bool = False  # 3-channel frames → one grey channel
    # distillation (distill --task classify)
    teacher: str | None = None
    temperature: float = 4.0
    alpha: float = 0.5

    def __post_init__(self) -> None:
        _check_config(self)


@dataclass(frozen=True)
class ClassifyJob:
    """``train``/``distill --task classify``: the data, the run folder and what to learn.

    ``cv="loso"``: a model per subject (no ``val``, no ``resume``: each fold is trained from
    scratch and scored on its held-out subject)."""

    data: Path
    out: Path
    cfg: ClassifyConfig
    loop: LoopConfig
    val: Path | None = None
    cv: str | None = None
    force: bool = False
    resume: bool = False
    cache: str = "auto"  # auto | memory | none: frames held in memory or streamed from disk

    def __post_init__(self) -> None:
        from thermcli.stages.classify_stream import check_cache

        check_cache(self.cache)
        if self.cv not in (None, "loso"):
            raise UsageError(f"{self.cv!r}: the only protocol is loso (leave one subject out)", param="--cv")
        if self.cv and self.val is not None:
            raise UsageError("--cv loso holds out each subject in turn; do not give --val", param="--val")
        if self.cv and self.resume:
            raise UsageError("--cv loso trains each fold from scratch; --resume does not apply", param="--resume")
        if self.cv and self.cfg.teacher:
            raise UsageError("leave-one-subject-out is for train, not distill", param="--cv")


@dataclass(frozen=True)
class EnsembleJob:
    """``train --task classify --head svm+rf``: an SVM + random forest on a trained network's embeddings."""

    data: Path
    out: Path
    features: Path
    val: Path | None = None
    weights: str = "learn"
    svm_c: str = "auto"
    trees: int = 200
    seed: int = 0
    device: str = "auto"
    force: bool = False

    def __post_init__(self) -> None:
        if self.trees < 1:
            raise UsageError("must be ≥ 1", param="--trees")


def parse_finetune(text: str) -> tuple[str, int]:
    """``full`` | ``frozen`` | ``last:N`` | ``gradual:E`` → (mode, N or E)."""
    text = text.strip().lower()
    if text in ("full", "frozen"):
        return text, 0
    match = re.fullmatch(r"(last|gradual):(\d+)", text)
    if not match or int(match.group(2)) < 1:
        raise UsageError(f"{text!r}: expected full, frozen, last:N or gradual:E (N, E ≥ 1)", param="--finetune")
    return match.group(1), int(match.group(2))


def trainable_stages(n_stages: int, finetune: str, epoch: int) -> int:
    """How many backbone stages (counted from the top) train in ``epoch``.

    >>> [trainable_stages(4, "gradual:2", e) for e in range(10)]
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    """
    mode, n = parse_finetune(finetune)
    if mode == "full":
        return n_stages
    if mode == "frozen":
        return 0
    if mode == "last":
        return min(n, n_stages)
    return min(n_stages, epoch // n)


def set_trainable(model, n_top: int) -> None:
    """Head always trains; the top ``n_top`` backbone stages train; the rest is frozen (BN too)."""
    stages = model.stages
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    frozen = []
    cut = len(stages) - n_top
    for i, stage in enumerate(stages):
        trainable = i >= cut
        for p in stage.parameters():
            p.requires_grad_(trainable)
        if not trainable:
            frozen.append(stage)
    # modules outside any named stage (e.g. a ResNet's bn1 after conv1) follow the first stage
    if n_top >= len(stages):
        for p in model.backbone.parameters():
            p.requires_grad_(True)
        frozen = []
    model._frozen_modules = frozen


class ClassifyTask:
    name = "classify"

    def __init__(self, cfg: ClassifyConfig, loop: LoopConfig, train, val, n_classes: int, norm, teacher=None,
                 provenance: dict | None = None, model_kwargs: dict | None = None, weights_record: dict | None = None):
        import torch

        self.cfg, self.loop = cfg, loop
        self.train, self.val = train, val
        self.n_classes = n_classes
        self.norm = norm
        self.teacher = teacher
        self.provenance = provenance or {}
        self.model_kwargs = model_kwargs or {}
        self.weights_record = weights_record  # the checkpoint names its initial weights (name, file, SHA-256)
        self.rows = train.labelled  # unlabelled (−1, e.g. pauses) frames do not train
        self.weight = None
        if cfg.balance == "weights":
            from thermcli.stages.classify_data import class_weights

            self.weight = class_weights(train.labels, n_classes)
        self._weights_np = None
        if cfg.balance == "resample":
            y = train.labels[self.rows].numpy()
            counts = np.bincount(y, minlength=n_classes).astype(np.float64)
            self._weights_np = 1.0 / counts[y]
        self._torch = torch

    # -- the Task protocol --------------------------------------------------------------------
    def sample_count(self) -> int:
        return int(self.rows.numel())

    def sample_weights(self):
        return self._weights_np

    def batch(self, order_rows, device):
        rows = self.rows[order_rows]
        x, y = self.train.batch(rows)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def loss(self, model, batch):
        from thermcli.losses import get_loss

        x, y = batch
        weight = self.weight.to(x.device) if self.weight is not None else None
        logits, embedding = model(x, return_embedding=True)
        logs: dict[str, float] = {}
        if self.teacher is not None:
            with self._torch.no_grad():
                teacher_logits = self.teacher(x)
            loss = get_loss("hinton_kd")(logits, teacher_logits, y, temperature=self.cfg.temperature,
                                         alpha=self.cfg.alpha, weight=weight)
        else:
            loss = get_loss("cross_entropy")(logits, y, weight=weight, label_smoothing=self.cfg.label_smoothing)
        if self.cfg.contrastive_weight > 0:
            term = get_loss("contrastive")(embedding, y, margin=self.cfg.margin)
            logs["train_contrastive"] = float(term.detach())
            loss = loss + self.cfg.contrastive_weight * term
        return loss, logs

    def validate(self, model, device) -> dict[str, float]:
        if self.val is None:
            return {}
        logits = predict_logits(model, self.val, device, rows=self.val.labelled)
        y = self.val.labels[self.val.labelled].numpy()
        import torch.nn.functional as F

        loss = float(F.cross_entropy(torch_from(logits), torch_from(y)))
        pred = logits.argmax(1)
        return {"val_loss": loss, **quick_metrics(y, pred, self.n_classes, prefix="val_")}

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        n = trainable_stages(len(model.stages), self.cfg.finetune, epoch)
        set_trainable(model, n)
        return {"trainable_stages": n}

    def checkpoint_config(self) -> dict[str, Any]:
        return {
            "arch": self.cfg.arch,
            "model_kwargs": self.model_kwargs,
            "task": "classify",
            "class_names": self.train.class_names,
            "frames": self.cfg.frames,
            "grey": self.cfg.grey,  # predict converts 3-channel frames as training did
            "window": self.cfg.window,
            "frame_shape": list(self.train.frame_shape),
            "normalization": self.norm.to_json(),
            "train_config": {**asdict(self.cfg), "model_kwargs": dict(self.cfg.model_kwargs)},
            "loop": self.loop.to_json(),
            "provenance": self.provenance,
            "weights": self.weights_record,
        }


class StreamedClassifyTask(ClassifyTask):
    """:class:`ClassifyTask` on block-read data (:mod:`thermcli.stages.classify_stream`): the
    engine orders each epoch by blocks and prepares batches in a background thread."""

    prefetch = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows_np = self.rows.numpy()

    def sample_blocks(self) -> np.ndarray:
        return self.train.block_of[self._rows_np]

    def shuffle_buffer(self, lanes: int) -> int:
        from thermcli.stages.classify_stream import shuffle_buffer

        return shuffle_buffer(self.train, lanes)

    def plan_epoch(self, local_batches: list) -> None:
        self.train.plan([self._rows_np[b] for b in local_batches])

    def end_epoch(self) -> None:
        self.train.unplan()

    def batch(self, order_rows, device):
        rows = self._rows_np[np.asarray(order_rows, np.int64)]
        x, y = self.train.batch(rows)
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def quick_metrics(y: np.ndarray, pred: np.ndarray, n_classes: int, *, prefix: str = "") -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 from a confusion matrix (validation each epoch)."""
    from thermcli.metrics.classification import confusion

    cm = confusion(y, pred, n_classes).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    tp = np.diag(cm)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        f"{prefix}accuracy": float(tp.sum() / max(cm.sum(), 1)),
        f"{prefix}balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        f"{prefix}f1_macro": float(f1[present | (predicted > 0)].mean()) if (present | (predicted > 0)).any() else float("nan"),
    }


def build_classifier(cfg: ClassifyConfig, n_classes: int, channels: int = 1):
    """(model, model_kwargs, weights record): the registry's model, pretrained weights loaded."""
    from thermcli.models.classifier import load_pretrained
    from thermcli.models.registry import check_name, create_model

    check_name(cfg.arch)
    kwargs = {"in_chans": cfg.frames * channels, "num_classes": n_classes, "embed_dim": cfg.embed_dim,
              "dropout": cfg.dropout}
    kwargs.update(dict(cfg.model_kwargs))
    kwargs.update({"stem": cfg.stem} if cfg.stem != "sum" else {})  # issue 21: input front end
    kwargs.update({"input_size": list(cfg.input_size)} if cfg.input_size else {})
    try:
        model = create_model(cfg.arch, **kwargs)
    except TypeError as exc:
        raise UsageError(f"{cfg.arch} does not take these options ({exc})", param="--arch") from None
    record = load_pretrained(model, cfg.arch, cfg.weights, in_chans=cfg.frames * channels)
    return model, kwargs, record


def _check_config(cfg: ClassifyConfig) -> None:
    from thermcli.models.registry import check_name

    if cfg.temperature <= 0:
        raise UsageError("must be > 0", param="--temperature")
    if cfg.balance not in BALANCE:
        raise UsageError(f"{cfg.balance!r}: expected {', '.join(BALANCE)}", param="--balance")
    parse_finetune(cfg.finetune)
    if cfg.contrastive_weight < 0:
        raise UsageError("must be ≥ 0", param="--contrastive-weight")
    if not 0.0 <= cfg.alpha <= 1.0:
        raise UsageError("must be in [0, 1]", param="--alpha")
    if cfg.frames < 1:
        raise UsageError("must be ≥ 1", param="--frames")
    if cfg.window not in ("causal", "centered"):
        raise UsageError(f"{cfg.window!r}: expected causal or centered", param="--window")
    from thermcli.stages.classify_data import NORMALIZE

    if cfg.normalize not in NORMALIZE:
        raise UsageError(f"{cfg.normalize!r}: expected one of {', '.join(NORMALIZE)}", param="--normalize")
    check_name(cfg.arch)


def _teacher_normalization(cfg: ClassifyConfig):
    if not cfg.teacher:
        return None
    from thermcli.models.checkpoint import read_checkpoint
    from thermcli.stages.classify_data import Normalization

    # the student sees exactly what the teacher saw: the teacher's normalisation
    config = read_checkpoint(cfg.teacher)["config"]
    if config.get("task") not in (None, "classify") or "normalization" not in config:
        raise DataError(f"checkpoint is a {config.get('task', 'non-classifier')} model, not classify", path=str(cfg.teacher))
    return Normalization(**config["normalization"])


def train_on(train, val, norm, run, *, cfg: ClassifyConfig, loop: LoopConfig, resume: bool, provenance: dict,
             run_config: dict, quiet: bool):
    """Build the model (+ teacher), train on in-memory splits, write ``run``; returns FitResult."""
    import torch

    from thermcli.device import resolve_device
    from thermcli.stages.classify_data import check_trainable
    from thermcli.stages.trainer import fit

    n_classes = check_trainable(train)
    torch.manual_seed(loop.seed)  # the model's initial weights
    teacher = load_teacher(cfg.teacher, train, cfg.frames, cfg.window) if cfg.teacher else None
    model, model_kwargs, weights_record = build_classifier(cfg, n_classes, channels=train.channels)
    check_frame_size(model, cfg.frames * train.channels, train, f"--arch {cfg.arch}")
    if teacher is not None:
        check_frame_size(teacher, cfg.frames * train.channels, train, f"the teacher {cfg.teacher}")
        teacher.to(resolve_device(loop.device))
    kind = StreamedClassifyTask if hasattr(train, "block_of") else ClassifyTask
    task = kind(cfg, loop, train, val, n_classes, norm, teacher=teacher, provenance=provenance,
                model_kwargs=model_kwargs, weights_record=weights_record)
    return fit(model, task, loop, run, resume=resume, run_config={**run_config, "weights": weights_record},
               show_progress=not quiet)


def check_frame_size(model, in_chans: int, data, what: str) -> None:
    """Frames smaller than ``model`` takes: one line naming the data file and the minimum size."""
    from thermcli.models.input_size import minimum_side

    side = minimum_side(model, in_chans, data.frame_shape)
    if side is not None:
        h, w = data.frame_shape
        raise DataError(f"frames are {w}×{h}, smaller than {what} takes: at least {side}×{side}", path=data.path)


def run_train_classify(train_path: Path, val_path: Path | None, out: Path, *, cfg: ClassifyConfig, loop: LoopConfig,
                       force: bool, resume: bool, options: dict[str, Any], quiet: bool = False,
                       cache: str = "auto") -> dict[str, Any]:
    """Train a classifier; returns a summary (best epoch, best validation metric, run folder).

    ``cache``: hold the frames in memory (memory), stream them from disk in blocks (none) or
    decide by size (auto); the same batches and weights either way."""
    from thermcli.io import make_provenance
    from thermcli.runs import open_run
    from thermcli.stages.classify_stream import check_cache, open_split
    from thermcli.stages.trainer import distributed_from_env

    from thermcli.models.weights import check_weights

    check_cache(cache)
    dist_info = distributed_from_env()
    check_weights(cfg.arch, cfg.weights)  # a missing or unsafe weights file: refused before any run folder
    with open_run(out, force=force, resume=resume, writer=dist_info.main) as run:
        train = open_split(train_path, frames_k=cfg.frames, norm=_teacher_normalization(cfg), normalize=cfg.normalize,
                           centered=cfg.window == "centered", cache=cache, grey=cfg.grey)
        norm = train.norm
        val = None
        if val_path is not None:
            val = open_split(val_path, frames_k=cfg.frames, norm=norm, class_names=train.class_names,
                             centered=cfg.window == "centered", cache=cache, grey=cfg.grey)
        inputs = [train_path] + ([val_path] if val_path else []) + ([Path(cfg.teacher)] if cfg.teacher else [])
        command = "thermcli distill --task classify" if cfg.teacher else "thermcli train --task classify"
        provenance = make_provenance(command, options, inputs=inputs, seed=loop.seed)
        run_config = {"command": command, "options": options, "train": str(train_path),
                      "val": str(val_path) if val_path else None,
                      "classify": {**asdict(cfg), "model_kwargs": dict(cfg.model_kwargs)}, "loop": loop.to_json(),
                      "world_size": dist_info.world, "provenance": provenance}
        result = train_on(train, val, norm, run, cfg=cfg, loop=loop, resume=resume, provenance=provenance,
                          run_config=run_config, quiet=quiet)
    return {
        "run": str(out),
        "best_epoch": result.best_epoch,
        "monitor": loop.monitor,
        "best_value": result.best_value,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "last": result.last_row,
    }


def run_cv_loso(data_path: Path, out: Path, *, cfg: ClassifyConfig, loop: LoopConfig, force: bool,
                options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """Leave-one-subject-out: a model per subject, trained on the others for ``loop.epochs`` epochs
    (no early stopping: the held-out subject is the test, never a validation set), evaluated on the
    held-out subject with the last weights. Writes ``out/fold-SUBJECT/`` and ``out/cv.json``."""
    from thermcli.runs import open_run
    from thermcli.stages.trainer import distributed_from_env

    from thermcli.models.weights import check_weights

    check_weights(cfg.arch, cfg.weights)  # a missing or unsafe weights file: refused before any run folder
    with open_run(out, force=force, writer=distributed_from_env().main) as parent:
        return _cv_loso(data_path, parent, cfg=cfg, loop=loop, options=options, quiet=quiet)


def _cv_loso(data_path: Path, parent, *, cfg: ClassifyConfig, loop: LoopConfig, options: dict[str, Any],
             quiet: bool) -> dict[str, Any]:
    import json

    import torch

    from thermcli.device import resolve_device
    from thermcli.io import make_provenance, write_text_atomic
    from thermcli.stages.classify_data import prepare, read_frames_labels

    ds, frames = read_frames_labels(data_path, grey=cfg.grey)
    if ds.subject is None:
        raise DataError("has no subject ids; --cv loso needs them", path=str(data_path))
    subjects = sorted(set(np.asarray(ds.subject).astype(str)))
    if len(subjects) < 2:
        raise DataError(f"--cv loso needs at least two subjects, found {len(subjects)}", path=str(data_path))
    provenance = make_provenance("thermcli train --task classify --cv loso", options, inputs=[data_path], seed=loop.seed)
    loop = LoopConfig(**{**loop.to_json(), "patience": 0, "monitor": "train_loss", "mode": "min"})
    folds = []
    subject_col = np.asarray(ds.subject).astype(str)
    for subject in subjects:
        test_rows = np.flatnonzero(subject_col == subject)
        train_rows = np.flatnonzero(subject_col != subject)
        train, norm = prepare(ds.take(train_rows), frames[train_rows], f"{data_path} (without {subject})",
                              frames_k=cfg.frames, norm=_teacher_normalization(cfg), normalize=cfg.normalize,
                              centered=cfg.window == "centered")
        test, _ = prepare(ds.take(test_rows), frames[test_rows], f"{data_path} ({subject})", frames_k=cfg.frames,
                          norm=norm, class_names=train.class_names, centered=cfg.window == "centered")
        run = parent.subrun(f"fold-{subject}")
        fold_options = {**options, "held_out_subject": subject}
        train_on(train, None, norm, run, cfg=cfg, loop=loop, resume=False, provenance=provenance,
                 run_config={"command": "train --cv loso", "options": fold_options, "provenance": provenance}, quiet=quiet)
        from thermcli.models.checkpoint import load_checkpoint

        model, _, _ = load_checkpoint(run.last)
        device = resolve_device(loop.device)
        model.to(device)
        rows = test.labelled
        logits = predict_logits(model, test, device, rows=rows)
        y = test.labels[rows].numpy()
        metrics = quick_metrics(y, logits.argmax(1), len(train.class_names))
        folds.append({"subject": subject, "frames": int(len(rows)), **metrics})
        if not quiet:
            from thermcli.progress import say

            say(f"fold {subject}: balanced accuracy {metrics['balanced_accuracy']:.4f}")
        del model
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    summary: dict[str, Any] = {"protocol": "leave-one-subject-out", "folds": folds}
    for key in ("accuracy", "balanced_accuracy", "f1_macro"):
        values = np.array([f[key] for f in folds], np.float64)
        summary[key] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values))}
    summary["provenance"] = provenance
    if parent.writer:
        write_text_atomic(parent.path / "cv.json", json.dumps(summary, indent=2) + "\n")
    return summary


def load_teacher(path: str, train, frames_k: int, window: str = "causal"):
    """A trained classify checkpoint, frozen, in eval mode; its classes must match the student's."""
    from thermcli.models.checkpoint import load_checkpoint

    teacher, config, _ = load_checkpoint(path, expect_task="classify")
    if list(config.get("class_names") or []) != list(train.class_names):
        raise DataError(f"teacher classes {config.get('class_names')} differ from the data's {train.class_names}", path=path)
    if int(config.get("frames", 1)) != frames_k:
        raise UsageError(f"the teacher takes --frames {config.get('frames')}; give the same", param="--frames")
    if config.get("window", "causal") != window:
        raise UsageError(f"the teacher takes --window {config.get('window', 'causal')}; give the same", param="--window")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def run(job: ClassifyJob | EnsembleJob, *, options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """Run a typed classify job: the softmax network, ``cv="loso"`` or the svm+rf ensemble."""
    if isinstance(job, EnsembleJob):
        from thermcli.device import resolve_device
        from thermcli.io import check_output
        from thermcli.stages.ensemble import train_ensemble

        check_output(job.out, force=job.force, param="--out")
        return train_ensemble(job.data, job.val, job.out, features=job.features, weights=job.weights, seed=job.seed,
                              svm_c=job.svm_c, trees=job.trees, device=resolve_device(job.device), force=job.force,
                              options=options)
    if job.cv:
        return run_cv_loso(job.data, job.out, cfg=job.cfg, loop=job.loop, force=job.force, options=options, quiet=quiet)
    summary = run_train_classify(job.data, job.val, job.out, cfg=job.cfg, loop=job.loop, force=job.force,
                                 resume=job.resume, options=options, quiet=quiet, cache=job.cache)
    if job.cfg.teacher:
        summary.update({"teacher": job.cfg.teacher, "temperature": job.cfg.temperature, "alpha": job.cfg.alpha})
    return summary
