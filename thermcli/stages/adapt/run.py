"""The adaptation driver: one seed (stage 1, then ADDA or DANN, each through the one training loop
:func:`thermcli.stages.trainer.fit`) and several seeds with their summary."""

from __future__ import annotations

import copy
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from thermcli.errors import DataError, ThermcliError, UsageError
from thermcli.stages.adapt.build import build_classifier, check_encoder_fits, checkpoint_config, load_source_model
from thermcli.stages.adapt.config import AdaptConfig
from thermcli.stages.adapt.data import load_domains
from thermcli.stages.adapt.scoring import embedding_png, evaluate, forward, headline, summarize_seeds
from thermcli.stages.adapt.tasks import AddaTask, DannTask, SourceTask, StageRun

EMBED_SAMPLES = 400


@contextmanager
def removed_on_failure(path: Path) -> Iterator[None]:
    """A run folder that this block creates is removed again when the block fails on bad input (a
    typed :class:`~thermcli.errors.ThermcliError`): a failed command leaves no run folder. A
    folder that existed before is left alone, and so is any folder after Ctrl-C/SIGTERM (its
    ``last.pt`` is what ``--resume`` continues from).

    Local to adapt until :mod:`thermcli.runs` offers the same for every command; swap it then."""
    existed = Path(path).exists()
    try:
        yield
    except ThermcliError:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _finished(out: Path, seed: int) -> dict[str, Any] | None:
    """The seed's metrics.json when it completed (``--resume`` reads it back), else None."""
    path = out / "metrics.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    if result.get("seed") != seed:
        raise DataError(f"is from seed {result.get('seed')}, not {seed}", path=str(path))
    return result


def _resume_point(out: Path, seed: int) -> tuple[str | None, int]:
    """(stage, epoch) that ``last.pt`` ends; (None, -1) when there is none."""
    from thermcli.models.checkpoint import read_checkpoint

    last = out / "last.pt"
    if not last.is_file():
        return None, -1
    extra = read_checkpoint(last)["extra"]
    if "task" not in extra:
        raise DataError("was written by an earlier thermcli adapt (before the shared training loop): start again with --force", path=str(last))
    state = extra["task"]
    if state.get("seed") != seed:
        raise DataError(f"last.pt is from seed {state.get('seed')}, not {seed}", path=str(last))
    return str(state["stage"]), int(extra["epoch"])


def _loop(cfg: AdaptConfig, seed: int, *, epochs: int, lr: float, weight_decay: float, drop_last: bool):
    """A stage's settings for the training loop: no scheduler, no early stopping and no model
    selected by a metric (target labels never choose the model: the last epoch's weights count)."""
    from thermcli.stages.trainer import LoopConfig

    # the tasks make their own optimisers (stage 1: cfg.optimizer, adam included; the adaptation:
    # the method's); the loop's field only has to hold a value it accepts
    optimizer = cfg.optimizer if cfg.optimizer in ("adamw", "sgd") else "adamw"
    return LoopConfig(
        epochs=epochs, batch_size=cfg.batch_size, lr=lr, weight_decay=weight_decay, optimizer=optimizer,
        scheduler="none", patience=0, monitor="", mode="max", seed=seed, device=cfg.device, drop_last=drop_last,
    )


def run_one(
    *,
    source: Path,
    target: Path,
    target_val: Path | None,
    out: Path,
    cfg: AdaptConfig,
    seed: int,
    source_model: Path | None,
    provenance: dict[str, Any],
    domains=None,
    force: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """One seed: stage 1 (or --source-model), adaptation, outputs in ``out`` (a RunDir).

    Each stage runs through :func:`~thermcli.stages.trainer.fit`, which writes ``last.pt`` after
    every epoch (the network, optimisers, the discriminator, torch's RNG); ``resume`` continues
    from it and ends with the same weights and scores as an uninterrupted run."""
    import torch

    from thermcli.device import resolve_device, seed_everything
    from thermcli.io.atomic import write_bytes_atomic, write_text_atomic
    from thermcli.models.checkpoint import read_checkpoint, save_checkpoint
    from thermcli.progress import say
    from thermcli.runs import RunDir
    from thermcli.stages.trainer import fit

    t0 = time.perf_counter()
    out = Path(out)
    src, tgt, val, names, kind, notes = domains or load_domains(source, target, target_val, size=cfg.size, normalize=cfg.normalize)
    if kind == "multiclass" and len(np.unique(src.y)) < 2:
        raise DataError("source set holds a single class", path=str(source))
    device = resolve_device(cfg.device)
    stage, done_epoch = None, -1
    if resume:
        finished = _finished(out, seed)
        if finished is not None:
            return finished
        stage, done_epoch = _resume_point(out, seed)

    # the networks, built (and checked against the frames) before anything is written
    seed_everything(seed)
    weights_record = None
    in_chans, size = int(src.x.shape[1]), (int(src.x.shape[2]), int(src.x.shape[3]))
    if source_model is not None:
        model, ck = load_source_model(source_model, names, kind, in_chans, size, cfg)
        model_kwargs = ck["model_kwargs"]
        encoder_name = model_kwargs.get("encoder", cfg.encoder)
    else:
        model, model_kwargs = build_classifier(cfg, in_chans, size, len(names))
        encoder_name = cfg.encoder
        check_encoder_fits(model.encoder, model.head, src.x, encoder_name, str(source))
        if cfg.weights != "none":  # a pretrained backbone to start the source stage from
            from thermcli.models.classifier import load_adapt_encoder_pretrained

            weights_record = load_adapt_encoder_pretrained(model, model_kwargs, cfg.weights)
    untied = None  # ADDA's untied target network (--target-encoder), trained from scratch
    if cfg.method == "adda" and cfg.target_encoder is not None:
        untied, untied_kwargs = build_classifier(cfg, in_chans, size, len(names), encoder=cfg.target_encoder)
        check_encoder_fits(untied.encoder, model.head, tgt.x, cfg.target_encoder, str(target))
    model = model.to(device)

    run = RunDir(out, force=force, resume=stage is not None)
    run.write_config({"adapt": cfg.to_json(), "seed": seed, "class_names": names, "label_kind": kind, "notes": notes, "provenance": provenance})
    source_config = checkpoint_config(model_kwargs, names, kind, src.input_spec, {"domain": "source", "method": "source-only", "provenance": provenance})
    if weights_record is not None:
        source_config["weights"] = weights_record

    # stage 1: source encoder + classifier
    if source_model is None and stage != "adapt":
        task = SourceTask(cfg, src, val, kind, source_config, seed)
        loop = _loop(cfg, seed, epochs=cfg.source_epochs, lr=cfg.lr, weight_decay=cfg.weight_decay, drop_last=False)
        fit(model, task, loop, StageRun(run, phase="source", offset=0, best=run.path / "source.pt"), resume=stage == "source")
    elif source_model is None:  # resumed in the adaptation: stage 1 ended in source.pt
        model.load_state_dict(read_checkpoint(run.path / "source.pt")["state_dict"])
    source_only = {"source": evaluate(model.encoder, model.head, src, kind, device), "target": evaluate(model.encoder, model.head, val, kind, device)}
    save_checkpoint(run.path / "source.pt", state_dict=model.state_dict(), config=source_config)
    # the source-only baseline for target data: stage 1's weights fed the target's input (each
    # domain standardised by its own statistics), as the source-only target numbers were scored;
    # `eval source_only.pt TARGET` gives them (source.pt standardises by the source's statistics)
    save_checkpoint(
        run.path / "source_only.pt",
        state_dict=model.state_dict(),
        config=checkpoint_config(model_kwargs, names, kind, tgt.input_spec, {"domain": "target", "method": "source-only", "provenance": provenance}),
    )
    rng_embed = np.random.default_rng(seed + 1)
    pick_s = rng_embed.permutation(len(src.x))[:EMBED_SAMPLES]
    pick_t = rng_embed.permutation(len(tgt.x))[:EMBED_SAMPLES]
    before = (forward(model.encoder, model.head, src.x[pick_s], device)[0], forward(model.encoder, model.head, tgt.x[pick_t], device)[0])

    # stage 2: adaptation (the discriminator's initial weights from the seed alone)
    torch.manual_seed(int(seed) * 1_000_003 + 1)
    if cfg.method == "adda":
        if untied is None:
            adapted, adapted_kwargs = copy.deepcopy(model), model_kwargs  # initialised from the source network
        else:
            adapted, adapted_kwargs = untied.to(device), untied_kwargs
            adapted.head.load_state_dict(model.head.state_dict())
        if cfg.adversary_on != "logits":
            adapted.head = model.head  # the source classifier, reused unchanged
    else:
        adapted, adapted_kwargs = model, model_kwargs
    adapted_config = checkpoint_config(adapted_kwargs, names, kind, tgt.input_spec, {"domain": "target", "method": cfg.method, "provenance": provenance})
    if cfg.method == "adda":
        task = AddaTask(cfg, model, adapted, src, tgt, val, kind, adapted_config, seed, device)
    else:
        task = DannTask(cfg, model, src, tgt, val, kind, adapted_config, seed, device)
    if cfg.epochs > 0:
        loop = _loop(cfg, seed, epochs=cfg.epochs, lr=cfg.resolved_adapt_lr(), weight_decay=0.0, drop_last=True)
        offset = cfg.source_epochs if source_model is None else 0
        fit(adapted, task, loop, StageRun(run, phase="adapt", offset=offset, best=run.best), resume=stage == "adapt")
    adapted.__dict__.pop("_frozen_modules", None)
    for p in adapted.parameters():
        p.requires_grad_(True)

    source_encoder = model.encoder if cfg.method == "adda" else adapted.encoder
    after = (forward(source_encoder, model.head, src.x[pick_s], device)[0], forward(adapted.encoder, adapted.head, tgt.x[pick_t], device)[0])
    adapted_scores = {"source": evaluate(adapted.encoder, adapted.head, src, kind, device), "target": evaluate(adapted.encoder, adapted.head, val, kind, device)}
    save_checkpoint(run.best, state_dict=adapted.state_dict(), config=adapted_config)
    if run.rows:
        run.plot()
    write_bytes_atomic(run.path / "embedding.png", embedding_png(before, after, f"{cfg.method.upper()}: source vs target features (PCA)"))
    key = headline(kind)
    result: dict[str, Any] = {
        "seed": seed,
        "method": cfg.method,
        "label_kind": kind,
        "class_names": names,
        "source_only": source_only,
        "adapted": adapted_scores,
        "final_disc_acc": run.rows[-1].get("disc_acc") if run.rows else None,
        "seconds": round(time.perf_counter() - t0, 2),
        "outputs": {"adapted": str(run.best), "source_only": str(run.path / "source_only.pt"), "embedding": str(run.path / "embedding.png")},
        "notes": notes,
    }
    if stage is not None:
        result["resumed_from"] = {"stage": stage, "epoch": done_epoch}
    if val is not None:
        result[f"target_{key}_source_only"] = source_only["target"][key]
        result[f"target_{key}_adapted"] = adapted_scores["target"][key]
        say(
            f"seed {seed}: target {key} {source_only['target'][key]:.3f} (source only) → "
            f"{adapted_scores['target'][key]:.3f} ({cfg.method}) in {result['seconds']:.0f} s"
        )
    write_text_atomic(run.path / "metrics.json", json.dumps(result, indent=2) + "\n")  # the seed is complete
    return result


def run_adapt(
    *,
    source: Path,
    target: Path,
    target_val: Path | None,
    out: Path,
    cfg: AdaptConfig,
    seeds: list[int],
    source_model: Path | None,
    provenance: dict[str, Any],
    force: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Every seed (in ``out`` itself for one seed, ``out/seedN`` for several) + a summary.
    ``resume``: seeds already finished are read back, an interrupted one continues from its
    ``last.pt``, the rest run as usual. A run folder this call creates is removed again when it
    fails on bad input."""
    import torch

    from thermcli.io.atomic import write_text_atomic
    from thermcli.models.registry import check_name
    from thermcli.runs import RunDir
    from thermcli.stages.trainer import distributed_from_env

    cfg.validate(source_model=source_model is not None)
    if distributed_from_env().world > 1:
        raise UsageError("adapt trains in one process (its discriminator is not synchronised): run it without torchrun")
    check_name(cfg.encoder, "--encoder")
    if cfg.target_encoder:
        check_name(cfg.target_encoder, "--target-encoder")
    if "backbone_encoder" in (cfg.encoder, cfg.target_encoder):
        check_name(cfg.backbone, "--backbone")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    domains = load_domains(source, target, target_val, size=cfg.size, normalize=cfg.normalize)
    out = Path(out)
    with removed_on_failure(out):
        RunDir(out, force=force, resume=resume)  # refuse an existing run before any training
        results = []
        for seed in seeds:
            where = out if len(seeds) == 1 else out / f"seed{seed}"
            results.append(
                run_one(
                    source=source, target=target, target_val=target_val, out=where, cfg=cfg, seed=seed,
                    source_model=source_model, provenance=provenance, domains=domains, force=True, resume=resume,
                )
            )
        kind = domains[4]
        summary = summarize_seeds(results, kind)
        summary["method"] = cfg.method
        summary["label_kind"] = kind
        summary["target_labels"] = "never used for training" + (
            f"; {target_val} used only to report target metrics" if target_val is not None else ""
        )
        summary["provenance"] = provenance
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
        if len(seeds) > 1:
            from thermcli.io import atomic_path

            # the first seed's models, for `eval` (copied atomically: never a torn best.pt)
            for name in ("best.pt", "source_only.pt", "embedding.png"):
                with atomic_path(out / name, force=True) as tmp:
                    shutil.copyfile(out / f"seed{seeds[0]}" / name, tmp)
    return summary
