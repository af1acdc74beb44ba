"""The one training loop every task shares (classify, distill, keypoints, ...).

A task supplies what differs — how to draw a batch, the loss, validation metrics, what to do at
an epoch's start (gradual unfreezing) and the checkpoint config — through :class:`Task`; the loop
owns the rest: optimiser and scheduler, epochs, early stopping, seeding, DDP under ``torchrun``,
``--resume``, the run folder (``config.json``, ``metrics.csv``, ``curves.png``, ``best.pt``,
``last.pt``) and the progress bar.

Determinism: the epoch's sample order comes from a generator seeded by (seed, epoch), not from the
global RNG, so a resumed run draws the same batches as an uninterrupted one; the global torch RNG
(dropout) is saved in ``last.pt`` and restored.

DDP: ``--batch-size`` is the *global* batch. Under ``torchrun`` each of the W processes takes every
W-th sample of each global batch; DDP averages the gradients, which equals the single-process
gradient of the same global batch when the local batches have the same size (so B % W == 0 and an
incomplete last batch is dropped).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from thermcli.errors import UsageError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("plateau", "cosine", "none")


@dataclass(frozen=True)
class LoopConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    scheduler: str = "plateau"
    patience: int = 8  # early stopping: epochs without improvement (0 = off)
    monitor: str = "val_balanced_accuracy"
    mode: str = "max"
    seed: int = 0
    device: str = "auto"
    drop_last: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Task(Protocol):
    name: str

    def sample_count(self) -> int: ...
    def sample_weights(self) -> np.ndarray | None: ...  # resampling (None: uniform permutation)
    def batch(self, rows, device) -> Any: ...
    def loss(self, model, batch) -> tuple[Any, dict[str, float]]: ...
    def validate(self, model, device) -> dict[str, float]: ...
    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]: ...
    def checkpoint_config(self) -> dict[str, Any]: ...


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed_from_env() -> Distributed:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    return Distributed(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(dist_info: Distributed, device) -> None:
    if dist_info.world <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def epoch_order(n: int, epoch: int, seed: int, weights: np.ndarray | None):
    """The epoch's sample order: a permutation, or a weighted draw with replacement (resampling)."""
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    if weights is None:
        return torch.randperm(n, generator=generator)
    w = torch.as_tensor(weights, dtype=torch.float64)
    return torch.multinomial(w, n, replacement=True, generator=generator)


def global_batches(order, batch_size: int, drop_last: bool) -> list:
    n = len(order)
    if n <= batch_size:
        return [order]
    stop = (n // batch_size) * batch_size if drop_last else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


def make_optimizer(params, loop: LoopConfig):
    import torch

    if loop.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=loop.lr, weight_decay=loop.weight_decay)
    if loop.optimizer == "sgd":
        return torch.optim.SGD(params, lr=loop.lr, momentum=0.9, weight_decay=loop.weight_decay, nesterov=True)
    raise UsageError(f"{loop.optimizer!r}: expected {' or '.join(OPTIMIZERS)}", param="--optimizer")


def make_scheduler(optimizer, loop: LoopConfig):
    return build_scheduler(optimizer, loop.scheduler, loop.epochs, mode=loop.mode, patience=max(1, loop.patience // 3))


def build_scheduler(optimizer, name: str, epochs: int, *, mode: str = "min", patience: int = 3):
    """plateau (ReduceLROnPlateau ×0.5 after ``patience`` epochs without progress), cosine (to 0
    over ``epochs``) or none (None)."""
    import torch

    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.5, patience=patience)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(epochs)))
    if name == "none":
        return None
    raise UsageError(f"{name!r}: expected {', '.join(SCHEDULERS)}", param="--scheduler")


def step_scheduler(scheduler, value: float | None) -> None:
    """One epoch's step: a plateau scheduler steps on the monitored value (skipped when there is
    none), the others on the epoch."""
    import torch

    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if value is not None:
            scheduler.step(value)
    else:
        scheduler.step()


def _improved(value: float, best: float | None, mode: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


@dataclass
class FitResult:
    best_epoch: int
    best_value: float | None
    epochs_run: int
    stopped_early: bool
    last_row: dict[str, Any] = field(default_factory=dict)


def fit(model, task: Task, loop: LoopConfig, run, *, resume: bool = False, run_config: dict[str, Any] | None = None,
        show_progress: bool = True) -> FitResult:
    """Train ``model`` on ``task`` for ``loop.epochs`` epochs, writing ``run`` (a RunDir, rank 0)."""
    import torch

    from thermcli import interrupt
    from thermcli.device import resolve_device, seed_everything
    from thermcli.models.checkpoint import read_checkpoint, save_checkpoint

    dist_info = distributed_from_env()
    device = resolve_device(loop.device)
    if dist_info.world > 1 and device.type == "cuda":
        device = torch.device(f"cuda:{dist_info.local_rank}")
    init_distributed(dist_info, device)
    if dist_info.world > 1 and loop.batch_size % dist_info.world:
        raise UsageError(f"{loop.batch_size} is not divisible by the {dist_info.world} processes", param="--batch-size")
    seed_everything(loop.seed + dist_info.rank)
    model.to(device)
    optimizers = task_optimizers(task, model, loop)  # [make_optimizer(...)] unless the task makes its own
    optimizer = optimizers[0]
    scheduler = make_scheduler(optimizer, loop)

    start_epoch, best_value, best_epoch, bad_epochs = 0, None, -1, 0
    if resume and run.last.is_file():
        payload = read_checkpoint(run.last)
        model.load_state_dict(payload["state_dict"])
        extra = payload["extra"]
        optimizer.load_state_dict(extra["optimizer"])
        if scheduler is not None and extra.get("scheduler"):
            scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["rng"])
        start_epoch = int(extra["epoch"]) + 1
        best_value = extra.get("best_value")
        best_epoch = int(extra.get("best_epoch", -1))
        bad_epochs = int(extra.get("bad_epochs", 0))
        load_task_state(task, optimizers, extra)
        run.truncate(start_epoch)
    if dist_info.main and run_config is not None:
        run.write_config(run_config)

    train_model = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    config = task.checkpoint_config()
    stopped = False
    last_plot = time.perf_counter()  # the first redraw after 30 s, the last at the end
    epoch = start_epoch - 1
    row: dict[str, Any] = {}
    for epoch in range(start_epoch, loop.epochs):
        t0 = time.perf_counter()
        notes = task.on_epoch_start(model, epoch) or {}
        train_model.train()
        for module in getattr(model, "_frozen_modules", []):
            module.eval()  # frozen BatchNorm layers keep their statistics
        order = epoch_order(task.sample_count(), epoch, loop.seed, task.sample_weights())
        batches = global_batches(order, loop.batch_size, loop.drop_last)
        totals: dict[str, float] = {}
        seen = 0
        iterator = batches
        if show_progress and dist_info.main:
            from thermcli.progress import track

            iterator = track(batches, total=len(batches), description=f"epoch {epoch + 1}/{loop.epochs}")
        for rows in iterator:
            interrupt.check()  # Ctrl-C / SIGTERM: stop between steps; last.pt keeps the last epoch
            local = rows[dist_info.rank :: dist_info.world]
            batch = task.batch(local, device)
            if hasattr(task, "train_step"):  # a task with its own step (several optimisers)
                logs = task.train_step(train_model, batch, optimizers)
            else:
                loss, logs = task.loss(train_model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                logs = {"train_loss": float(loss.detach()), **logs}
            count = len(local)
            seen += count
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + value * count
        model.eval()
        with torch.no_grad():
            metrics = task.validate(model, device)
        row = {"epoch": epoch, **{k: v / max(seen, 1) for k, v in totals.items()}, **metrics}
        row["lr"] = optimizer.param_groups[0]["lr"]
        row.update(notes)
        value = row.get(loop.monitor)
        step_scheduler(scheduler, value)
        if _improved(value, best_value, loop.mode):
            best_value, best_epoch, bad_epochs = float(value), epoch, 0
            if dist_info.main:
                save_checkpoint(run.best, state_dict=model.state_dict(), config={**config, "epoch": epoch})
        else:
            bad_epochs += 1
        row["seconds"] = round(time.perf_counter() - t0, 3)
        if dist_info.main:
            extra = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "best_value": best_value,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                **task_state(task, optimizers),
            }
            # curves.png costs 0.2–0.5 s to draw: redraw at most every 30 s, and at the end
            final = epoch + 1 == loop.epochs or (loop.patience and bad_epochs >= loop.patience)
            plot = final or time.perf_counter() - last_plot > 30.0
            # metrics.csv before last.pt: a stop between the two then re-runs this epoch on
            # --resume (its row is dropped and rewritten) instead of losing the row for good
            run.log(row, plot=plot)
            if plot:
                last_plot = time.perf_counter()
            save_checkpoint(run.last, state_dict=model.state_dict(), config={**config, "epoch": epoch}, extra=extra)
            if show_progress:
                from thermcli.progress import say

                shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float) and k not in ("seconds",))
                say(f"epoch {epoch + 1}/{loop.epochs}: {shown}")
        if loop.patience and bad_epochs >= loop.patience:
            stopped = True
            break
    if not run.best.is_file() and dist_info.main:  # never improved (NaN metrics): keep the last weights
        save_checkpoint(run.best, state_dict=model.state_dict(), config={**config, "epoch": epoch})
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return FitResult(best_epoch, best_value, epoch + 1, stopped, row)


# ---------------------------------------------------------------------------------------------
# Tasks with their own optimisers and step (adapt: ADDA's discriminator + target encoder, DANN)
# ---------------------------------------------------------------------------------------------
#
# Every hook below is optional; a task without them trains as above (one optimiser from
# ``LoopConfig``, ``loss`` → backward → step). The loop still owns the epochs, the batch order,
# seeding and RNG state, checkpoints and ``--resume``, Ctrl-C/SIGTERM, early stopping, the run
# folder and progress.


class StepTask(Task, Protocol):
    """A :class:`Task` that also defines (each optional):

    - ``make_optimizers(model, loop) -> list``: its optimisers, the first the one the scheduler
      steps and whose learning rate ``metrics.csv`` records (default: ``[make_optimizer(...)]``);
    - ``train_step(model, batch, optimizers) -> dict[str, float]``: one training step (zero the
      gradients, backward, step every optimiser it uses); returns the batch's metrics, averaged
      over the epoch into ``metrics.csv`` (replaces ``loss``);
    - ``state_dict() -> dict`` / ``load_state_dict(state)``: what else ``last.pt`` must hold for
      ``--resume`` (networks outside ``model``, such as a discriminator), as plain tensors/values.
    """

    def make_optimizers(self, model, loop: LoopConfig) -> list: ...
    def train_step(self, model, batch, optimizers: list) -> dict[str, float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def task_optimizers(task, model, loop: LoopConfig) -> list:
    """The task's optimisers (``make_optimizers``), or the loop's one over every parameter."""
    if hasattr(task, "make_optimizers"):
        optimizers = list(task.make_optimizers(model, loop))
        if not optimizers:
            raise ValueError(f"task {task.name!r} made no optimiser")
        return optimizers
    return [make_optimizer([p for p in model.parameters()], loop)]


def task_state(task, optimizers: list) -> dict[str, Any]:
    """``last.pt`` extras beyond the first optimiser: the others' states and the task's own."""
    extra: dict[str, Any] = {}
    if len(optimizers) > 1:
        extra["more_optimizers"] = [o.state_dict() for o in optimizers[1:]]
    if hasattr(task, "state_dict"):
        extra["task"] = task.state_dict()
    return extra


def load_task_state(task, optimizers: list, extra: dict[str, Any]) -> None:
    """Restore what :func:`task_state` saved (``--resume``)."""
    for optimizer, state in zip(optimizers[1:], extra.get("more_optimizers", [])):
        optimizer.load_state_dict(state)
    if hasattr(task, "load_state_dict") and "task" in extra:
        task.load_state_dict(extra["task"])
