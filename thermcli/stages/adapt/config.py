"""The settings of an adaptation run and their validation (library callers get the same checks
as the command line)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from thermcli.errors import UsageError

METHODS = ("adda", "dann")
NORMALIZE = ("domain", "unit")
ADVERSARY_ON = ("features", "logits")
ADDA_UPDATES = ("alternating", "simultaneous")
# stage 1 (the source-supervised stage): adam (the default, as the papers), or the training
# loop's adamw / sgd (momentum 0.9, Nesterov)
SOURCE_OPTIMIZERS = ("adam", "adamw", "sgd")


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
    lr: float = 1e-3  # stage 1
    optimizer: str = "adam"  # stage 1: adam, adamw or sgd
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
    weight_decay: float = 0.0  # stage 1 weight decay (L2 for adam and sgd, decoupled for adamw; the authors' LeNet: 2.5e-5)
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

    def validate(self, *, source_model: bool = False) -> None:
        """Refuse a wrong value or an option that would be ignored (UsageError naming it).

        ``source_model``: stage 1 is replaced by a given model, so the options that only steer
        stage 1 (its epochs, learning rate, optimiser, weight decay, the encoder) cannot apply."""
        choices = (
            ("method", METHODS, "--method"),
            ("normalize", NORMALIZE, "--normalize"),
            ("adversary_on", ADVERSARY_ON, "--adversary-on"),
            ("adda_update", ADDA_UPDATES, "--adda-update"),
            ("optimizer", SOURCE_OPTIMIZERS, "--optimizer"),
        )
        for field, allowed, option in choices:
            value = getattr(self, field)
            if value not in allowed:
                raise UsageError(f"{value!r}: choose {' or '.join(allowed)}", param=option)
        if self.target_encoder and self.method != "adda":
            raise UsageError("only ADDA has a separate target encoder", param="--target-encoder")
        if self.adda_update != "alternating" and self.method != "adda":
            raise UsageError("only ADDA has separate discriminator and target steps", param="--adda-update")
        if self.adversary_on != "features" and self.method != "adda":
            raise UsageError("only ADDA's discriminator can be moved to the logits", param="--adversary-on")
        defaults = AdaptConfig()
        if self.method != "adda" and self.beta1 != defaults.beta1:
            raise UsageError("β1 is ADDA's Adam setting; DANN adapts with SGD", param="--beta1")
        if min(self.batch_size, self.eval_every) < 1 or (self.steps_per_epoch is not None and self.steps_per_epoch < 1):
            raise UsageError("batch size, steps an epoch and --eval-every must be at least 1", param="--batch-size")
        uses_backbone = "backbone_encoder" in ((self.target_encoder,) if source_model else (self.encoder, self.target_encoder))
        if self.backbone != defaults.backbone and not uses_backbone:
            raise UsageError("only --encoder/--target-encoder backbone_encoder takes a backbone", param="--backbone")
        if self.weights != "none":
            from thermcli.models.weights import check_weights

            if source_model:
                raise UsageError("--source-model skips the source stage that --weights starts", param="--weights")
            if "backbone_encoder" != self.encoder:
                raise UsageError("pretrained weights start --encoder backbone_encoder's backbone", param="--weights")
            check_weights(self.backbone, self.weights)  # unusable weights refused before the run folder is written
        if source_model:
            # stage 1's options (the architecture ones are checked against the given model when
            # it is read: an --encoder/--feature-dim/--dropout that differs from it is refused)
            ignored = (("source_epochs", "--source-epochs"), ("lr", "--lr"), ("optimizer", "--optimizer"), ("weight_decay", "--weight-decay"))
            for field, option in ignored:
                value = getattr(self, field)
                if value != getattr(defaults, field) and not (field == "source_epochs" and value == 0):
                    raise UsageError("steers stage 1 (source-supervised training), which --source-model replaces", param=option)
        elif self.source_epochs < 1:
            raise UsageError("give --source-model or at least one source epoch", param="--source-epochs")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
