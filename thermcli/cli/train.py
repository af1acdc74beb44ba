"""``thermcli train``: train a model on a dataset (one stage module per --task)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from thermcli.cli.options import (
    Balance, ContrastiveWeight, Dropout, Finetune, Margin, Norm, Width, Window,
    Arch, Augment, BatchSize, Device, Epochs, ExcludeSubjects, FlipTest, Force, Frames, HeatmapLoss, InputSize, JsonOut,
    LearningRate, MapWeight, ColorJitter, Optimizer, Patience, Resume, RunOut, Scheduler, Seed, Side, Sigma, Subjects, Task,
    TeacherWeights, ValPath, WeightDecay, Weights, resolved_options, Stem, Grey,
)

GradClip = Annotated[float, typer.Option("--grad-clip", min=0.0, help="Clip the gradients' global L2 norm to this value before each step (0 = off).")]
Amp = Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on a CUDA device: float16 autocast with gradient scaling (refused on the CPU).")]


def train(
    ctx: typer.Context,
    train: Annotated[Path, typer.Argument(help="Training dataset (.h5 or PNG folder).", show_default=False)],
    out: RunOut,
    val: ValPath = None,
    task: Task = "classify",
    arch: Arch = "small_cnn",
    weights: Weights = "none",
    frames: Frames = 1,
    window: Window = "causal",
    normalize: Annotated[str, typer.Option("--normalize", help="frame (subtract each frame's mean, then scale), window (subtract the K-frame window's mean: keeps changes over time), dataset or none.")] = "frame",
    finetune: Finetune = "full",
    balance: Balance = "weights",
    contrastive_weight: ContrastiveWeight = 0.0,
    margin: Margin = 1.0,
    dropout: Dropout = 0.5,
    norm: Norm = None,
    width: Width = None,
    epochs: Epochs = 30,
    batch_size: BatchSize = 64,
    lr: LearningRate = 1e-3,
    weight_decay: WeightDecay = 1e-4,
    optimizer: Optimizer = "adamw",
    scheduler: Scheduler = "plateau",
    patience: Patience = 8,
    grad_clip: GradClip = 0.0,
    amp: Amp = False,
    cv: Annotated[Optional[str], typer.Option("--cv", help="loso: leave one subject out, a model per subject; reports each fold and mean ± std.")] = None,
    head: Annotated[str, typer.Option("--head", help="softmax (train the network) or svm+rf (an ensemble on --features' embeddings).")] = "softmax",
    features: Annotated[Optional[Path], typer.Option("--features", help="With --head svm+rf: the trained classify checkpoint whose embeddings feed the ensemble.")] = None,
    ensemble_weights: Annotated[str, typer.Option("--ensemble-weights", help="With --head svm+rf: learn (on --val) or W_SVM,W_RF[,W_NET] (W_NET: the feature network's own softmax).")] = "learn",
    svm_c: Annotated[str, typer.Option("--svm-c", help="With --head svm+rf: the SVM's C, or auto (the best of 0.1, 1, 10 on --val; 1 without --val).")] = "auto",
    trees: Annotated[int, typer.Option("--trees", min=1, help="With --head svm+rf: random-forest trees.")] = 200,
    cache: Annotated[str, typer.Option("--cache", help="Classify: memory (hold the frames), none (stream them from disk in blocks: flat memory) or auto (by size). Same batches and weights either way.")] = "auto",
    input_size: InputSize = None,
    stem: Stem = "sum",
    grey: Grey = False,
    sigma: Sigma = 2.0,
    loss: HeatmapLoss = "adaptive_wing",
    map_weight: MapWeight = 0.0,
    color_jitter: ColorJitter = False,
    side: Side = "frames",
    teacher_weights: TeacherWeights = None,
    flip_test: FlipTest = True,
    augment: Augment = True,
    subjects: Subjects = None,
    exclude_subjects: ExcludeSubjects = None,
    seed: Seed = 0,
    device: Device = "auto",
    resume: Resume = False,
    force: Force = False,
    json_out: JsonOut = False,
) -> None:
    """Train a model: transfer learning on a thermal dataset, written to a run folder.

    --task classify learns frame classes (labels + class_names) with a backbone from the registry
    and the head GAP → 128 → dropout → classes; runs unchanged under torchrun (DDP).
    --task keypoints learns a top-down heatmap pose model on person crops (--cv loso: one model
    per subject). An option that does not apply to the task is refused (exit 2).

    Example: thermcli train sample_data/breathing.h5 --task classify --arch small_cnn --epochs 5 --out runs/breathing
    """
    run_and_report(ctx, "train", train_job(ctx), lambda summary: f"wrote {out}: {_headline(summary)}")


def run_and_report(ctx: typer.Context, kind: str, job, message) -> None:
    """Run ``kind``'s job for ``--task``; rank 0 prints the summary (--json) or ``message(summary)``."""
    import json
    import os

    from thermcli.cli import state
    from thermcli.progress import say

    json_out = ctx.params["json_out"]
    summary = run_job(kind, ctx.params["task"], job, options=resolved_options(ctx), quiet=state.quiet or json_out)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 speaks
        return
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        say(message(summary))


def _headline(summary: dict) -> str:
    if "folds" in summary:
        key, name = ("balanced_accuracy", "balanced accuracy") if "balanced_accuracy" in summary else ("AP", "OKS AP")
        value = summary[key]
        return f"leave-one-subject-out {name} {value['mean']:.4f} ± {value['std']:.4f}"
    if "weights" in summary and isinstance(summary["weights"], dict):
        return f"svm+rf ensemble, weights {summary['weights']}"
    value = summary.get("best_value")
    return f"best {summary.get('monitor')} {value:.4f} at epoch {summary.get('best_epoch', 0) + 1}" if value is not None else "done"


# ---- typed jobs: every option is used by the task's job or refused --------------------------

LOOP = {"epochs", "batch_size", "lr", "weight_decay", "optimizer", "scheduler", "patience", "grad_clip", "amp", "seed",
        "device"}
RUN = {"train", "out", "val", "task", "resume", "force", "json_out"}
CLASSIFY_MODEL = {"arch", "weights", "frames", "window", "normalize", "finetune", "balance", "contrastive_weight",
                  "margin", "dropout", "norm", "width", "input_size", "stem", "grey", "cache"}
KEYPOINT_MODEL = {"arch", "weights", "input_size", "sigma", "loss", "map_weight", "color_jitter", "side",
                  "teacher_weights", "flip_test", "augment", "subjects", "exclude_subjects"}
DETECT_MODEL = {"arch", "weights", "input_size", "augment", "color_jitter"}
ENSEMBLE = {"train", "out", "val", "task", "head", "features", "ensemble_weights", "svm_c", "trees", "seed", "device",
            "force", "json_out"}


def given_options(ctx: typer.Context) -> set[str]:
    """Parameters the user set (command line or environment), as opposed to defaults."""
    from typer._click.core import ParameterSource

    return {name for name in ctx.params
            if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}


def refuse_inapplicable(ctx: typer.Context, applicable: set[str], what: str) -> None:
    """Exit 2 naming the first option the user gave that ``what`` does not use."""
    from thermcli.errors import UsageError

    params = {p.name: p for p in ctx.command.params}
    for name in sorted(given_options(ctx) - applicable, key=list(params).index):
        param = params[name]
        opts = list(param.opts)
        if getattr(param, "secondary_opts", None) and ctx.params[name] is False:
            opts = list(param.secondary_opts)
        raise UsageError(f"does not apply to {what}", param=max(opts, key=len))


def train_applicable(task: str, params: dict[str, Any]) -> tuple[set[str], str]:
    """The options ``train --task TASK`` (in the mode ``params`` select) uses, and its name."""
    if task == "classify" and params.get("head") == "svm+rf":
        return set(ENSEMBLE), "--task classify --head svm+rf"
    if task == "detect":
        return RUN | LOOP | DETECT_MODEL, "--task detect"
    model = CLASSIFY_MODEL | {"head"} if task == "classify" else KEYPOINT_MODEL
    used = RUN | LOOP | model | {"cv"}
    if params.get("cv"):
        return used - {"val", "resume", "patience", "cache"}, f"--task {task} --cv {params['cv']}"
    return used, f"--task {task}"


def loop_from(params: dict[str, Any], **monitor: Any):
    from thermcli.stages.trainer import LoopConfig

    return LoopConfig(epochs=params["epochs"], batch_size=params["batch_size"], lr=params["lr"],
                      weight_decay=params["weight_decay"], optimizer=params["optimizer"], scheduler=params["scheduler"],
                      patience=params["patience"], seed=params["seed"], device=params["device"],
                      grad_clip=params.get("grad_clip", 0.0), amp=params.get("amp", False), **monitor)


def classify_monitor(params: dict[str, Any]) -> dict[str, str]:
    """What a classify run selects its best epoch on: balanced accuracy on --val, else the loss."""
    return {"monitor": "val_balanced_accuracy", "mode": "max"} if params.get("val") else {"monitor": "train_loss", "mode": "min"}


def _path(value) -> Path | None:
    return Path(value) if value is not None else None


def classify_config(params: dict[str, Any], *, arch: str, teacher: str | None = None):
    from thermcli.models.classifier import parse_input_size
    from thermcli.stages.train_classify import ClassifyConfig

    model_kwargs = tuple((key, params[key]) for key in ("norm", "width") if params.get(key))
    return ClassifyConfig(
        arch=arch, weights=params["weights"], frames=params["frames"], normalize=params["normalize"],
        window=params.get("window") or "causal", finetune=params["finetune"], balance=params["balance"],
        contrastive_weight=params["contrastive_weight"], margin=params["margin"], dropout=params["dropout"],
        model_kwargs=model_kwargs, teacher=teacher, temperature=params.get("temperature", 4.0),
        alpha=params.get("alpha", 0.5), input_size=parse_input_size(params.get("input_size")),
        stem=params.get("stem") or "sum", grey=bool(params.get("grey")),
    )


def build_train_job(task: str, params: dict[str, Any], given: set[str]):
    """The typed job of ``train --task TASK`` from the parsed options (no I/O)."""
    from thermcli.errors import UsageError

    if task == "classify":
        from thermcli.stages.train_classify import ClassifyJob, EnsembleJob

        if params["head"] == "svm+rf":
            if not params.get("features"):
                raise UsageError("--head svm+rf needs --features FROM.pt (a trained classify checkpoint)", param="--features")
            return EnsembleJob(data=Path(params["train"]), out=Path(params["out"]), features=Path(params["features"]),
                               val=_path(params.get("val")), weights=params["ensemble_weights"], svm_c=params["svm_c"],
                               trees=params["trees"], seed=params["seed"], device=params["device"], force=params["force"])
        if params["head"] != "softmax":
            raise UsageError(f"{params['head']!r}: expected softmax or svm+rf", param="--head")
        return ClassifyJob(data=Path(params["train"]), out=Path(params["out"]), cfg=classify_config(params, arch=params["arch"]),
                           loop=loop_from(params, **classify_monitor(params)), val=_path(params.get("val")), cv=params.get("cv"),
                           force=params["force"], resume=params["resume"], cache=params.get("cache") or "auto")
    if task == "keypoints":
        from thermcli.cli.options import parse_size
        from thermcli.stages.keypoints_data import parse_subjects
        from thermcli.stages.train_keypoints import KeypointJob, KeypointTrainConfig

        # the classify default small_cnn is no pose encoder: keypoints default to the paper's student
        arch = params["arch"] if "arch" in given else "mobilenet_v3_small"
        cfg = KeypointTrainConfig(
            arch=arch, side=params["side"], input_size=parse_size(params["input_size"] or "256x192", "--input-size"),
            sigma=params["sigma"], loss=params["loss"], augment=params["augment"], flip_test=params["flip_test"],
            weights=params["weights"], teacher_weights=str(params["teacher_weights"]) if params.get("teacher_weights") else None,
            map_weight=params["map_weight"], color_jitter=params["color_jitter"],
            subjects=tuple(parse_subjects(params.get("subjects")) or ()) or None,
            exclude_subjects=tuple(parse_subjects(params.get("exclude_subjects")) or ()) or None, cv=params.get("cv"),
        )
        return KeypointJob(data=Path(params["train"]), out=Path(params["out"]), cfg=cfg, loop=loop_from(params),
                           val=_path(params.get("val")), force=params["force"], resume=params["resume"])
    if task == "detect":
        from thermcli.parsing import parse_size
        from thermcli.stages.train_detect import DEFAULT_ARCH, DetectConfig, DetectJob

        size = params.get("input_size") or "320x320"
        cfg = DetectConfig(arch=params["arch"] if "arch" in given else DEFAULT_ARCH, weights=params["weights"],
                           input_size=parse_size(size if "x" in size else f"{size}x{size}", "--input-size"),
                           augment=params["augment"], color_jitter=params["color_jitter"])
        return DetectJob(data=Path(params["train"]), out=Path(params["out"]), cfg=cfg, loop=loop_from(params),
                         val=_path(params.get("val")), force=params["force"], resume=params["resume"])
    raise UsageError(f"no job builder for task {task!r}", param="--task")


def train_job(ctx: typer.Context):
    """Check the task, refuse the options it does not use, build its typed job."""
    return task_job(ctx, "train", train_applicable, build_train_job)


def task_job(ctx: typer.Context, kind: str, applicable, build):
    """``kind``'s job for ``--task``: check the task, refuse the options ``applicable(task,
    params)`` leaves out, then ``build(task, params, given)``."""
    from thermcli.stages.train import task_stage

    params = dict(ctx.params)
    task_stage(kind, params["task"])  # unknown task: exit 2 with suggestions
    usable, what = applicable(params["task"], params)
    refuse_inapplicable(ctx, usable, what)
    return build(params["task"], params, given_options(ctx))


def run_job(kind: str, task: str, job, *, options: dict[str, Any], quiet: bool) -> dict[str, Any]:
    from thermcli.stages.train import task_stage

    return task_stage(kind, task).run(job, options=options, quiet=quiet)
