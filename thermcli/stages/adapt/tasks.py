"""The adaptation stages as tasks of the one training loop (:func:`thermcli.stages.trainer.fit`).

- :class:`SourceTask` — stage 1: encoder + classifier on the labelled source (the loop's plain
  ``loss`` → backward → step, with :func:`~thermcli.stages.adapt.build.source_optimizer`).
- :class:`AddaTask` — ADDA's adversarial stage: the target network against a domain
  discriminator, the source network frozen; two optimisers, alternating or simultaneous steps.
- :class:`DannTask` — DANN: classification + domain loss through a gradient-reversal layer,
  Ganin's schedules for λ and the learning rate.

The adversarial tasks draw a (source frame, target frame) pair for each of the epoch's
``steps × batch`` positions from a table built at the epoch's start from (seed, epoch) alone; the
loop shuffles the positions into batches. So a resumed run draws the same batches as an
uninterrupted one without any sampler state. The discriminator lives in the task and travels in
``last.pt`` through the task's ``state_dict``.

:class:`StageRun` is a stage's view of the run folder: epochs numbered after the stage before,
rows tagged with the phase, the stage's final weights written to its own file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from thermcli.errors import DataError
from thermcli.stages.adapt.build import loss_fn, source_optimizer
from thermcli.stages.adapt.config import AdaptConfig
from thermcli.stages.adapt.data import Domain
from thermcli.stages.adapt.scoring import epoch_scores, scored

CACHE_BYTES = 1 << 30  # ADDA: the frozen source side's outputs are computed once when they fit


class StageRun:
    """One stage's view of a :class:`thermcli.runs.RunDir` for :func:`~thermcli.stages.trainer.fit`.

    ``offset``: the epochs of the stages before (metrics.csv numbers epochs across the stages);
    ``phase``: the ``phase`` column; ``best``: the file (a name in the run folder) where the loop
    writes the stage's weights when it selects none by a metric (adaptation never selects a model
    by target labels: the driver writes the final files itself)."""

    def __init__(self, run, *, phase: str, offset: int, best: str):
        self.run = run
        self.phase = phase
        self.offset = offset
        self._best = best  # a file name in the run folder (which moves at its first checkpoint)

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def last(self) -> Path:
        return self.run.last

    @property
    def best(self) -> Path:
        return self.run.path / self._best

    def write_config(self, config: dict[str, Any]) -> None:
        self.run.write_config(config)

    def log(self, row: dict[str, Any], *, plot: bool = True) -> None:
        rest = {k: v for k, v in row.items() if k != "epoch"}
        self.run.log({"epoch": self.offset + int(row["epoch"]), "phase": self.phase, **rest}, plot=plot)

    def truncate(self, epochs: int) -> None:
        self.run.truncate(self.offset + epochs)

    def __getattr__(self, name: str):  # whatever else the loop asks of its run folder
        if name == "run":
            raise AttributeError(name)
        return getattr(self.run, name)


def pair_table(seed: int, epoch: int, n_source: int, n_target: int, length: int):
    """(length, 2) int64: a source and a target frame index for each of the epoch's positions;
    each column is a run of random permutations of its domain (every frame once before any
    twice), drawn from a generator seeded by (seed, epoch) only."""
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + 500_009 + int(epoch))

    def column(n: int):
        passes = -(-length // n)
        return torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])[:length]

    return torch.stack([column(n_source), column(n_target)], 1)


class _Stage:
    """What the three tasks share: the domains, scoring every ``eval_every`` epochs, the config."""

    name = "adapt"
    stage = "source"

    def __init__(self, cfg: AdaptConfig, src: Domain, val: Domain | None, kind: str, config: dict[str, Any], seed: int, epochs: int):
        import torch

        self.cfg, self.src, self.val, self.kind, self.config, self.seed = cfg, src, val, kind, config, seed
        self.epochs = epochs
        self.epoch = 0
        self.xs = torch.from_numpy(src.x)
        self.ys = torch.from_numpy(src.y)

    def sample_weights(self):
        return None

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        self.epoch = epoch
        return {}

    def checkpoint_config(self) -> dict[str, Any]:
        return self.config

    def _scores(self, source_pair, target_pair, device) -> dict[str, float]:
        if not scored(self.epoch, self.epochs, self.cfg.eval_every):
            return {}
        return epoch_scores((source_pair, target_pair), self.src, self.val, self.kind, device)

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("stage") != self.stage or state.get("seed") != self.seed:
            raise DataError(f"holds stage {state.get('stage')} of seed {state.get('seed')}, not {self.stage} of seed {self.seed}", path="last.pt")


class SourceTask(_Stage):
    """Stage 1: the encoder + classifier learn the labelled source."""

    name = "adapt-source"
    stage = "source"

    def __init__(self, cfg: AdaptConfig, src: Domain, val: Domain | None, kind: str, config: dict[str, Any], seed: int):
        super().__init__(cfg, src, val, kind, config, seed, cfg.source_epochs)
        self.loss_fn = loss_fn(kind)

    def sample_count(self) -> int:
        return len(self.xs)

    def batch(self, rows, device):
        return self.xs[rows].to(device), self.ys[rows].to(device)

    def loss(self, model, batch):
        x, y = batch
        return self.loss_fn(model(x), y), {}

    def make_optimizers(self, model, loop) -> list:
        return [source_optimizer(model.parameters(), self.cfg)]

    def validate(self, model, device) -> dict[str, float]:
        pair = (model.encoder, model.head)
        return self._scores(pair, pair, device)


class _Adversarial(_Stage):
    stage = "adapt"

    def __init__(self, cfg, src, tgt: Domain, val, kind, config, seed, disc_in: int, device):
        import torch

        from thermcli.models.registry import create_model

        super().__init__(cfg, src, val, kind, config, seed, cfg.epochs)
        self.xt = torch.from_numpy(tgt.x)
        self.steps = cfg.steps_per_epoch or math.ceil(max(len(self.xs), len(self.xt)) / cfg.batch_size)
        self.disc = create_model("domain_discriminator", in_features=disc_in, hidden=cfg.disc_hidden).to(device)
        self.pairs = None
        self.in_epoch = 0  # steps taken in the current epoch
        self._resumed: tuple[int, int] | None = None  # (epoch, steps taken) read from last.pt

    def sample_count(self) -> int:
        return self.steps * self.cfg.batch_size  # the loop cuts it into exactly `steps` batches

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        self.epoch = epoch
        self.pairs = pair_table(self.seed, epoch, len(self.xs), len(self.xt), self.sample_count())
        # a loop that resumes inside an epoch continues after the steps last.pt says were taken
        self.in_epoch = self._resumed[1] if self._resumed is not None and self._resumed[0] == epoch else 0
        self._resumed = None
        return {}

    def train_step(self, model, batch, optimizers) -> dict[str, float]:
        logs = self._step(model, batch, optimizers)
        self.in_epoch += 1
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "disc": self.disc.state_dict(), "epoch": self.epoch, "in_epoch": self.in_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.disc.load_state_dict(state["disc"])
        self._resumed = (int(state["epoch"]), int(state["in_epoch"]))


class AddaTask(_Adversarial):
    """ADDA's adversarial stage; the model the loop trains is the target network.

    ``cfg.adversary_on`` = "features": the discriminator sees encoder outputs and only the target
    encoder is trained (the source classifier is reused unchanged: the target network's ``head``
    is the source's); "logits": it sees the classifier's outputs and the whole target network is
    trained (the authors' code). Both networks run in eval mode (no dropout: the discriminator
    could otherwise tell the domains apart by dropout noise alone; BN statistics stay frozen)."""

    name = "adapt-adda"

    def __init__(self, cfg: AdaptConfig, source_model, target_model, src: Domain, tgt: Domain, val: Domain | None, kind: str,
                 config: dict[str, Any], seed: int, device):
        import torch

        self.on_logits = cfg.adversary_on == "logits"
        self.src_enc, self.head = source_model.encoder, source_model.head
        width = int(self.head[-1].out_features) if self.on_logits else int(self.head[-1].in_features)
        super().__init__(cfg, src, tgt, val, kind, config, seed, width, device)
        for p in list(self.src_enc.parameters()) + list(self.head.parameters()):
            p.requires_grad_(False)
        self.src_enc.eval()
        self.head.eval()
        self.trained = list(target_model.encoder.parameters()) + (list(target_model.head.parameters()) if self.on_logits else [])
        for p in self.trained:
            p.requires_grad_(True)
        target_model._frozen_modules = [target_model]  # the loop keeps these in eval mode while training
        self.simultaneous = cfg.adda_update == "simultaneous"
        self.cached = None
        if len(self.xs) * width * 4 <= CACHE_BYTES:  # the frozen source side: one forward pass
            with torch.no_grad():
                self.cached = torch.cat([self._source_side(self.xs[lo : lo + 512].to(device)) for lo in range(0, len(self.xs), 512)])

    def _source_side(self, x):
        f = self.src_enc(x)
        return self.head(f) if self.on_logits else f

    def make_optimizers(self, model, loop) -> list:
        import torch

        betas = (self.cfg.beta1, 0.999)
        return [torch.optim.Adam(self.trained, lr=loop.lr, betas=betas), torch.optim.Adam(self.disc.parameters(), lr=loop.lr, betas=betas)]

    def batch(self, rows, device):
        import torch

        pairs = self.pairs[rows]
        if self.cached is not None:
            fs = self.cached[pairs[:, 0].to(self.cached.device)]
        else:
            with torch.no_grad():
                fs = self._source_side(self.xs[pairs[:, 0]].to(device))
        return fs, self.xt[pairs[:, 1]].to(device)

    def _step(self, model, batch, optimizers) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        fs, xb_t = batch
        opt_t, opt_d = optimizers
        disc = self.disc
        ft = model(xb_t) if self.on_logits else model.encoder(xb_t)
        d_s, d_t = disc(fs), disc(ft if self.simultaneous else ft.detach())
        d_loss = F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s)) + F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))
        correct = float((d_s > 0).sum() + (d_t <= 0).sum())
        seen = len(d_s) + len(d_t)
        if self.simultaneous:
            # both losses from this one forward pass, each network stepped on its own gradient
            g_loss = F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))
            opt_d.zero_grad()
            opt_t.zero_grad()
            d_loss.backward(inputs=list(disc.parameters()), retain_graph=True)
            g_loss.backward(inputs=self.trained)
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
        return {"loss_disc": float(d_loss.detach()), "loss_enc": float(g_loss.detach()), "disc_acc": correct / max(seen, 1)}

    def validate(self, model, device) -> dict[str, float]:
        return self._scores((self.src_enc, self.head), (model.encoder, model.head), device)


class DannTask(_Adversarial):
    """DANN: the classifier's loss on the source + the domain loss through a gradient-reversal
    layer, jointly (SGD momentum 0.9); λ_p = 2/(1+e^(−γp)) − 1 and μ_p = μ0 / (1 + 10p)^0.75 with
    p the progress over every step of the stage."""

    name = "adapt-dann"

    def __init__(self, cfg: AdaptConfig, model, src: Domain, tgt: Domain, val: Domain | None, kind: str, config: dict[str, Any], seed: int, device):
        super().__init__(cfg, src, tgt, val, kind, config, seed, int(model.head[-1].in_features), device)
        self.loss_fn = loss_fn(kind)
        self.total_steps = max(1, self.steps * cfg.epochs)

    def make_optimizers(self, model, loop) -> list:
        import torch

        return [torch.optim.SGD(list(model.parameters()) + list(self.disc.parameters()), lr=loop.lr, momentum=0.9)]

    def batch(self, rows, device):
        pairs = self.pairs[rows]
        return self.xs[pairs[:, 0]].to(device), self.ys[pairs[:, 0]].to(device), self.xt[pairs[:, 1]].to(device)

    def _step(self, model, batch, optimizers) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        from thermcli.models.adapt import dann_lambda, grad_reverse

        (opt,) = optimizers
        xb_s, yb_s, xb_t = batch
        p = (self.steps * self.epoch + self.in_epoch) / self.total_steps  # the stage's progress
        lambd = dann_lambda(p, self.cfg.dann_gamma)
        for group in opt.param_groups:
            group["lr"] = self.cfg.resolved_adapt_lr() / (1 + 10 * p) ** 0.75
        f = model.encoder(torch.cat([xb_s, xb_t]))
        n_s = len(xb_s)
        c_loss = self.loss_fn(model.head(f[:n_s]), yb_s)
        d = self.disc(grad_reverse(f, lambd))
        d_target = torch.cat([torch.ones(n_s, 1), torch.zeros(len(xb_t), 1)]).to(d.device)
        d_loss = F.binary_cross_entropy_with_logits(d, d_target)
        opt.zero_grad()
        (c_loss + d_loss).backward()
        opt.step()
        return {
            "loss_cls": float(c_loss.detach()),
            "loss_disc": float(d_loss.detach()),
            "disc_acc": float(((d > 0).float() == d_target).float().mean()),
            "grl_lambda": lambd,
        }

    def validate(self, model, device) -> dict[str, float]:
        pair = (model.encoder, model.head)
        return self._scores(pair, pair, device)
