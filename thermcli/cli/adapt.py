"""``thermcli adapt``: adversarial domain adaptation (ADDA, DANN) from a labelled source to an
unlabelled target domain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Device, Force, JsonOut, Resume, Seed, Weights, parse_size, resolved_options


def _parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected a comma list of integers, e.g. 0,1,2", param_hint="--seeds") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise typer.BadParameter(f"{text!r}: expected distinct integers, e.g. 0,1,2", param_hint="--seeds")
    return seeds


def adapt(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Labelled source dataset (e.g. RGB).", show_default=False)],
    target: Annotated[Path, typer.Argument(help="Target dataset (e.g. thermal); its labels, if any, are ignored.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create (runs/NAME).", show_default=False)],
    method: Annotated[str, typer.Option("--method", help="adda (Tzeng et al. 2017) or dann (Ganin et al. 2016).")] = "adda",
    target_val: Annotated[
        Optional[Path],
        typer.Option("--target-val", help="Labelled target set used ONLY to report target accuracy / F1 per epoch."),
    ] = None,
    source_model: Annotated[
        Optional[Path], typer.Option("--source-model", help="Skip stage 1: a source encoder + classifier checkpoint (source.pt of an earlier run).")
    ] = None,
    encoder: Annotated[
        str, typer.Option("--encoder", help="Encoder from the model registry: lenet_encoder (digits) or backbone_encoder (a CNN backbone).")
    ] = "lenet_encoder",
    backbone: Annotated[
        str, typer.Option("--backbone", help="For --encoder backbone_encoder: the registered CNN whose trunk is used (resnet18, small_cnn, ...).")
    ] = "small_cnn",
    weights: Weights = "none",
    target_encoder: Annotated[
        Optional[str], typer.Option("--target-encoder", help="ADDA: an untied target encoder of this architecture (with --feature-dim), trained from scratch instead of initialised from the source encoder.")
    ] = None,
    feature_dim: Annotated[int, typer.Option("--feature-dim", min=2, help="Encoder output size (the paper: 500).")] = 500,
    source_epochs: Annotated[int, typer.Option("--source-epochs", min=0, help="Stage 1 epochs on the labelled source.")] = 10,
    epochs: Annotated[int, typer.Option("--epochs", min=0, help="Adaptation epochs.")] = 20,
    steps_per_epoch: Annotated[
        Optional[int], typer.Option("--steps-per-epoch", min=1, help="Adaptation steps an epoch (default: one pass over the larger set).")
    ] = None,
    batch_size: BatchSize = 64,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Stage 1 learning rate.")] = 1e-3,
    optimizer: Annotated[
        str,
        typer.Option("--optimizer", help="Stage 1 optimiser: adam (as the papers), adamw or sgd (momentum 0.9, Nesterov). The adaptation stage keeps its method's (--adapt-lr)."),
    ] = "adam",
    adapt_lr: Annotated[
        Optional[float], typer.Option("--adapt-lr", min=0.0, help="Adaptation lr (default: ADDA 2e-4 Adam β1 0.5; DANN 0.01 SGD, annealed).")
    ] = None,
    beta1: Annotated[float, typer.Option("--beta1", min=0.0, max=1.0, help="ADDA Adam β1.")] = 0.5,
    disc_hidden: Annotated[int, typer.Option("--disc-hidden", min=1, help="Discriminator width (2 hidden layers).")] = 500,
    adversary_on: Annotated[
        str,
        typer.Option(
            "--adversary-on",
            help="ADDA: features (the discriminator sees the encoder's output; the source classifier reused unchanged) "
            "or logits (it sees the classifier's output and the whole target network adapts, as the authors' code).",
        ),
    ] = "features",
    adda_update: Annotated[
        str,
        typer.Option(
            "--adda-update",
            help="ADDA: alternating (a discriminator step, then a target step against the updated discriminator) "
            "or simultaneous (both steps from one forward pass, as the authors' code).",
        ),
    ] = "alternating",
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=1.0, help="Dropout in the LeNet encoder and the classifier head (the authors' LeNet: 0).")] = 0.5,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, help="Stage 1 weight decay: L2 for adam and sgd, decoupled for adamw (the authors' LeNet: 2.5e-5).")] = 0.0,
    eval_every: Annotated[int, typer.Option("--eval-every", min=1, help="Score source / target every N epochs (and at each stage's last epoch).")] = 1,
    size: Annotated[Optional[str], typer.Option("--size", help="Working frame size HxW (default: the source's; others are resized).")] = None,
    normalize: Annotated[str, typer.Option("--normalize", help="domain: standardise each domain by its own mean/std; unit: scale only.")] = "domain",
    seed: Seed = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Run each seed (e.g. 0,1,2) and report mean ± std; overrides --seed.")] = None,
    device: Device = "auto",
    threads: Annotated[int, typer.Option("--threads", min=0, help="Torch CPU threads (0: torch's default).")] = 0,
    json_out: JsonOut = False,
    force: Force = False,
    resume: Resume = False,
) -> None:
    """Adapt a classifier from a labelled source domain (RGB) to an unlabelled target (thermal).

    ADDA: stage 1 trains a source encoder + classifier; stage 2 trains a target encoder
    (initialised from the source one) against a domain discriminator; stage 3 classifies target
    frames with the target encoder + the source classifier. DANN: one encoder trained with a
    gradient-reversal domain classifier. Multi-class or multi-label (one sigmoid per label).
    Target labels are never used for training. Writes OUT/ with source.pt (stage 1, for source
    data and --source-model), source_only.pt (the same weights fed target data: the baseline),
    best.pt (adapted; usable by eval), metrics.csv, curves.png, embedding.png, summary.json;
    last.pt after every epoch, which --resume continues from (same final result).

    Example: thermcli adapt --method adda sample_data/domains/source_train.h5 sample_data/domains/target_train.h5 --target-val sample_data/domains/target_test.h5 --out runs/adda
    """
    from thermcli.io import make_provenance
    from thermcli.progress import say
    from thermcli.stages.adapt import AdaptConfig, run_adapt

    seed_list = _parse_seeds(seeds) or [seed]
    cfg = AdaptConfig(
        method=method.lower(),
        encoder=encoder,
        backbone=backbone,
        weights=weights,
        target_encoder=target_encoder,
        feature_dim=feature_dim,
        source_epochs=source_epochs,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer.lower(),
        adapt_lr=adapt_lr,
        beta1=beta1,
        disc_hidden=disc_hidden,
        adversary_on=adversary_on.lower(),
        adda_update=adda_update.lower(),
        dropout=dropout,
        weight_decay=weight_decay,
        eval_every=eval_every,
        size=parse_size(size, "--size") if size else None,
        normalize=normalize,
        device=device,
        threads=threads,
    )
    inputs = [source, target] + ([target_val] if target_val else []) + ([source_model] if source_model else [])
    notes = {"target_labels": "never used for training"}
    if target_val is not None:
        notes["target_val"] = f"{target_val}: used only to report target metrics per epoch, not for training or model selection"
    provenance = make_provenance("thermcli adapt", resolved_options(ctx), inputs=inputs, seed=seed_list[0], notes=notes)
    summary = run_adapt(
        source=source, target=target, target_val=target_val, out=out, cfg=cfg, seeds=seed_list,
        source_model=source_model, provenance=provenance, force=force, resume=resume,
    )
    if json_out:
        typer.echo(json.dumps({k: v for k, v in summary.items() if k not in ("provenance", "runs")}, indent=2))
    for key in [k for k in summary if k.startswith("target_") and isinstance(summary[k], dict)]:
        say(f"{key}: {summary[key]['mean']:.3f} ± {summary[key]['std']:.3f} over {len(seed_list)} seed(s)")
    say(f"wrote {out}")
