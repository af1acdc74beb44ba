"""The one training loop every task shares (classify, keypoints, keypoint distillation, ...).

A task supplies what differs — how to draw a batch, the loss, validation metrics, what to do at
an epoch's start (gradual unfreezing) and the checkpoint config — through :class:`Task`; the loop
owns the rest: optimiser (adamw | sgd), weight decay, scheduler, gradient clipping, mixed
precision on CUDA, epochs, early stopping, seeding and RNG state, DDP under ``torchrun``,
``--resume``, Ctrl-C/SIGTERM, the run folder (``config.json``, ``metrics.csv``, ``curves.png``,
``best.pt``, ``last.pt``) and the progress bar.

Determinism: the epoch's sample order comes from a generator seeded by (seed, epoch), and a task's
per-batch randomness (augmentation) from a NumPy generator seeded by (seed, epoch, batch), never
from global state, so a resumed run draws the same batches as an uninterrupted one; the global
RNGs (torch CPU and CUDA: dropout; NumPy; Python) are saved in ``last.pt`` and restored.

Stops: a stop requested through :mod:`thermcli.interrupt` (Ctrl-C, SIGTERM) is honoured after the
batch in progress: ``last.pt`` then records the position inside the epoch (batch index and the
epoch's running loss sums) with the optimiser, scheduler, scaler and RNG states, and ``--resume``
continues from that batch with bit-identical results.

DDP: ``--batch-size`` is the *global* batch. Under ``torchrun`` each of the W processes takes every
W-th sample of each global batch; DDP averages the gradients, which equals the single-process
gradient of the same global batch when the local batches have the same size (so B % W == 0 and an
incomplete last batch is dropped).

Streamed data: a task with ``sample_blocks()`` (the disk block of each sample) and
``shuffle_buffer(lanes)`` gets its epoch from :func:`block_batches` instead — blocks shuffled,
rows shuffled within buffers, cut into lanes of which each process takes its own share, so it
reads only its share of the blocks and the global batches are the same for 1, 2, 4 or 8
processes. Optional hooks: ``plan_epoch(local_batches)`` (the batches still to come, so a reader
can drop a block after its last use), ``end_epoch()``, and ``prefetch = True`` (batches prepared
in a background thread, in order, while the model trains).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Protocol

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
    grad_clip: float = 0.0  # clip the gradients' global L2 norm to this (0 = off)
    amp: bool = False  # mixed precision (float16 autocast + gradient scaling) on CUDA; no effect on CPU
    # the plateau scheduler's metric, mode and patience (None: monitor, mode, max(1, patience // 3))
    schedule_on: str | None = None
    schedule_mode: str | None = None
    schedule_patience: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Option checks every caller gets (the CLI and library code alike)."""
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"{self.optimizer!r}: expected {' or '.join(OPTIMIZERS)}", param="--optimizer")
        if self.scheduler not in SCHEDULERS:
            raise UsageError(f"{self.scheduler!r}: expected {', '.join(SCHEDULERS)}", param="--scheduler")
        for name, value, low in (("--epochs", self.epochs, 1), ("--batch-size", self.batch_size, 1),
                                 ("--patience", self.patience, 0)):
            if int(value) < low:
                raise UsageError(f"must be ≥ {low}", param=name)
        for name, value in (("--lr", self.lr), ("--weight-decay", self.weight_decay), ("--grad-clip", self.grad_clip)):
            if not math.isfinite(value) or value < 0:
                raise UsageError(f"{value!r}: must be a finite number ≥ 0", param=name)
        for mode in (self.mode, self.schedule_mode):
            if mode not in (None, "min", "max"):
                raise UsageError(f"monitor mode {mode!r}: expected min or max")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Task(Protocol):
    """What a task defines; the loop does the rest.

    ``batch(rows, device, rng)``: the training batch of sample ``rows`` (indices < sample_count);
    ``rng`` is a NumPy generator seeded by (seed, epoch, batch) for the task's augmentation (a
    ``batch(rows, device)`` without it is accepted too). ``loss(model, batch)`` → (loss tensor,
    extra per-sample-mean logs); ``validate`` runs in eval mode under ``no_grad``;
    ``on_epoch_start`` may (un)freeze parameters (and list ``model._frozen_modules`` to keep in
    eval mode) and returns notes for the epoch's row; ``checkpoint_config`` is the JSON config that
    rebuilds the model.
    """

    name: str

    def sample_count(self) -> int: ...
    def sample_weights(self) -> np.ndarray | None: ...  # resampling (None: uniform permutation)
    def batch(self, rows, device, rng: np.random.Generator) -> Any: ...
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


def lanes_for(batch_size: int, world: int) -> int:
    """How many lanes a block-ordered epoch is cut into: the most of 8, 4, 2, 1 that divides the
    batch and that the processes divide, so a 1- and a 2-process run (or 4, 8) draw the same
    global batches; otherwise one lane per process."""
    for lanes in (8, 4, 2, 1):
        if batch_size % lanes == 0 and lanes % world == 0:
            return lanes
    return world


def block_batches(block_of: np.ndarray, epoch: int, seed: int, batch_size: int, drop_last: bool,
                  weights: np.ndarray | None = None, *, buffer: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """This process's batches of sample indices for one epoch of block-streamed data.

    ``block_of[i]``: the block (a run of rows read from disk together) sample i lies in. The
    blocks are shuffled by (seed, epoch) and the samples of each block shuffled among themselves;
    that order is cut into L equal contiguous *lanes* (:func:`lanes_for`), each lane shuffled
    again within consecutive buffers of ``buffer`` samples (``weights``: drawn with replacement in
    proportion to them within the buffer instead: resampling). Global batch s is the s-th
    ``batch_size / L`` samples of every lane; process r of W takes the lanes r·L/W … (r+1)·L/W − 1,
    so it reads only about 1/W of the blocks (DistributedSampler semantics, reshuffled each epoch),
    and the global batches do not depend on W. A streamed reader then holds only the blocks of the
    current buffer of each of its lanes.
    """
    n = len(block_of)
    base = int(seed) % 2**32
    lanes = lanes_for(batch_size, world)
    if n < lanes * world and world == 1:
        lanes = 1
    gen = np.random.default_rng([base, epoch, 1])
    n_blocks = int(block_of.max()) + 1 if n else 0
    position = gen.permutation(n_blocks)
    order = np.lexsort((gen.random(n), position[block_of])) if n else np.zeros(0, np.int64)
    lane_len = n // lanes
    per_lane = batch_size // lanes
    mine = []
    for lane in range(rank * lanes // world, (rank + 1) * lanes // world):
        rows = order[lane * lane_len : (lane + 1) * lane_len]
        parts = []
        for k, lo in enumerate(range(0, lane_len, buffer)):
            part = rows[lo : lo + buffer]
            rng = np.random.default_rng([base, epoch, 2, lane, k])
            if weights is None:
                parts.append(part[rng.permutation(len(part))])
            else:
                w = np.asarray(weights, np.float64)[part]
                parts.append(part[rng.choice(len(part), len(part), p=w / w.sum())])
        mine.append(np.concatenate(parts) if parts else rows)
    if lane_len <= per_lane:
        return [np.concatenate(mine)] if lane_len else []
    steps = lane_len // per_lane if drop_last else -(-lane_len // per_lane)
    return [np.concatenate([lane[s * per_lane : (s + 1) * per_lane] for lane in mine]) for s in range(steps)]


class Prefetch:
    """Prepare ``make(step)`` for the next ``depth`` steps in a background thread (disk reads and
    normalisation overlap the model's step). The steps come back in order; a failure in the
    thread is raised where its step is taken; leaving early stops the thread."""

    def __init__(self, make, steps, depth: int = 3):
        import queue
        import threading

        self._queue: Any = queue.Queue(maxsize=depth)
        self._stop = threading.Event()

        def work() -> None:
            try:
                for step in steps:
                    if self._stop.is_set():
                        return
                    item = (step, make(step), None)
                    while not self._stop.is_set():
                        try:
                            self._queue.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
            except BaseException as exc:  # handed to the consumer
                self._queue.put((None, None, exc))

        self._thread = threading.Thread(target=work, daemon=True, name="thermcli-prefetch")
        self._thread.start()

    def get(self, step):
        got, value, error = self._queue.get()
        if error is not None:
            raise error
        assert got == step, (got, step)
        return value

    def close(self) -> None:
        import queue

        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


def make_optimizer(params, loop: LoopConfig):
    import torch

    if loop.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=loop.lr, weight_decay=loop.weight_decay)
    if loop.optimizer == "sgd":
        return torch.optim.SGD(params, lr=loop.lr, momentum=0.9, weight_decay=loop.weight_decay, nesterov=True)
    raise UsageError(f"{loop.optimizer!r}: expected {' or '.join(OPTIMIZERS)}", param="--optimizer")


def make_scheduler(optimizer, loop: LoopConfig):
    patience = loop.schedule_patience if loop.schedule_patience is not None else max(1, loop.patience // 3)
    return build_scheduler(optimizer, loop.scheduler, loop.epochs, mode=loop.schedule_mode or loop.mode, patience=patience)


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


# ---- RNG state in last.pt (tensors and plain values only: loaded with weights_only=True) --------


def rng_state() -> dict[str, Any]:
    """torch (CPU, CUDA), NumPy's global and Python's ``random`` states as checkpoint-safe values."""
    import random

    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import torch

    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "python" in state:
        p = state["python"]
        random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def batch_rng(seed: int, epoch: int, step: int, rank: int = 0) -> np.random.Generator:
    """The task's generator for one batch: a function of (seed, epoch, batch, rank) only."""
    return np.random.default_rng([int(seed) % 2**32, epoch, step, rank])


@contextlib.contextmanager
def _stop_deferred() -> Iterator[None]:
    """Write the stop's ``last.pt`` although a stop was requested (atomic writes refuse to commit
    while one is pending); the request stands again afterwards."""
    from thermcli import interrupt

    pending = interrupt.requested()
    interrupt.reset()
    try:
        yield
    finally:
        if pending:
            interrupt.request()


def _takes_rng(task) -> bool:
    try:
        return "rng" in inspect.signature(task.batch).parameters
    except (TypeError, ValueError):
        return False


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
    if loop.amp and device.type != "cuda":
        raise UsageError(f"mixed precision needs a CUDA device, not {device.type}", param="--amp")
    seed_everything(loop.seed + dist_info.rank)
    model.to(device)
    optimizers = task_optimizers(task, model, loop)  # [make_optimizer(...)] unless the task makes its own
    optimizer = optimizers[0]
    scheduler = make_scheduler(optimizer, loop)
    amp = bool(loop.amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    takes_rng = _takes_rng(task)

    start_epoch, skip, best_value, best_epoch, bad_epochs = 0, 0, None, -1, 0
    resumed_totals: dict[str, float] = {}
    resumed_seen = 0
    if resume and run.last.is_file():
        payload = read_checkpoint(run.last)
        model.load_state_dict(payload["state_dict"])
        extra = payload["extra"]
        optimizer.load_state_dict(extra["optimizer"])
        if scheduler is not None and extra.get("scheduler"):
            scheduler.load_state_dict(extra["scheduler"])
        if scaler is not None and extra.get("scaler"):
            scaler.load_state_dict(extra["scaler"])
        set_rng_state(extra["rng"] if isinstance(extra["rng"], dict) else {"torch": extra["rng"]})
        start_epoch = int(extra["epoch"]) + 1
        position = extra.get("position")
        if position:  # stopped inside an epoch: continue from its next batch
            start_epoch, skip = int(position["epoch"]), int(position["step"])
            resumed_totals, resumed_seen = dict(position["totals"]), int(position["seen"])
        best_value = extra.get("best_value")
        best_epoch = int(extra.get("best_epoch", -1))
        bad_epochs = int(extra.get("bad_epochs", 0))
        load_task_state(task, optimizers, extra)
        run.truncate(start_epoch)
        if loop.patience and bad_epochs >= loop.patience:
            start_epoch = loop.epochs  # it had stopped early: nothing more to train
    if dist_info.main and run_config is not None:
        run.write_config(run_config)

    train_model = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    config = task.checkpoint_config()

    def save_last(epoch: int, position: dict[str, Any] | None = None) -> None:
        """``last.pt``: after a whole ``epoch``, or at ``position`` inside it (a stop)."""
        if not dist_info.main:
            return
        extra = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": rng_state(),
            "epoch": epoch if position is None else epoch - 1,  # the last whole epoch
            "position": position,
            "best_value": best_value,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            **task_state(task, optimizers),
        }
        save_checkpoint(run.last, state_dict=model.state_dict(), config={**config, "epoch": epoch}, extra=extra)
        checkpointed = getattr(run, "checkpointed", None)
        if checkpointed is not None:
            checkpointed()  # a run built in a staging folder moves into place

    def stop_here(epoch: int, step: int, totals: dict[str, float], seen: int) -> None:
        with _stop_deferred():
            save_last(epoch, {"epoch": epoch, "step": step, "totals": dict(totals), "seen": seen})
        raise KeyboardInterrupt

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
        if hasattr(task, "sample_blocks"):  # streamed data: batches follow the block order
            block_of = task.sample_blocks()
            lanes = lanes_for(loop.batch_size, dist_info.world)
            batches = block_batches(block_of, epoch, loop.seed, loop.batch_size, loop.drop_last, task.sample_weights(),
                                    buffer=task.shuffle_buffer(lanes), rank=dist_info.rank, world=dist_info.world)
            local_of = lambda step, batches=batches: batches[step]  # noqa: E731 (already this process's share)
        else:
            order = epoch_order(task.sample_count(), epoch, loop.seed, task.sample_weights())
            batches = global_batches(order, loop.batch_size, loop.drop_last)
            local_of = lambda step, batches=batches: batches[step][dist_info.rank :: dist_info.world]  # noqa: E731
        totals, seen = (resumed_totals, resumed_seen) if epoch == start_epoch else ({}, 0)
        first = skip if epoch == start_epoch else 0
        if interrupt.requested():
            stop_here(epoch, first, totals, seen)
        steps: Any = range(first, len(batches))
        if show_progress and dist_info.main:
            from thermcli.progress import track

            steps = track(steps, total=len(steps), description=f"epoch {epoch + 1}/{loop.epochs}")
        if hasattr(task, "plan_epoch"):
            task.plan_epoch([local_of(step) for step in range(first, len(batches))])

        def make(step: int, epoch: int = epoch, local_of=local_of):
            local = local_of(step)
            if takes_rng:
                return local, task.batch(local, device, rng=batch_rng(loop.seed, epoch, step, dist_info.rank))
            return local, task.batch(local, device)

        prefetch = Prefetch(make, range(first, len(batches))) if getattr(task, "prefetch", False) else None
        try:
            for step in steps:
                local, batch = prefetch.get(step) if prefetch is not None else make(step)
                if hasattr(task, "train_step"):  # a task with its own step (several optimisers)
                    logs = task.train_step(train_model, batch, optimizers)
                else:
                    loss, logs = _train_step(train_model, task, batch, optimizer, scaler, loop.grad_clip, amp)
                    logs = {"train_loss": float(loss.detach()), **logs}
                count = len(local)
                seen += count
                for key, value in logs.items():
                    totals[key] = totals.get(key, 0.0) + value * count
                if interrupt.requested():  # Ctrl-C / SIGTERM: stop after this batch, resumable from the next
                    stop_here(epoch, step + 1, totals, seen)
        finally:
            if prefetch is not None:
                prefetch.close()
            if hasattr(task, "end_epoch"):
                task.end_epoch()
        model.eval()
        with torch.no_grad():
            metrics = task.validate(model, device)
        row = {"epoch": epoch, **{k: v / max(seen, 1) for k, v in totals.items()}, **metrics}
        row["lr"] = optimizer.param_groups[0]["lr"]
        row.update(notes)
        value = row.get(loop.monitor)
        step_scheduler(scheduler, row.get(loop.schedule_on or loop.monitor))
        if _improved(value, best_value, loop.mode):
            best_value, best_epoch, bad_epochs = float(value), epoch, 0
            if dist_info.main:
                save_checkpoint(run.best, state_dict=model.state_dict(), config={**config, "epoch": epoch})
        else:
            bad_epochs += 1
        row["seconds"] = round(time.perf_counter() - t0, 3)
        if dist_info.main:
            # curves.png costs 0.2–0.5 s to draw: redraw at most every 30 s, and at the end
            final = epoch + 1 == loop.epochs or (loop.patience and bad_epochs >= loop.patience)
            plot = final or time.perf_counter() - last_plot > 30.0
            # metrics.csv before last.pt: a stop between the two then re-runs this epoch on
            # --resume (its row is dropped and rewritten) instead of losing the row for good
            run.log(row, plot=plot)
            if plot:
                last_plot = time.perf_counter()
            save_last(epoch)
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


def _train_step(model, task, batch, optimizer, scaler, grad_clip: float, amp: bool):
    """One optimisation step: forward (autocast under AMP), backward (scaled), clipping, step."""
    import torch

    with torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext():
        loss, logs = task.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(_params(optimizer), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(_params(optimizer), grad_clip)
        optimizer.step()
    return loss, logs


def _params(optimizer) -> list:
    return [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


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
