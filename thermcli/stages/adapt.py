"""Adversarial domain adaptation: ADDA (Tzeng et al. 2017) and DANN (Ganin et al. 2016).

Labelled source frames teach an encoder + classifier (stage 1, "source only"); unlabelled target
frames are then aligned with the source in feature space:

- ADDA: a target encoder, initialised from the source encoder, is trained against a domain
  discriminator with the inverted-label GAN loss while the source encoder stays frozen
  (Adam, lr 2e-4, β1 0.5); target frames are classified by the target encoder + the unchanged
  source classifier (stage 3).
- DANN: one encoder (warm-started from stage 1) trained jointly on the source classification
  loss and a domain classifier behind a gradient-reversal layer, λ_p = 2/(1+e^(−10p)) − 1 and
  Ganin's annealed SGD learning rate μ_p = μ0 / (1 + 10p)^0.75.

Target labels are never used for training. An optional labelled target validation set is used
only to report accuracy (or per-label F1) per epoch; the provenance says so.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError

METHODS = ("adda", "dann")
NORMALIZE = ("domain", "unit")
ADVERSARY_ON = ("features", "logits")
ADDA_UPDATES = ("alternating", "simultaneous")
ASPECT_TOLERANCE = 1.25  # sizes whose aspect ratios differ more than this are not resized
EMBED_SAMPLES = 400


@dataclass(frozen=True)
class AdaptConfig:
    """Every setting of an adaptation run (stored fully resolved in config.json and checkpoints)."""

    method: str = "adda"
    encoder: str = "lenet_encoder"
    backbone: str = "small_cnn"  # for encoder = backbone_encoder: a registered CNN classifier
    weights: str = "none"  # backbone_encoder: pretrained weights of the source stage's backbone (torchvision name or file)
    target_encoder: str | None = None  # ADDA: an untied target encoder built fresh (not initialised from the source)
    feature_dim: int = 500
    source_epochs: int = 10
    epochs: int = 20
    steps_per_epoch: int | None = None  # None: one pass over the larger of source / target
    batch_size: int = 64
    lr: float = 1e-3  # stage 1 (Adam)
    adapt_lr: float | None = None  # None: 2e-4 (ADDA, Adam β1 0.5) / 0.01 (DANN, SGD momentum 0.9)
    beta1: float = 0.5
    disc_hidden: int = 500
    # ADDA: what the discriminator sees. "features": the encoder's output, the source classifier
    # reused unchanged (the paper's figure); "logits": the classifier's output, the whole target
    # network (encoder + a copy of the classifier) adapted (the authors' code, erictzeng/adda)
    adversary_on: str = "features"
    # ADDA: "alternating": a discriminator step, then a target step against the updated
    # discriminator; "simultaneous": both steps from one forward pass (the authors' code)
    adda_update: str = "alternating"
    dropout: float = 0.5  # encoder (lenet_encoder) and head dropout; the authors' LeNet has none
    weight_decay: float = 0.0  # stage 1 L2 (the authors' LeNet: 2.5e-5)
    eval_every: int = 1  # score source / target every N epochs (and at each stage's last)
    dann_gamma: float = 10.0
    size: tuple[int, int] | None = None  # working frame size; None: the source's
    normalize: str = "domain"
    device: str = "auto"
    threads: int = 0

    def resolved_adapt_lr(self) -> float:
        if self.adapt_lr is not None:
            return self.adapt_lr
        return 2e-4 if self.method == "adda" else 0.01


@dataclass
class Domain:
    """One domain's frames ready for the network: ``x`` (N, C, H, W) float32 standardised."""

    name: str
    path: str
    x: np.ndarray
    y: np.ndarray | None  # (N,) int64 or (N, L) float32; None: unlabelled
    input_spec: dict[str, Any]


# ---------------------------------------------------------------------------------- data


def _read(path: Path, role: str):
    from thermcli.io import open_dataset

    with open_dataset(path) as reader:
        if reader.n == 0:
            raise DataError(f"{role} set has no frames", path=str(path))
        return reader.read_all()


def _channels(frames: np.ndarray) -> int:
    return 1 if frames.ndim == 3 else int(frames.shape[3])


def _to_float(ds) -> np.ndarray:
    """(N, H, W[, C]) → (N, H, W, C) float32 in the unit's natural scale (intensity/counts → 0..1)."""
    frames = ds.frames
    if ds.meta.unit == "intensity":
        x = frames.astype(np.float32) / 255.0
    elif ds.meta.unit == "counts":
        x = frames.astype(np.float32) / 65535.0
    else:
        x = frames.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if np.isnan(x).any():  # masked pixels: the frame's own mean, so they carry no contrast
        means = np.nanmean(x, axis=(1, 2, 3), keepdims=True)
        x = np.where(np.isnan(x), means, x)
    return x


def _luminance(x: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of (N, H, W, 3) → (N, H, W, 1)."""
    return (x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    if x.shape[1:3] == (h, w):
        return x
    interp = cv2.INTER_AREA if x.shape[1] > h else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(frame, (w, h), interpolation=interp) for frame in x])
    return out.reshape(len(x), h, w, x.shape[3])


def _check_size(source_hw: tuple[int, int], other_hw: tuple[int, int], path: str) -> None:
    a = source_hw[1] / source_hw[0]
    b = other_hw[1] / other_hw[0]
    if max(a, b) / min(a, b) > ASPECT_TOLERANCE:
        raise DataError(
            f"frames of {other_hw[0]}×{other_hw[1]} cannot be reconciled with the source's "
            f"{source_hw[0]}×{source_hw[1]} (aspect ratios {b:.2f} vs {a:.2f}); crop them first",
            path=path,
        )


def _labels(ds, path: str, role: str, class_names: list[str] | None) -> np.ndarray | None:
    """Labels as training targets, in the source's class order; None when unlabelled."""
    if ds.labels is None:
        return None
    if ds.meta.label_kind == "multiclass":
        y = ds.labels.astype(np.int64)
        if (y < 0).all():
            return None
        if (y < 0).any():
            raise DataError(f"{role} set mixes labelled and unlabelled (−1) frames", path=path)
    else:
        y = ds.labels.astype(np.float32)
    names = ds.meta.class_names
    if class_names is not None and names is not None and names != class_names:
        order = [names.index(c) for c in class_names]
        if ds.meta.label_kind == "multiclass":
            remap = np.empty(len(names), np.int64)
            remap[order] = np.arange(len(class_names))
            y = remap[y]
        else:
            y = y[:, order]
    return y


def load_domains(
    source: Path,
    target: Path,
    target_val: Path | None,
    *,
    size: tuple[int, int] | None,
    normalize: str,
) -> tuple[Domain, Domain, Domain | None, list[str], str, list[str]]:
    """Read and reconcile the three sets; returns (source, target, target_val, class_names,
    label_kind, notes) where ``notes`` says what was converted (resizes, RGB → grey)."""
    src = _read(source, "source")
    tgt = _read(target, "target")
    val = _read(target_val, "target validation") if target_val is not None else None
    if src.labels is None or (src.meta.label_kind == "multiclass" and (src.labels < 0).all()):
        raise DataError("source set has no labels: adaptation needs a labelled source", path=str(source))
    kind = src.meta.label_kind
    names = list(src.meta.class_names or [])
    if not names:
        width = int(src.labels.max()) + 1 if kind == "multiclass" else int(src.labels.shape[1])
        names = [str(i) for i in range(width)]
    for ds, path, role in ((tgt, target, "target"), (val, target_val, "target validation")):
        if ds is None:
            continue
        if ds.labels is not None and ds.meta.label_kind != kind:
            raise DataError(f"{role} labels are {ds.meta.label_kind} but the source's are {kind}", path=str(path))
        other = ds.meta.class_names
        if other is not None and sorted(other) != sorted(names):
            raise DataError(f"{role} classes {other} differ from the source's {names}", path=str(path))
    if val is not None and _labels(val, str(target_val), "target validation", names) is None:
        raise DataError("target validation set has no labels", path=str(target_val))

    notes: list[str] = []
    channels = {_channels(d.frames) for d in (src, tgt, val) if d is not None}
    if not channels <= {1, 3}:
        raise DataError(f"frames have {sorted(channels)} channels; only 1 (grey/thermal) and 3 (RGB) can be reconciled", path=str(target))
    grey = channels == {1, 3}
    if grey:
        notes.append("RGB frames converted to grey (BT.601 luma) to match the 1-channel domain")
    src_hw = tuple(int(v) for v in src.frames.shape[1:3])
    work = tuple(size) if size is not None else src_hw
    domains = []
    for ds, path, role in ((src, source, "source"), (tgt, target, "target"), (val, target_val, "target_val")):
        if ds is None:
            domains.append(None)
            continue
        hw = tuple(int(v) for v in ds.frames.shape[1:3])
        _check_size(work, hw, str(path))
        x = _to_float(ds)
        if grey and x.shape[3] == 3:
            x = _luminance(x)
        if hw != work:
            notes.append(f"{role} frames resized from {hw[0]}×{hw[1]} to {work[0]}×{work[1]}")
            x = _resize(x, work)
        domains.append((ds, str(path), role, x))
    # each domain standardised by its own statistics (target_val shares the target's: it is the
    # same domain, and its statistics must not leak into anything)
    stats: dict[str, tuple[float, float]] = {}
    out: list[Domain | None] = []
    for item in domains:
        if item is None:
            out.append(None)
            continue
        ds, path, role, x = item
        key = "target" if role == "target_val" else role
        if key not in stats:
            if normalize == "domain":
                mean, std = float(x.mean()), float(x.std()) or 1.0
            else:
                mean, std = 0.0, 1.0
            stats[key] = (mean, std)
        mean, std = stats[key]
        spec = {
            "unit": ds.meta.unit,
            "channels": int(x.shape[3]),
            "rgb_to_grey": bool(grey and _channels(ds.frames) == 3),
            "size": [int(work[0]), int(work[1])],
            "scale": {"intensity": 1 / 255.0, "counts": 1 / 65535.0}.get(ds.meta.unit, 1.0),
            "mean": mean,
            "std": std,
            "normalize": normalize,
            "formula": "x = (frames * scale - mean) / std, (N, C, H, W)",
        }
        xs = np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)
        y = _labels(ds, path, role, names) if role != "target" else None
        out.append(Domain(role, path, xs, y, spec))
    return out[0], out[1], out[2], names, kind, notes


# ---------------------------------------------------------------------------------- metrics


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each label column of (N, L) 0/1 arrays; 0 where a label has no positives and no
    predictions (scikit-learn's ``f1_score(average=None, zero_division=0)``)."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    tp = (y_true & y_pred).sum(0).astype(np.float64)
    fp = (~y_true & y_pred).sum(0)
    fn = (y_true & ~y_pred).sum(0)
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def score(logits: np.ndarray, y: np.ndarray, kind: str) -> dict[str, Any]:
    """Accuracy (multi-class) or per-label F1 + mean F1 (multi-label, sigmoid > 0.5)."""
    if kind == "multiclass":
        return {"acc": float((logits.argmax(1) == y).mean())}
    f1 = per_label_f1(y > 0.5, logits > 0.0)
    return {"f1": float(f1.mean()), "per_label_f1": [float(v) for v in f1]}


def _headline(kind: str) -> str:
    return "acc" if kind == "multiclass" else "f1"


# ---------------------------------------------------------------------------------- training


def _batches(rng: np.random.Generator, n: int, batch: int, steps: int):
    """``steps`` index batches, reshuffling after each pass (with replacement across passes)."""
    order = rng.permutation(n)
    pos = 0
    for _ in range(steps):
        if pos + batch > n:
            order = rng.permutation(n)
            pos = 0
        yield order[pos : pos + min(batch, n)]
        pos += batch


def _forward(encoder, head, x: np.ndarray, device, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    import torch

    was = (encoder.training, head.training)
    encoder.eval()
    head.eval()
    feats, logits = [], []
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            f = encoder(torch.from_numpy(x[lo : lo + batch]).to(device))
            feats.append(f.cpu().numpy())
            logits.append(head(f).cpu().numpy())
    encoder.train(was[0])
    head.train(was[1])
    return np.concatenate(feats), np.concatenate(logits)


def _evaluate(encoder, head, dom: Domain | None, kind: str, device) -> dict[str, Any] | None:
    if dom is None or dom.y is None:
        return None
    _, logits = _forward(encoder, head, dom.x, device)
    return score(logits, dom.y, kind)


def _build_classifier(cfg: AdaptConfig, in_chans: int, size: tuple[int, int], num_classes: int, encoder: str | None = None):
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


def _check_encoder_fits(encoder, head, x: np.ndarray, name: str, where: str) -> None:
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


def _loss_fn(kind: str):
    import torch.nn.functional as F

    if kind == "multiclass":
        return F.cross_entropy
    return F.binary_cross_entropy_with_logits


def _row(epoch: int, phase: str, kind: str, src: dict | None, tgt: dict | None, **values: float) -> dict[str, Any]:
    key = _headline(kind)
    row: dict[str, Any] = {"epoch": epoch, "phase": phase}
    row.update({k: float(v) for k, v in values.items()})
    if src is not None:
        row[f"source_{key}"] = src[key]
    if tgt is not None:
        row[f"target_{key}"] = tgt[key]
    return row


def _scored(epoch: int, epochs: int, every: int) -> bool:
    """Whether epoch ``epoch`` (0-based) of ``epochs`` is scored: every ``every``-th, and the last."""
    return epoch + 1 == epochs or (epoch + 1) % max(every, 1) == 0


def train_source(model, src: Domain, val: Domain | None, cfg: AdaptConfig, kind: str, device, rng, log, *,
                 start_epoch: int = 0, states: dict | None = None, save=None) -> None:
    """Stage 1: encoder + classifier on the labelled source (Adam, ``cfg.lr``). ``states``: the
    optimizer's state from ``last.pt`` when resuming at ``start_epoch``; ``save(stage, epoch,
    objects)`` writes ``last.pt`` after each epoch."""
    import torch

    from thermcli import interrupt

    loss_fn = _loss_fn(kind)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if states is not None:
        opt.load_state_dict(states["opt"])
        torch.set_rng_state(states["torch_rng"])  # after every network was built: dropout as uninterrupted
    xs = torch.from_numpy(src.x)
    ys = torch.from_numpy(src.y)
    steps = math.ceil(len(src.x) / cfg.batch_size)
    for epoch in range(start_epoch, cfg.source_epochs):
        model.train()
        total = 0.0
        for idx in _batches(rng, len(xs), cfg.batch_size, steps):
            interrupt.check()  # Ctrl-C / SIGTERM: stop between steps; last.pt keeps the last epoch
            xb, yb = xs[idx].to(device), ys[idx].to(device)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        scored = _scored(epoch, cfg.source_epochs, cfg.eval_every)
        s = _evaluate(model.encoder, model.head, src, kind, device) if scored else None
        t = _evaluate(model.encoder, model.head, val, kind, device) if scored else None
        log(_row(epoch, "source", kind, s, t, loss_cls=total / steps))
        if save is not None:
            save("source", epoch, {"model": model, "opt": opt})


def adapt_adda(source_model, target_model, src: Domain, tgt: Domain, val: Domain | None, cfg: AdaptConfig, kind: str, device, rng, log, *,
               start_epoch: int = 0, states: dict | None = None, save=None) -> None:
    """Stage 2 of ADDA: ``target_model`` against a discriminator; the source model frozen.

    ``cfg.adversary_on`` = "features": the discriminator sees encoder outputs and only the target
    encoder is trained (the source classifier is reused unchanged); "logits": it sees the
    classifier's outputs and the whole target network is trained (the authors' code)."""
    import torch
    import torch.nn.functional as F

    from thermcli import interrupt
    from thermcli.models.registry import create_model

    src_enc, head = source_model.encoder, source_model.head
    on_logits = cfg.adversary_on == "logits"
    tgt_enc = target_model.encoder
    tgt_head = target_model.head if on_logits else head
    for p in list(src_enc.parameters()) + list(head.parameters()):
        p.requires_grad_(False)
    src_enc.eval()
    head.eval()
    width = int(head[-1].out_features) if on_logits else int(head[-1].in_features)
    disc = create_model("domain_discriminator", in_features=width, hidden=cfg.disc_hidden).to(device)
    trained = list(tgt_enc.parameters()) + (list(tgt_head.parameters()) if on_logits else [])
    for p in trained:
        p.requires_grad_(True)
    lr = cfg.resolved_adapt_lr()
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(cfg.beta1, 0.999))
    opt_t = torch.optim.Adam(trained, lr=lr, betas=(cfg.beta1, 0.999))
    if states is not None:
        disc.load_state_dict(states["disc"])
        opt_d.load_state_dict(states["opt_d"])
        opt_t.load_state_dict(states["opt_t"])
        torch.set_rng_state(states["torch_rng"])
    disc_params = list(disc.parameters())
    simultaneous = cfg.adda_update == "simultaneous"
    xs, xt = torch.from_numpy(src.x), torch.from_numpy(tgt.x)
    steps = cfg.steps_per_epoch or math.ceil(max(len(xs), len(xt)) / cfg.batch_size)
    start = cfg.source_epochs
    # both networks run without dropout: otherwise the discriminator can tell the domains apart by
    # dropout noise alone (the source side is frozen, in eval mode); BN statistics stay frozen too
    tgt_enc.eval()
    tgt_head.eval()

    def source_side(x):
        f = src_enc(x)
        return head(f) if on_logits else f

    # the source side is frozen and runs in eval mode: its outputs for every source frame are
    # computed once (one forward pass) instead of once per step, when they fit in 1 GB
    cached = None
    if len(xs) * width * 4 <= 1 << 30:
        with torch.no_grad():
            cached = torch.cat([source_side(xs[lo : lo + 512].to(device)) for lo in range(0, len(xs), 512)])

    def target_side(x):
        f = tgt_enc(x)
        return tgt_head(f) if on_logits else f

    for epoch in range(start_epoch, cfg.epochs):
        d_total = g_total = correct = seen = 0.0
        for si, ti in zip(_batches(rng, len(xs), cfg.batch_size, steps), _batches(rng, len(xt), cfg.batch_size, steps)):
            interrupt.check()
            xb_t = xt[ti].to(device)
            if cached is not None:
                fs = cached[torch.from_numpy(si).to(cached.device)]
            else:
                with torch.no_grad():
                    fs = source_side(xs[si].to(device))
            ft = target_side(xb_t)
            d_s, d_t = disc(fs), disc(ft if simultaneous else ft.detach())
            d_loss = F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s)) + F.binary_cross_entropy_with_logits(
                d_t, torch.zeros_like(d_t)
            )
            correct += float((d_s > 0).sum() + (d_t <= 0).sum())
            seen += len(d_s) + len(d_t)
            if simultaneous:
                # both losses from this one forward pass, each network stepped on its own gradient
                g_loss = F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))
                opt_d.zero_grad()
                opt_t.zero_grad()
                d_loss.backward(inputs=disc_params, retain_graph=True)
                g_loss.backward(inputs=trained)
                opt_d.step()
                opt_t.step()
            else:
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                # inverted labels: the target network is rewarded when its outputs pass as source
                g_logits = disc(ft)
                g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
                opt_t.zero_grad()
                g_loss.backward()
                opt_t.step()
            d_total += float(d_loss.detach())
            g_total += float(g_loss.detach())
        scored = _scored(epoch, cfg.epochs, cfg.eval_every)
        s = _evaluate(src_enc, head, src, kind, device) if scored else None
        t = _evaluate(tgt_enc, tgt_head, val, kind, device) if scored else None
        log(_row(start + epoch, "adapt", kind, s, t, loss_disc=d_total / steps, loss_enc=g_total / steps, disc_acc=correct / max(seen, 1)))
        if save is not None:
            save("adapt", epoch, {"target_model": target_model, "disc": disc, "opt_d": opt_d, "opt_t": opt_t})


def adapt_dann(model, src: Domain, tgt: Domain, val: Domain | None, cfg: AdaptConfig, kind: str, device, rng, log, *,
               start_epoch: int = 0, states: dict | None = None, save=None) -> None:
    """DANN: classification loss + domain loss through a gradient-reversal layer, jointly."""
    import torch
    import torch.nn.functional as F

    from thermcli import interrupt
    from thermcli.models.adapt import dann_lambda, grad_reverse
    from thermcli.models.registry import create_model

    loss_fn = _loss_fn(kind)
    disc = create_model("domain_discriminator", in_features=int(model.head[-1].in_features), hidden=cfg.disc_hidden).to(device)
    params = list(model.parameters()) + list(disc.parameters())
    lr0 = cfg.resolved_adapt_lr()
    opt = torch.optim.SGD(params, lr=lr0, momentum=0.9)
    if states is not None:
        disc.load_state_dict(states["disc"])
        opt.load_state_dict(states["opt"])
        torch.set_rng_state(states["torch_rng"])
    xs, ys, xt = torch.from_numpy(src.x), torch.from_numpy(src.y), torch.from_numpy(tgt.x)
    steps = cfg.steps_per_epoch or math.ceil(max(len(xs), len(xt)) / cfg.batch_size)
    total_steps = max(1, steps * cfg.epochs)
    step = steps * start_epoch
    start = cfg.source_epochs
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        c_total = d_total = correct = seen = 0.0
        for si, ti in zip(_batches(rng, len(xs), cfg.batch_size, steps), _batches(rng, len(xt), cfg.batch_size, steps)):
            interrupt.check()
            p = step / total_steps
            lambd = dann_lambda(p, cfg.dann_gamma)
            for group in opt.param_groups:
                group["lr"] = lr0 / (1 + 10 * p) ** 0.75
            xb_s, yb_s, xb_t = xs[si].to(device), ys[si].to(device), xt[ti].to(device)
            f = model.encoder(torch.cat([xb_s, xb_t]))
            n_s = len(xb_s)
            c_loss = loss_fn(model.head(f[:n_s]), yb_s)
            d = disc(grad_reverse(f, lambd))
            d_target = torch.cat([torch.ones(n_s, 1), torch.zeros(len(xb_t), 1)]).to(device)
            d_loss = F.binary_cross_entropy_with_logits(d, d_target)
            opt.zero_grad()
            (c_loss + d_loss).backward()
            opt.step()
            correct += float(((d > 0).float() == d_target).sum())
            seen += len(d)
            c_total += float(c_loss.detach())
            d_total += float(d_loss.detach())
            step += 1
        scored = _scored(epoch, cfg.epochs, cfg.eval_every)
        s = _evaluate(model.encoder, model.head, src, kind, device) if scored else None
        t = _evaluate(model.encoder, model.head, val, kind, device) if scored else None
        log(
            _row(
                start + epoch, "adapt", kind, s, t,
                loss_cls=c_total / steps, loss_disc=d_total / steps, disc_acc=correct / max(seen, 1), grl_lambda=lambd,
            )
        )
        if save is not None:
            save("adapt", epoch, {"model": model, "disc": disc, "opt": opt})


# ---------------------------------------------------------------------------------- embedding


def embedding_png(before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray], title: str) -> bytes:
    """Two PCA panels of (source, target) features: before and after adaptation."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), dpi=90)
    for ax, (fs, ft), name in ((axes[0], before, "before (source encoder)"), (axes[1], after, "after adaptation")):
        pts = PCA(n_components=2, random_state=0).fit_transform(np.concatenate([fs, ft]))
        ax.scatter(pts[: len(fs), 0], pts[: len(fs), 1], s=6, alpha=0.5, label="source", color="tab:blue")
        ax.scatter(pts[len(fs) :, 0], pts[len(fs) :, 1], s=6, alpha=0.5, label="target", color="tab:orange")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=8, markerscale=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- driver


def _load_source_model(path: Path, names: list[str], kind: str, in_chans: int, size: tuple[int, int]):
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
    return model, config


def _checkpoint_config(kwargs: dict, names: list[str], kind: str, spec: dict, extra: dict) -> dict[str, Any]:
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


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


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

    After every epoch of either stage ``last.pt`` holds everything the run needs to go on (the
    networks, optimizers, the batch sampler's and torch's RNG states); ``resume`` continues from
    it and ends with the same weights and scores as an uninterrupted run."""
    import copy

    import torch

    from thermcli.device import resolve_device, seed_everything
    from thermcli.io.atomic import write_bytes_atomic, write_text_atomic
    from thermcli.models.checkpoint import read_checkpoint, save_checkpoint
    from thermcli.progress import say
    from thermcli.runs import RunDir

    t0 = time.perf_counter()
    src, tgt, val, names, kind, notes = domains or load_domains(source, target, target_val, size=cfg.size, normalize=cfg.normalize)
    if kind == "multiclass" and len(np.unique(src.y)) < 2:
        raise DataError("source set holds a single class", path=str(source))
    device = resolve_device(cfg.device)
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    in_chans, size = int(src.x.shape[1]), (int(src.x.shape[2]), int(src.x.shape[3]))
    last = Path(out) / "last.pt"
    checkpoint = read_checkpoint(last) if resume and last.is_file() else None
    state = checkpoint["extra"] if checkpoint is not None else None
    if state is not None and state.get("seed") != seed:
        raise DataError(f"last.pt is from seed {state.get('seed')}, not {seed}", path=str(last))
    if state is not None and state["stage"] == "done" and (Path(out) / "metrics.json").is_file():
        return json.loads((Path(out) / "metrics.json").read_text())
    run = RunDir(out, force=force, resume=state is not None)
    config_doc = {"adapt": dataclasses.asdict(cfg), "seed": seed, "class_names": names, "label_kind": kind, "notes": notes, "provenance": provenance}
    run.write_config(config_doc)
    last_plot = [time.perf_counter()]
    stage, done_epoch = (state["stage"], int(state["epoch"])) if state is not None else (None, -1)
    if state is not None:
        rng.bit_generator.state = json.loads(state["np_rng"])
        state["states"]["torch_rng"] = state["torch_rng"]  # restored by the stage, once its networks exist
        run.truncate(done_epoch + 1 + (cfg.source_epochs if stage == "adapt" else 0))

    def log(row: dict[str, Any]) -> None:
        # curves.png is redrawn at most every 10 s (a matplotlib figure costs ~0.2 s) and at the end
        now = time.perf_counter()
        plot = now - last_plot[0] > 10
        if plot:
            last_plot[0] = now
        run.log({**row, "seconds": round(now - t0, 2)}, plot=plot)

    # stage 1: source encoder + classifier
    weights_record = None
    if source_model is not None:
        model, ck = _load_source_model(source_model, names, kind, in_chans, size)
        model_kwargs = ck["model_kwargs"]
        encoder_name = model_kwargs.get("encoder", cfg.encoder)
    else:
        model, model_kwargs = _build_classifier(cfg, in_chans, size, len(names))
        encoder_name = cfg.encoder
        _check_encoder_fits(model.encoder, model.head, src.x, encoder_name, str(source))
        if cfg.weights != "none":  # a pretrained backbone to start the source stage from
            from thermcli.models.classifier import load_adapt_encoder_pretrained

            weights_record = load_adapt_encoder_pretrained(model, model_kwargs, cfg.weights)
    model = model.to(device)
    source_config = _checkpoint_config(model_kwargs, names, kind, src.input_spec, {"domain": "source", "method": "source-only", "provenance": provenance})
    if weights_record is not None:
        source_config["weights"] = weights_record

    def saver(current: str, epoch: int, objects: dict[str, Any], source_state: dict | None = None) -> None:
        """``last.pt``: the source model as the checkpoint's weights, the stage's objects in extra."""
        extra = {
            "seed": seed,
            "stage": current,
            "epoch": epoch,
            "states": {k: v.state_dict() for k, v in objects.items()},
            "np_rng": _rng_state(rng),
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(last, state_dict=source_state or model.state_dict(), config=source_config, extra=extra)

    if state is not None:
        model.load_state_dict(checkpoint["state_dict"])
    if source_model is None and stage in (None, "source"):
        resuming = stage == "source"
        if resuming:
            model.load_state_dict(state["states"]["model"])
        train_source(
            model, src, val, cfg, kind, device, rng, log,
            start_epoch=done_epoch + 1 if resuming else 0, states=state["states"] if resuming else None, save=saver,
        )
    source_only = {"source": _evaluate(model.encoder, model.head, src, kind, device), "target": _evaluate(model.encoder, model.head, val, kind, device)}
    save_checkpoint(run.path / "source.pt", state_dict=model.state_dict(), config=source_config)
    # the source-only baseline for target data: stage 1's weights fed the target's input (each
    # domain standardised by its own statistics), as the source-only target numbers were scored;
    # `eval source_only.pt TARGET` gives them (source.pt standardises by the source's statistics)
    save_checkpoint(
        run.path / "source_only.pt",
        state_dict=model.state_dict(),
        config=_checkpoint_config(model_kwargs, names, kind, tgt.input_spec, {"domain": "target", "method": "source-only", "provenance": provenance}),
    )
    source_state = copy.deepcopy(model.state_dict())
    rng_embed = np.random.default_rng(seed + 1)
    pick_s = rng_embed.permutation(len(src.x))[:EMBED_SAMPLES]
    pick_t = rng_embed.permutation(len(tgt.x))[:EMBED_SAMPLES]
    before = (_forward(model.encoder, model.head, src.x[pick_s], device)[0], _forward(model.encoder, model.head, tgt.x[pick_t], device)[0])

    def adapt_saver(current: str, epoch: int, objects: dict[str, Any]) -> None:
        saver(current, epoch, objects, source_state)

    in_adapt = stage == "adapt"
    adapt_args = {
        "start_epoch": done_epoch + 1 if in_adapt else 0,
        "states": state["states"] if in_adapt else None,
        "save": adapt_saver,
    }
    # stage 2: adaptation
    if cfg.method == "adda":
        target_name = cfg.target_encoder or encoder_name
        if cfg.target_encoder is None:
            target_model = copy.deepcopy(model)  # initialised from the source encoder
            target_kwargs = model_kwargs
        else:
            fresh, target_kwargs = _build_classifier(cfg, in_chans, size, len(names), encoder=target_name)
            _check_encoder_fits(fresh.encoder, model.head, tgt.x, target_name, str(target))
            target_model = fresh.to(device)
            if cfg.adversary_on != "logits":
                target_model.head = model.head
            else:
                target_model.head.load_state_dict(model.head.state_dict())
            target_kwargs = {**target_kwargs}
        if in_adapt:
            target_model.load_state_dict(state["states"]["target_model"])
        adapt_adda(model, target_model, src, tgt, val, cfg, kind, device, rng, log, **adapt_args)
        adapted = target_model
        if cfg.adversary_on != "logits":
            adapted.head = model.head
        adapted_kwargs = target_kwargs
    else:
        if in_adapt:
            model.load_state_dict(state["states"]["model"])
        adapt_dann(model, src, tgt, val, cfg, kind, device, rng, log, **adapt_args)
        adapted, adapted_kwargs = model, model_kwargs
    for p in adapted.parameters():
        p.requires_grad_(True)
    after = (
        _forward(model.encoder if cfg.method == "adda" else adapted.encoder, model.head, src.x[pick_s], device)[0],
        _forward(adapted.encoder, adapted.head, tgt.x[pick_t], device)[0],
    )
    adapted_scores = {"source": _evaluate(adapted.encoder, adapted.head, src, kind, device), "target": _evaluate(adapted.encoder, adapted.head, val, kind, device)}
    save_checkpoint(
        run.best,
        state_dict=adapted.state_dict(),
        config=_checkpoint_config(adapted_kwargs, names, kind, tgt.input_spec, {"domain": "target", "method": cfg.method, "provenance": provenance}),
    )
    if run.rows:
        run.plot()
    write_bytes_atomic(run.path / "embedding.png", embedding_png(before, after, f"{cfg.method.upper()}: source vs target features (PCA)"))
    key = _headline(kind)
    result = {
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
    if state is not None:
        result["resumed_from"] = {"stage": stage, "epoch": done_epoch}
    if val is not None:
        result[f"target_{key}_source_only"] = source_only["target"][key]
        result[f"target_{key}_adapted"] = adapted_scores["target"][key]
        say(
            f"seed {seed}: target {key} {source_only['target'][key]:.3f} (source only) → "
            f"{adapted_scores['target'][key]:.3f} ({cfg.method}) in {result['seconds']:.0f} s"
        )
    write_text_atomic(run.path / "metrics.json", json.dumps(result, indent=2) + "\n")
    saver("done", cfg.epochs - 1, {}, source_state)  # the seed is complete: --resume reads metrics.json
    return result


def summarize_seeds(results: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Mean ± sample std (ddof 1; 0 for one seed) of the headline target numbers over seeds."""
    key = _headline(kind)
    summary: dict[str, Any] = {
        "seeds": [r["seed"] for r in results],
        "seconds_per_seed": [r["seconds"] for r in results],
        "runs": results,
    }
    for name in (f"target_{key}_source_only", f"target_{key}_adapted"):
        values = [r[name] for r in results if name in r]
        if values:
            arr = np.array(values, dtype=np.float64)
            summary[name] = {
                "mean": float(arr.mean()),
                "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                "values": [float(v) for v in arr],
            }
    if kind == "multilabel" and all(r["adapted"]["target"] for r in results if r["adapted"]["target"] is not None):
        per = [r["adapted"]["target"]["per_label_f1"] for r in results if r["adapted"]["target"] is not None]
        if per:
            summary["per_label_f1_adapted_mean"] = [float(v) for v in np.mean(per, axis=0)]
    return summary


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
    ``last.pt``, the rest run as usual."""
    import torch

    from thermcli.io.atomic import write_text_atomic
    from thermcli.runs import RunDir

    if cfg.method not in METHODS:
        raise UsageError(f"{cfg.method!r}: choose adda or dann", param="--method")
    if cfg.normalize not in NORMALIZE:
        raise UsageError(f"{cfg.normalize!r}: choose domain or unit", param="--normalize")
    if cfg.target_encoder and cfg.method != "adda":
        raise UsageError("only ADDA has a separate target encoder", param="--target-encoder")
    if cfg.adversary_on not in ADVERSARY_ON:
        raise UsageError(f"{cfg.adversary_on!r}: choose features or logits", param="--adversary-on")
    if cfg.adda_update not in ADDA_UPDATES:
        raise UsageError(f"{cfg.adda_update!r}: choose alternating or simultaneous", param="--adda-update")
    if cfg.adda_update != "alternating" and cfg.method != "adda":
        raise UsageError("only ADDA has separate discriminator and target steps", param="--adda-update")
    if cfg.adversary_on != "features" and cfg.method != "adda":
        raise UsageError("only ADDA's discriminator can be moved to the logits", param="--adversary-on")
    from thermcli.models.registry import check_name

    check_name(cfg.encoder, "--encoder")
    if cfg.target_encoder:
        check_name(cfg.target_encoder, "--target-encoder")
    if "backbone_encoder" in (cfg.encoder, cfg.target_encoder):
        check_name(cfg.backbone, "--backbone")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    domains = load_domains(source, target, target_val, size=cfg.size, normalize=cfg.normalize)
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
        import shutil

        from thermcli.io import atomic_path

        # the first seed's models, for `eval` (copied atomically: never a torn best.pt)
        for name in ("best.pt", "source_only.pt", "embedding.png"):
            with atomic_path(out / name, force=True) as tmp:
                shutil.copyfile(out / f"seed{seeds[0]}" / name, tmp)
    return summary
