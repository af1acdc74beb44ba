"""Models for adversarial domain adaptation (``thermcli adapt``).

- ``backbone_encoder``: the trunk of any registered CNN classifier (``.backbone``) + pooling +
  linear, for image-sized inputs (``--encoder backbone_encoder --backbone resnet18``).
- ``lenet_encoder``: the ADDA paper's digits encoder — conv 20@5×5, max-pool, ReLU, conv 50@5×5,
  dropout, max-pool, ReLU, fc 500 (no ReLU: the classifier and discriminator see the raw fc).
- ``adapt_classifier``: an encoder (any registered encoder, by name + kwargs) followed by a
  classification head (ReLU, dropout, linear). Saved as one ``classify`` checkpoint, so ``eval``
  rebuilds encoder and head from the config alone; ``model(x)`` returns logits ``(N, classes)``
  (one per label for multi-label: apply a sigmoid).
- ``domain_discriminator``: the paper's 500-500 MLP giving one logit (source = 1, target = 0).
- ``GradientReversal``: identity forward, gradient × −λ backward (DANN, Ganin et al. 2016).
"""

from __future__ import annotations

from typing import Any

from thermcli.models.registry import register


def _torch():
    import torch
    from torch import nn

    return torch, nn


@register("lenet_encoder")
def lenet_encoder(*, in_chans: int = 1, input_size: tuple[int, int] | list[int] = (28, 28), feature_dim: int = 500, dropout: float = 0.5):
    """LeNet-style encoder: ``(N, in_chans, H, W)`` → ``(N, feature_dim)``; H, W ≥ 16."""
    torch, nn = _torch()
    h, w = (int(v) for v in input_size)
    body = nn.Sequential(
        nn.Conv2d(in_chans, 20, kernel_size=5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(20, 50, kernel_size=5),
        nn.Dropout2d(dropout),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = body(torch.zeros(1, in_chans, h, w)).shape[1]
    model = nn.Sequential(body, nn.Linear(flat, feature_dim))
    model.out_features = feature_dim
    return model


@register("backbone_encoder")
def backbone_encoder(
    *,
    backbone: str = "small_cnn",
    in_chans: int = 1,
    input_size: tuple[int, int] | list[int] = (28, 28),
    feature_dim: int = 500,
    backbone_kwargs: dict[str, Any] | None = None,
):
    """Any registered classifier whose model exposes ``.backbone`` (a feature-map trunk, e.g. the
    CNN backbones of ``train --task classify``) as an encoder: trunk → global average pool →
    linear ``feature_dim``. ``(N, in_chans, H, W)`` → ``(N, feature_dim)``."""
    torch, nn = _torch()
    from thermcli.errors import UsageError
    from thermcli.models.registry import create_model

    model = create_model(backbone, in_chans=in_chans, **(backbone_kwargs or {}))
    trunk = getattr(model, "backbone", None)
    if trunk is None:
        raise UsageError(f"model {backbone!r} has no .backbone trunk to use as an encoder", param="--encoder")
    h, w = (int(v) for v in input_size)
    with torch.no_grad():
        trunk.eval()
        channels = int(trunk(torch.zeros(1, in_chans, h, w)).shape[1])
        trunk.train()
    encoder = nn.Sequential(trunk, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, feature_dim))
    encoder.out_features = feature_dim
    return encoder


class _Classifier:  # namespace for the lazily defined nn.Module subclass
    cls: Any = None


def _classifier_class():
    if _Classifier.cls is None:
        torch, nn = _torch()

        class AdaptClassifier(nn.Module):
            """Encoder + head. ``features(x)`` gives the encoder's output (the adapted space)."""

            def __init__(self, encoder: nn.Module, head: nn.Module):
                super().__init__()
                self.encoder = encoder
                self.head = head

            def features(self, x):
                return self.encoder(x)

            def forward(self, x):
                return self.head(self.encoder(x))

        _Classifier.cls = AdaptClassifier
    return _Classifier.cls


def classifier_head(*, in_features: int, num_classes: int, dropout: float = 0.5):
    """ReLU → dropout → linear: ``(N, in_features)`` → ``(N, num_classes)`` logits."""
    _, nn = _torch()
    head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(in_features, num_classes))
    head.in_features = in_features
    return head


@register("adapt_classifier")
def adapt_classifier(
    *,
    encoder: str = "lenet_encoder",
    encoder_kwargs: dict[str, Any] | None = None,
    num_classes: int = 10,
    head_in_features: int | None = None,
    head_dropout: float = 0.5,
):
    """An encoder from the registry + a classification head, as one model.

    ``head_in_features`` defaults to the encoder's ``out_features``; when both are given and
    differ, the encoder's output does not fit the head and a ``ValueError`` says so.
    """
    from thermcli.models.registry import create_model

    enc = create_model(encoder, **(encoder_kwargs or {}))
    out = int(enc.out_features)
    if head_in_features is not None and int(head_in_features) != out:
        raise ValueError(f"encoder {encoder} outputs {out} features but the classifier expects {head_in_features}")
    head = classifier_head(in_features=out, num_classes=num_classes, dropout=head_dropout)
    return _classifier_class()(enc, head)


@register("domain_discriminator")
def domain_discriminator(*, in_features: int = 500, hidden: int = 500, layers: int = 2):
    """The ADDA discriminator: ``layers`` × (linear ``hidden`` + ReLU), then one logit (source = 1)."""
    _, nn = _torch()
    modules: list[Any] = []
    width = in_features
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    modules.append(nn.Linear(width, 1))
    return nn.Sequential(*modules)


def grad_reverse(x, lambd: float):
    """Identity in the forward pass; multiplies the gradient by ``-lambd`` in the backward pass."""
    torch, _ = _torch()

    class _Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, inputs, scale):
            ctx.scale = scale
            return inputs.view_as(inputs)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.scale * grad, None

    return _Reverse.apply(x, float(lambd))


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s schedule λ_p = 2 / (1 + exp(−γ p)) − 1, p ∈ [0, 1] the training progress.

    >>> dann_lambda(0.0), round(dann_lambda(1.0), 4)
    (0.0, 0.9999)
    """
    import math

    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0
