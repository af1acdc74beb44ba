"""``thermcli train``: train a model on a dataset (one stage module per --task)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import (
    Arch, Augment, BatchSize, Device, Epochs, ExcludeSubjects, FlipTest, Force, Frames, HeatmapLoss, InputSize, JsonOut,
    LearningRate, MapWeight, ColorJitter, Optimizer, Patience, Resume, RunOut, Scheduler, Seed, Side, Sigma, Subjects, Task,
    TeacherWeights, ValPath, WeightDecay, Weights, resolved_options, Stem, Grey,
)


def train(
    ctx: typer.Context,
    train: Annotated[Path, typer.Argument(help="Training dataset (.h5 or PNG folder).", show_default=False)],
    out: RunOut,
    val: ValPath = None,
    task: Task = "classify",
    arch: Arch = "small_cnn",
    weights: Weights = "none",
    frames: Frames = 1,
    window: Annotated[str, typer.Option("--window", help="With --frames K: causal (frame i and the K−1 before it) or centered (frames around i; offline analysis).")] = "causal",
    normalize: Annotated[str, typer.Option("--normalize", help="frame (subtract each frame's mean, then scale), window (subtract the K-frame window's mean: keeps changes over time), dataset or none.")] = "frame",
    finetune: Annotated[str, typer.Option("--finetune", help="full, frozen (backbone fixed), last:N (top N stages) or gradual:E (one more stage every E epochs).")] = "full",
    balance: Annotated[str, typer.Option("--balance", help="Class imbalance: weights (inverse frequency in the loss), resample or none.")] = "weights",
    contrastive_weight: Annotated[float, typer.Option("--contrastive-weight", min=0.0, help="Weight of the contrastive term on the embeddings (0 = off).")] = 0.0,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Contrastive margin on L2-normalised embeddings (0–2).")] = 1.0,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=1.0, help="Dropout before the classes layer.")] = 0.5,
    norm: Annotated[Optional[str], typer.Option("--norm", help="small_cnn normalisation layers: batch, group or none.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", min=1, help="small_cnn channels of its first stage (16 by default).")] = None,
    epochs: Epochs = 30,
    batch_size: BatchSize = 64,
    lr: LearningRate = 1e-3,
    weight_decay: WeightDecay = 1e-4,
    optimizer: Optimizer = "adamw",
    scheduler: Scheduler = "plateau",
    patience: Patience = 8,
    cv: Annotated[Optional[str], typer.Option("--cv", help="loso: leave one subject out, a model per subject; reports each fold and mean ± std.")] = None,
    head: Annotated[str, typer.Option("--head", help="softmax (train the network) or svm+rf (an ensemble on --features' embeddings).")] = "softmax",
    features: Annotated[Optional[Path], typer.Option("--features", help="With --head svm+rf: the trained classify checkpoint whose embeddings feed the ensemble.")] = None,
    ensemble_weights: Annotated[str, typer.Option("--ensemble-weights", help="With --head svm+rf: learn (on --val) or W_SVM,W_RF[,W_NET] (W_NET: the feature network's own softmax).")] = "learn",
    svm_c: Annotated[str, typer.Option("--svm-c", help="With --head svm+rf: the SVM's C, or auto (the best of 0.1, 1, 10 on --val; 1 without --val).")] = "auto",
    trees: Annotated[int, typer.Option("--trees", min=1, help="With --head svm+rf: random-forest trees.")] = 200,
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

    Example: thermcli train sample_data/breathing.h5 --task classify --arch small_cnn --epochs 5 --out runs/breathing
    """
    import json

    from thermcli.cli import state
    from thermcli.progress import say
    from thermcli.stages.train import run_task

    import os

    params = dict(ctx.params)
    summary = run_task("train", task, params, options=resolved_options(ctx), quiet=state.quiet or json_out)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 speaks
        return
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        say(f"wrote {out}: {_headline(summary)}")


def _headline(summary: dict) -> str:
    if "folds" in summary:
        ba = summary["balanced_accuracy"]
        return f"leave-one-subject-out balanced accuracy {ba['mean']:.4f} ± {ba['std']:.4f}"
    if "weights" in summary and isinstance(summary["weights"], dict):
        return f"svm+rf ensemble, weights {summary['weights']}"
    value = summary.get("best_value")
    return f"best {summary.get('monitor')} {value:.4f} at epoch {summary.get('best_epoch', 0) + 1}" if value is not None else "done"
