"""``thermcli distill``: knowledge distillation from a trained teacher into a student (per --task)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from thermcli.cli.train import Amp, GradClip
from thermcli.cli.options import (
    Adapter, BatchSize, Device, Epochs, ExcludeSubjects, FlipTest, Force, Frames, JsonOut, LatentNorm, LearningRate,
    MapWeight, Optimizer, Patience, Resume, RunOut, Scheduler, Seed, Subjects, Task, ValPath, WeightDecay, Weights,
)


def distill(
    ctx: typer.Context,
    train: Annotated[Path, typer.Argument(help="Training dataset (.h5 or PNG folder).", show_default=False)],
    teacher: Annotated[Path, typer.Option("--teacher", help="The teacher: a trained thermcli checkpoint (.pt), or for --task keypoints a published ViTPose .pth (ViTPose repo / MMPose 0.x or 1.x), used frozen as it is: no training, no labels.", show_default=False)],
    out: RunOut,
    student: Annotated[str, typer.Option("--student", help="The student's architecture (registry name).")] = "small_cnn",
    val: ValPath = None,
    task: Task = "classify",
    temperature: Annotated[float, typer.Option("--temperature", "-T", help="Softmax temperature T of the soft targets.")] = 4.0,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0, help="Weight of the soft (teacher) loss; 1 − α on the hard labels.")] = 0.5,
    weights: Weights = "none",
    frames: Frames = 1,
    window: Annotated[str, typer.Option("--window", help="With --frames K: causal (frame i and the K−1 before it) or centered (frames around i; offline analysis).")] = "causal",
    normalize: Annotated[str, typer.Option("--normalize", help="Refused: the student sees the teacher's normalisation (recorded in its checkpoint).")] = "frame",
    finetune: Annotated[str, typer.Option("--finetune", help="full, frozen, last:N or gradual:E (student backbone).")] = "full",
    balance: Annotated[str, typer.Option("--balance", help="weights, resample or none (hard-label term).")] = "weights",
    contrastive_weight: Annotated[float, typer.Option("--contrastive-weight", min=0.0, help="Contrastive term on the student's embeddings.")] = 0.0,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Contrastive margin (0–2).")] = 1.0,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=1.0, help="Student dropout before the classes layer.")] = 0.5,
    norm: Annotated[Optional[str], typer.Option("--norm", help="small_cnn student normalisation: batch, group or none.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", min=1, help="small_cnn channels of its first stage (16 by default).")] = None,
    beta: Annotated[str, typer.Option("--beta", help="--task keypoints: weight β of L1(latent) against (1 − β)·AdaptiveWing(heatmaps); a list or START:STOP:STEP runs one student per value (summary CSV + plot of AP against β).")] = "0.4",
    target: Annotated[str, typer.Option("--target", help="--task keypoints: heatmap targets, teacher (the teacher's heatmaps: no thermal labels) or labels (Gaussians of the thermal keypoints).")] = "teacher",
    test: Annotated[Optional[Path], typer.Option("--test", help="--task keypoints: labelled thermal frames scoring each run (OKS AP in the summary and the β plot); never used to train or select.", show_default=False)] = None,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="--task keypoints: HDF5 cache of the teacher's latents and heatmaps (default OUT/teacher_cache.h5; reused when teacher and pairs are unchanged).", show_default=False)] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="--task keypoints with several β: where to write the AP-against-β plot (default OUT/beta_sweep.png).", show_default=False)] = None,
    teacher_copies: Annotated[int, typer.Option("--teacher-copies", min=1, help="--task keypoints: crops per pair whose teacher outputs are cached: the plain crop + N−1 augmented ones (scale, rotation, flip drawn from --seed); each epoch the student sees one per pair.")] = 1,
    adapter: Adapter = True,
    latent_norm: LatentNorm = "none",
    map_weight: MapWeight = 0.0,
    flip_test: FlipTest = True,
    subjects: Subjects = None,
    exclude_subjects: ExcludeSubjects = None,
    epochs: Epochs = 30,
    batch_size: BatchSize = 64,
    lr: LearningRate = 1e-3,
    weight_decay: WeightDecay = 1e-4,
    optimizer: Optimizer = "adamw",
    scheduler: Scheduler = "plateau",
    patience: Patience = 8,
    grad_clip: GradClip = 0.0,
    amp: Amp = False,
    seed: Seed = 0,
    device: Device = "auto",
    resume: Resume = False,
    force: Force = False,
    json_out: JsonOut = False,
) -> None:
    """Distil a trained teacher into a student (Hinton: temperature T, α soft vs hard).

    --task keypoints: TRAIN holds aligned pairs; the teacher sees the RGB half, the student
    (--student mobilenet_v3_small, ...) the thermal half through a 1×1 projection into the
    teacher's frozen, shared decoder; loss β·L1(latent) + (1 − β)·AdaptiveWing(heatmaps).
    An option that does not apply to the task is refused (exit 2).

    Example: thermcli distill train.h5 --teacher runs/teacher/best.pt --student small_cnn --val val.h5 --out runs/student
    """
    from thermcli.cli.train import run_and_report

    def message(summary: dict) -> str:
        value = summary.get("best_value")
        return f"wrote {out}" + (f": best {summary.get('monitor')} {value:.4f}" if value is not None else "")

    run_and_report(ctx, "distill", distill_job(ctx), message)


# ---- typed jobs: every option is used by the task's job or refused --------------------------

COMMON = {"train", "teacher", "out", "student", "val", "task", "weights", "epochs", "batch_size", "lr", "weight_decay",
          "optimizer", "scheduler", "patience", "grad_clip", "amp", "seed", "device", "resume", "force", "json_out"}
CLASSIFY = {"temperature", "alpha", "frames", "window", "finetune", "balance", "contrastive_weight", "margin", "dropout",
            "norm", "width"}
KEYPOINTS = {"beta", "target", "test", "cache", "plot", "teacher_copies", "adapter", "latent_norm", "map_weight",
             "flip_test", "subjects", "exclude_subjects"}


def distill_applicable(task: str, params: dict[str, Any]) -> tuple[set[str], str]:
    return COMMON | (CLASSIFY if task == "classify" else KEYPOINTS), f"distill --task {task}"


def build_distill_job(task: str, params: dict[str, Any], given: set[str]):
    """The typed job of ``distill --task TASK`` from the parsed options (no I/O)."""
    from thermcli.cli.train import _path, classify_config, classify_monitor, loop_from
    from thermcli.errors import UsageError

    if task == "classify":
        from thermcli.stages.train_classify import ClassifyJob

        cfg = classify_config(params, arch=params["student"], teacher=str(params["teacher"]))
        return ClassifyJob(data=Path(params["train"]), out=Path(params["out"]), cfg=cfg,
                           loop=loop_from(params, **classify_monitor(params)),
                           val=_path(params.get("val")), force=params["force"], resume=params["resume"])
    if task == "keypoints":
        from thermcli.cli.options import parse_levels
        from thermcli.stages.distill_keypoints import KeypointDistillConfig, KeypointDistillJob
        from thermcli.stages.keypoints_data import parse_subjects

        if params.get("test") is not None and params.get("val") is not None:
            raise UsageError("--task keypoints scores the student on --test; give it or --val, not both", param="--val")
        student = params["student"] if "student" in given else "mobilenet_v3_small"
        cfg = KeypointDistillConfig(
            student=student, betas=tuple(parse_levels(params["beta"], "--beta")), target=params["target"],
            weights=params["weights"], flip_test=params["flip_test"], copies=params["teacher_copies"],
            adapter=params["adapter"], latent_norm=params["latent_norm"], map_weight=params["map_weight"],
            subjects=tuple(parse_subjects(params.get("subjects")) or ()) or None,
            exclude_subjects=tuple(parse_subjects(params.get("exclude_subjects")) or ()) or None,
        )
        test = params.get("test") if params.get("test") is not None else params.get("val")
        return KeypointDistillJob(data=Path(params["train"]), teacher=Path(params["teacher"]), out=Path(params["out"]),
                                  cfg=cfg, loop=loop_from(params), test=_path(test), cache=_path(params.get("cache")),
                                  plot=_path(params.get("plot")), force=params["force"], resume=params["resume"])
    raise UsageError(f"no job builder for task {task!r}", param="--task")


def distill_job(ctx: typer.Context):
    from thermcli.cli.train import task_job

    return task_job(ctx, "distill", distill_applicable, build_distill_job)
