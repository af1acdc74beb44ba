"""Loss registry shared by every training task: ``get_loss("hinton_kd")(...)``.

Each loss is a plain function of tensors (no module state), registered by name so a task, a CLI
option or a config can name it. Tasks add theirs with ``@register_loss`` (e.g. the keypoint
task's ``adaptive_wing`` and ``heatmap_mse``); a module under ``thermcli/`` that registers losses
only needs to be imported before ``get_loss`` is called.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from thermcli.errors import UsageError

_LOSSES: dict[str, Callable[..., Any]] = {}


def register_loss(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _LOSSES and _LOSSES[name] is not fn:
            raise ValueError(f"loss {name!r} registered twice")
        _LOSSES[name] = fn
        return fn

    return decorate


def list_losses() -> list[str]:
    return sorted(_LOSSES)


def get_loss(name: str, param: str = "--loss") -> Callable[..., Any]:
    if name not in _LOSSES:
        close = difflib.get_close_matches(name, list(_LOSSES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_losses())}"
        raise UsageError(f"unknown loss {name!r}{hint}", param=param)
    return _LOSSES[name]


@register_loss("cross_entropy")
def cross_entropy(logits, target, *, weight=None, label_smoothing: float = 0.0):
    """Mean cross-entropy. logits (B, C) float, target (B,) int64 class indices; weight (C,)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing)


@register_loss("hinton_kd")
def hinton_kd(student_logits, teacher_logits, target=None, *, temperature: float = 4.0, alpha: float = 0.5, weight=None):
    """Hinton et al. (2015) distillation: ``α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y)``.

    The T² factor keeps the soft term's gradients on the scale of the hard term's as T grows.
    With ``target=None`` (unlabelled frames) only the soft term is used.
    """
    import torch.nn.functional as F

    if temperature <= 0:
        raise UsageError("must be > 0", param="--temperature")
    log_p = F.log_softmax(student_logits / temperature, dim=1)
    q = F.softmax(teacher_logits.detach() / temperature, dim=1)
    soft = F.kl_div(log_p, q, reduction="batchmean") * temperature**2
    if target is None:
        return soft
    hard = F.cross_entropy(student_logits, target, weight=weight)
    return alpha * soft + (1.0 - alpha) * hard


@register_loss("contrastive")
def contrastive(embeddings, target, *, margin: float = 1.0):
    """Pairwise contrastive loss (Hadsell et al. 2006) over every pair in the batch.

    embeddings (B, D) float, target (B,) int64. Same-class pairs pay ``d²``, different-class pairs
    ``max(0, margin − d)²``, d the Euclidean distance of L2-normalised embeddings (so ``margin``
    is on the unit sphere's scale, 0 < margin ≤ 2). Averaged over the B·(B−1)/2 pairs.
    """
    import torch
    import torch.nn.functional as F

    b = embeddings.shape[0]
    if b < 2:
        return embeddings.sum() * 0.0
    z = F.normalize(embeddings, dim=1)
    # squared distance from the Gram matrix; clamp before sqrt so the gradient stays finite at 0
    d2 = (2.0 - 2.0 * z @ z.T).clamp_min(0.0)
    d = (d2 + 1e-12).sqrt()
    same = (target[:, None] == target[None, :]).to(z.dtype)
    pair = torch.triu(torch.ones(b, b, dtype=torch.bool, device=z.device), diagonal=1)
    loss = same * d2 + (1.0 - same) * (margin - d).clamp_min(0.0) ** 2
    return loss[pair].mean()
