"""The adaptation stage's networks: the encoder + classifier built from the registry (or read from
``--source-model``), the check that an encoder fits the frames and the classifier, the
checkpoint config that ``eval``/``predict`` read, and stage 1's optimiser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.adapt.config import AdaptConfig


def build_classifier(cfg: AdaptConfig, in_chans: int, size: tuple[int, int], num_classes: int, encoder: str | None = None):
    from thermcli.models.registry import create_model

    name = encoder or cfg.encoder
    kwargs = {
        "encoder": name,
        "encoder_kwargs": _encoder_kwargs(cfg, name, in_chans, size),
        "num_classes": num_classes,
        "head_dropout": cfg.dropout,
    }
    try:
        model = create_model("adapt_classifier", **kwargs)
    except RuntimeError as exc:  # a convolution that does not fit the frames
        raise DataError(
            f"encoder {name} cannot take {size[0]}×{size[1]} frames ({' '.join(str(exc).split())[:100]}); use --size",
            path=None,
        ) from None
    return model, kwargs


def _encoder_kwargs(cfg: AdaptConfig, name: str, in_chans: int, size: tuple[int, int]) -> dict[str, Any]:
    """Registered encoders take ``in_chans``, ``input_size`` and ``feature_dim``; the backbone
    wrapper also the backbone's registry name."""
    kwargs: dict[str, Any] = {"in_chans": in_chans, "input_size": [int(size[0]), int(size[1])], "feature_dim": cfg.feature_dim}
    if name == "backbone_encoder":
        kwargs["backbone"] = cfg.backbone
    elif name == "lenet_encoder":
        kwargs["dropout"] = cfg.dropout
    return kwargs


def check_encoder_fits(encoder, head, x: np.ndarray, name: str, where: str) -> None:
    """Run two frames through; the encoder must give (N, D) with D = the head's input."""
    import torch

    encoder.eval()
    try:
        with torch.no_grad():
            f = encoder(torch.from_numpy(x[:2]))
    except RuntimeError as exc:
        raise DataError(f"encoder {name} cannot take frames of shape {tuple(x.shape[1:])} ({' '.join(str(exc).split())[:100]})", path=where) from None
    finally:
        encoder.train()
    want = int(head[-1].in_features)
    if f.ndim != 2 or f.shape[1] != want:
        raise DataError(
            f"encoder {name} outputs features of shape {tuple(f.shape[1:])} but the classifier expects {want}",
            path=where,
        )


def loss_fn(kind: str):
    import torch.nn.functional as F

    if kind == "multiclass":
        return F.cross_entropy
    return F.binary_cross_entropy_with_logits


def load_source_model(path: Path, names: list[str], kind: str, in_chans: int, size: tuple[int, int], cfg: AdaptConfig | None = None):
    """``--source-model``: an encoder + classifier checkpoint that fits the data. ``cfg``: an
    architecture option set (not left at its default) must agree with the model's, since the
    model's own is used (UsageError naming it otherwise: an option is never silently ignored)."""
    from thermcli.models.checkpoint import load_checkpoint

    model, config, _ = load_checkpoint(path, expect_task="classify")
    where = str(path)
    if not (hasattr(model, "encoder") and hasattr(model, "head")):
        raise DataError(f"--source-model must be an encoder + classifier model (adapt_classifier), not {config.get('arch')}", path=where)
    ck_names = config.get("class_names")
    if ck_names is not None and list(ck_names) != list(names):
        raise DataError(f"model classes {ck_names} differ from the source's {names}", path=where)
    if config.get("label_kind", "multiclass") != kind:
        raise DataError(f"model is {config.get('label_kind')} but the source labels are {kind}", path=where)
    spec = config.get("input", {})
    if spec and (spec.get("channels") != in_chans or list(spec.get("size", [])) != list(size)):
        raise DataError(
            f"model takes {spec.get('channels')}×{spec.get('size')} inputs but the data are {in_chans}×{list(size)}; use --size",
            path=where,
        )
    if cfg is not None:
        _check_given_architecture(config.get("model_kwargs", {}), cfg)
    return model, config


def _check_given_architecture(kwargs: dict[str, Any], cfg: AdaptConfig) -> None:
    defaults = AdaptConfig()
    encoder_kwargs = kwargs.get("encoder_kwargs", {})
    model_values = {
        "encoder": ("--encoder", kwargs.get("encoder")),
        "feature_dim": ("--feature-dim", encoder_kwargs.get("feature_dim")),
        "dropout": ("--dropout", kwargs.get("head_dropout")),
    }
    for field, (option, value) in model_values.items():
        if field != "encoder" and cfg.target_encoder:
            continue  # the untied target encoder is built with them
        given = getattr(cfg, field)
        if given != getattr(defaults, field) and given != value:
            raise UsageError(f"{given} differs from the --source-model's {value} (its architecture is used)", param=option)


def checkpoint_config(kwargs: dict, names: list[str], kind: str, spec: dict, extra: dict) -> dict[str, Any]:
    """The checkpoint's config. ``normalization``/``frames``/``frame_shape`` follow the contract of
    ``train --task classify`` checkpoints, so ``eval``/``predict`` feed the model the same input:
    ``(frames − mean) / std`` on raw frame values equals ``(frames·scale − mean′) / std′`` here."""
    scale = float(spec["scale"])
    return {
        "arch": "adapt_classifier",
        "model_kwargs": kwargs,
        "task": "classify",
        "label_kind": kind,
        "class_names": names,
        "num_classes": len(names),
        "input": spec,
        "normalization": {"mode": "dataset", "mean": spec["mean"] / scale, "std": spec["std"] / scale},
        "frames": 1,
        "frame_shape": list(spec["size"]),
        **extra,
    }


def source_optimizer(params, cfg: AdaptConfig):
    """Stage 1's optimiser: Adam (L2 ``weight_decay``, as the papers) or the training loop's
    adamw / sgd (:func:`thermcli.stages.trainer.make_optimizer`) at ``cfg.lr``."""
    import torch

    from thermcli.stages.trainer import LoopConfig, make_optimizer

    params = list(params)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return make_optimizer(params, LoopConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, optimizer=cfg.optimizer))
