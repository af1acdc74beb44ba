"""``distill --task keypoints``: an RGB pose teacher teaches a thermal student.

The teacher sees the RGB half of each aligned pair, the student the thermal half. The student is
its own encoder + a learned 1×1 projection into the teacher's latent space (also when the widths
agree, ``adapter=True``) + the teacher's decoder, copied and frozen (BN statistics too); only the
encoder and the projection train, on

    L = β · L1(student latent, teacher latent) + (1 − β) · AdaptiveWing(student heatmaps, target)

with target = the teacher's heatmaps (``target="teacher"``: no thermal labels needed) or
Gaussian heatmaps of the thermal labels (``target="labels"``). The teacher's latents and
heatmaps are computed once and cached in an HDF5 file keyed by the teacher's and the pairs'
SHA-256, reused across epochs, β values and later runs. Without labels the run is selected by
its validation distillation loss; labels, when present, are only reported (val AP).
A list of β values gives one run each, a summary CSV and a plot of AP against β.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages import keypoints_data as KD
from thermcli.stages.trainer import LoopConfig


@dataclass(frozen=True)
class KeypointDistillConfig:
    """What ``distill --task keypoints`` learns (the loop's settings are a :class:`LoopConfig`)."""

    student: str = "mobilenet_v3_small"
    betas: tuple[float, ...] = (0.4,)
    target: str = "teacher"  # teacher | labels
    val_fraction: float = 0.2
    sigma: float | None = None  # labels target: the teacher's σ by default
    weights: str = "none"
    flip_test: bool = True
    subjects: tuple[str, ...] | None = None
    exclude_subjects: tuple[str, ...] | None = None
    alpha: float = 2.1
    omega: float = 14.0
    epsilon: float = 1.0
    theta: float = 0.5
    copies: int = 1  # crops per pair with cached teacher outputs: the plain one + (copies − 1) augmented
    adapter: bool = True  # a learned 1×1 projection even when the latent widths agree
    latent_norm: str = "none"  # none | channel: L1 on latents standardised by the teacher's channel statistics
    map_weight: float = 0.0  # Adaptive Wing weighted loss map W (the paper: 10; 0 = off)

    def __post_init__(self) -> None:
        if self.target not in ("teacher", "labels"):
            raise UsageError(f"{self.target!r}: choose teacher or labels", param="--target")
        if not self.betas or any(not 0 <= b <= 1 for b in self.betas):
            raise UsageError("β values must lie in [0, 1]", param="--beta")
        if len(set(self.betas)) != len(self.betas):
            raise UsageError("β values repeat", param="--beta")
        if self.latent_norm not in ("none", "channel"):
            raise UsageError(f"{self.latent_norm!r}: choose none or channel", param="--latent-norm")
        if self.student.startswith("vit") and self.weights not in ("none", ""):
            raise UsageError(f"a {self.student} student has no pretrained weights to load", param="--weights")
        if self.copies < 1:
            raise UsageError("must be ≥ 1", param="--teacher-copies")
        if self.map_weight < 0:
            raise UsageError("must be ≥ 0", param="--map-weight")


def distill_loop(loop: LoopConfig) -> LoopConfig:
    """The loop as keypoint distillation runs it: best.pt, early stopping and the plateau schedule
    (×0.5 after 3 epochs) on the validation distillation loss; every pair each epoch."""
    return replace(loop, monitor="val_loss", mode="min", schedule_on="val_loss", schedule_mode="min",
                   schedule_patience=3, drop_last=False)


def variant_affines(people, input_size, copies: int, seed: int) -> np.ndarray:
    """(copies, M, 2, 3) crop affines: variant 0 the plain crop, the others with random scale,
    rotation and flip drawn from (seed, variant). The same draws on the RGB and the thermal
    people give corresponding crops of each pair (each relative to its own box)."""
    index = np.arange(len(people))
    out = [KD.augmented_affines(people, index, input_size, None)[0]]
    for v in range(1, copies):
        out.append(KD.augmented_affines(people, index, input_size, np.random.default_rng([seed, v]))[0])
    return np.stack(out)


def load_teacher(path: str | Path):
    """A keypoint teacher checkpoint → (model, config), checked to expose a projectable latent."""
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.models.vitpose import is_published_pose_file, published_teacher

    if is_published_pose_file(path):  # a ViTPose / MMPose .pth as published: frozen as it is, no training
        return published_teacher(path)

    model, config, _ = load_checkpoint(path, expect_task="keypoints")
    if config.get("arch") != "topdown_pose" or not hasattr(model, "encode") or not hasattr(model, "decoder"):
        raise DataError(
            f"teacher is a {config.get('arch')!r} model without an encoder latent + heatmap decoder; "
            "its latent cannot be projected (train it with thermcli train --task keypoints)",
            path=str(path),
        )
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval(), config


def teacher_cache(teacher_path, pairs_path, teacher, tconfig, rgb_people, cache_path, *, batch_size: int, device,
                  copies: int = 1, seed: int = 0, log=None) -> dict[str, np.ndarray]:
    """The teacher's latents (copies·M, C, h, w) and heatmaps (copies·M, K, h', w') on the RGB
    crops (variant-major, see :func:`variant_affines`), from the HDF5 cache when its key matches,
    else computed once and written (atomically)."""
    import h5py
    import torch

    from thermcli.io import atomic_path
    from thermcli.io.provenance import sha256_path

    key = hashlib.sha256(
        json.dumps({
            "teacher": sha256_path(teacher_path), "pairs": sha256_path(pairs_path),
            "rows": hashlib.sha256(rgb_people.row.tobytes() + rgb_people.slot.tobytes()).hexdigest(),
            "input_size": tconfig["input_size"], "version": 2, "copies": copies,
            "seed": seed if copies > 1 else None,
        }, sort_keys=True).encode()  # fmt: skip
    ).hexdigest()
    cache_path = Path(cache_path)
    if cache_path.is_file():
        try:
            with h5py.File(cache_path, "r") as fh:
                if fh.attrs.get("key") == key:
                    if log:
                        log(f"teacher outputs from the cache {cache_path}")
                    return {"latent": fh["latent"][()], "heatmaps": fh["heatmaps"][()], "key": key}
        except OSError:
            pass  # unreadable: recompute and replace
    input_size = tuple(tconfig["input_size"])
    in_chans = KD.model_input_chans(tconfig)
    teacher.to(device)
    latents, heatmaps = [], []
    all_affines = variant_affines(rgb_people, input_size, copies, seed).reshape(-1, 2, 3)
    m = len(rgb_people)
    with torch.no_grad():
        for lo in range(0, len(all_affines), batch_size):
            flat = np.arange(lo, min(lo + batch_size, len(all_affines)))
            index = flat % m
            affines = all_affines[flat]
            x = torch.from_numpy(KD.crop_inputs(rgb_people, index, affines, input_size, in_chans)).to(device)
            z = teacher.encode(x)
            latents.append(z.cpu().numpy().astype(np.float16))
            heatmaps.append(teacher.decoder(z).cpu().numpy().astype(np.float16))
    latent = np.concatenate(latents)
    hm = np.concatenate(heatmaps)
    with atomic_path(cache_path, force=True) as tmp:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["key"] = key
            fh.attrs["teacher"] = str(teacher_path)
            fh.attrs["pairs"] = str(pairs_path)
            fh.create_dataset("latent", data=latent, chunks=(1, *latent.shape[1:]))
            fh.create_dataset("heatmaps", data=hm, chunks=(1, *hm.shape[1:]))
    if log:
        log(f"teacher outputs cached in {cache_path} ({latent.shape[0]} crops)")
    return {"latent": latent, "heatmaps": hm, "key": key}


def distill_keypoints(pairs: str | Path, teacher_path: str | Path, out: str | Path, config: KeypointDistillConfig,
                      loop: LoopConfig, *, provenance: dict[str, Any], eval_dataset: str | Path | None = None,
                      cache: str | Path | None = None, plot: str | Path | None = None, force: bool = False,
                      resume: bool = False, quiet: bool = False) -> dict[str, Any]:
    """One run per β (``out`` itself for one β, ``out/beta_B`` for several) → summary dict.

    ``resume``: each β's run continues from its ``last.pt`` (finished runs are only rescored)."""
    from thermcli.device import resolve_device
    from thermcli.runs import open_run

    if plot is not None and len(config.betas) < 2:
        raise UsageError("the β plot needs several β values (--beta 0:1:0.25)", param="--plot")
    from thermcli.stages.trainer import distributed_from_env

    if distributed_from_env().world > 1:  # one teacher cache, one writer
        raise UsageError("distill --task keypoints runs in one process (not under torchrun)", param="--task")
    loop = distill_loop(loop)
    log = None
    if not quiet:
        from thermcli.progress import say as log
    device = resolve_device(loop.device)
    with open_run(out, force=force, resume=resume) as run:
        teacher, tconfig = load_teacher(teacher_path)
        rgb_people = KD.load_people(pairs, side="rgb", subjects=config.subjects, exclude_subjects=config.exclude_subjects,
                                    need_keypoints=config.target == "labels")
        thermal_people = KD.load_people(pairs, side="frames", subjects=config.subjects,
                                        exclude_subjects=config.exclude_subjects, need_keypoints=config.target == "labels")
        if thermal_people.kind != "thermal":
            raise DataError("the pairs' frames are not thermal (the student's side)", path=str(pairs))
        if len(thermal_people) == 0:
            raise DataError("no people (boxes) in the pairs", path=str(pairs))
        build_student(config, tconfig, teacher, weights=config.weights)  # a bad --weights fails before the cache
        cache_path = Path(cache) if cache else run.path / "teacher_cache.h5"
        shown = None if log is None else (lambda m: log(m.replace(str(run.path), str(run.final))))  # noqa: E731
        cached = teacher_cache(teacher_path, pairs, teacher, tconfig, rgb_people, cache_path, batch_size=loop.batch_size,
                               device=device, copies=config.copies, seed=loop.seed, log=shown)
        kmeta = {k: tconfig.get(k) for k in ("keypoint_names", "skeleton", "sigmas", "flip_pairs")}
        if kmeta["keypoint_names"] is None:
            kmeta = KD.keypoint_meta(thermal_people.meta)
        train_idx, val_idx = KD.split_by_subject(thermal_people, config.val_fraction, loop.seed)
        eval_people = None
        if eval_dataset is not None:
            eval_people = KD.load_people(eval_dataset, side="frames")
        elif thermal_people.keypoints is not None and len(val_idx):
            eval_people = thermal_people.take(val_idx)
        runs = []
        for beta in config.betas:
            sub = run if len(config.betas) == 1 else run.subrun(f"beta_{beta:g}")
            result = _distill_one(beta, thermal_people, cached, teacher, tconfig, kmeta, train_idx, val_idx, sub,
                                  config, loop, provenance, device, resume=resume, quiet=quiet)
            model = result.pop("model")
            if eval_people is not None:
                result.update(_score(model, eval_people, tconfig, kmeta, config, loop.batch_size, device))
            runs.append(result)
            if log:
                log(f"β={beta:g}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items() if isinstance(v, float)))
        if len(config.betas) > 1:
            _write_sweep(run.path, runs, plot)
        final = run.final
    for result in runs:  # paths as they are now that the run folder is in place
        result["run"] = str(final / Path(result["run"]).name) if len(config.betas) > 1 else str(final)
        result["best"] = str(Path(result["run"]) / "best.pt")
    summary = {"runs": runs, "cache": str(Path(cache) if cache else final / "teacher_cache.h5"),
               "evaluated_on": str(eval_dataset) if eval_dataset else "validation subjects"}
    if len(config.betas) > 1:
        summary["summary_csv"] = str(final / "beta_sweep.csv")
        summary["plot"] = str(plot or final / "beta_sweep.png")
    return summary


def build_student(config: KeypointDistillConfig, tconfig: dict[str, Any], teacher, *, weights: str = "none"):
    """Student encoder + projection + a frozen copy of the teacher's decoder."""
    from thermcli.stages.train_keypoints import build_pose_model

    tk = tconfig["model_kwargs"]
    decoder_in = int(teacher.config["decoder_in"])
    model, kwargs = build_pose_model(config.student, in_chans=1, input_size=tconfig["input_size"],
                                     num_keypoints=int(tk.get("num_keypoints", 17)), weights=weights,
                                     decoder_in=decoder_in)
    kwargs["decoder_channels"] = int(tk.get("decoder_channels", 256))
    if config.adapter:
        kwargs["projection"] = True
    from thermcli.models.registry import create_model

    model = create_model("topdown_pose", **kwargs)
    model.decoder.load_state_dict(teacher.decoder.state_dict())
    for param in model.decoder.parameters():
        param.requires_grad_(False)
    return model, kwargs


class DistillTask(KD.PeopleRowsTask):
    """The student's encoder (+ projection) learns the teacher's latents and heatmaps (the
    trainer's Task); the decoder, the teacher's, stays frozen (BN statistics too)."""

    name = "keypoint-distill"

    def __init__(self, beta: float, people, cached, train_idx, val_idx, config: KeypointDistillConfig, kmeta,
                 sigma: float, input_size, heatmap_size, thermal_affines, ckpt_config, batch_size: int):
        import torch

        from thermcli.models.pose import adaptive_wing

        self.beta, self.people, self.config, self.kmeta = beta, people, config, kmeta
        self.train_idx, self.val_idx = np.asarray(train_idx), np.asarray(val_idx)
        self.sigma, self.input_size, self.heatmap_size = sigma, tuple(input_size), tuple(heatmap_size)
        self.thermal_affines, self.ckpt_config, self.batch_size = thermal_affines, ckpt_config, batch_size
        self.latent_all = torch.from_numpy(cached["latent"])
        self.teacher_hm_all = torch.from_numpy(cached["heatmaps"])
        self.stats = latent_channel_stats(cached["latent"]) if config.latent_norm == "channel" else None
        self.awing = functools.partial(adaptive_wing, alpha=config.alpha, omega=config.omega, epsilon=config.epsilon,
                                       theta=config.theta, map_weight=config.map_weight)

    def _norm(self, z):
        if self.stats is None:
            return z
        import torch

        mu, sd = (torch.from_numpy(v).to(z.device) for v in self.stats)
        return (z - mu) / sd

    def _batch(self, index, variant, device):
        import torch

        affines = self.thermal_affines[variant, index]
        flipped = affines[:, 0, 0] < 0
        x = torch.from_numpy(KD.crop_inputs(self.people, index, affines, self.input_size, 1))
        flat = variant * len(self.people) + index
        t_lat = self.latent_all[flat].float()
        if self.config.target == "teacher":
            target, weight = self.teacher_hm_all[flat].float(), None
        else:
            tgt, w = KD.crop_targets(self.people, index, affines, flipped, self.input_size, self.heatmap_size,
                                     sigma=self.sigma, flip_pairs=self.kmeta["flip_pairs"])
            target, weight = torch.from_numpy(tgt), torch.from_numpy(w).to(device)
        return x.to(device), t_lat.to(device), target.to(device), weight

    def _terms(self, model, batch):
        import torch

        x, t_lat, target, weight = batch
        student = getattr(model, "module", model)  # DDP wraps the model
        z = student.encode(x)
        l1 = torch.nn.functional.l1_loss(self._norm(z), self._norm(t_lat))
        aw = self.awing(student.decoder(z), target, weight)
        return self.beta * l1 + (1 - self.beta) * aw, l1, aw

    # -- the Task protocol --------------------------------------------------------------------
    def batch(self, rows, device, rng):
        index = self.person_rows(rows)
        variant = rng.integers(0, self.config.copies, len(index))  # which cached crop of each pair
        return self._batch(index, variant, device)

    def loss(self, model, batch):
        loss, l1, aw = self._terms(model, batch)
        return loss, {"train_l1_loss": float(l1.detach()), "train_awing_loss": float(aw.detach())}

    def validate(self, model, device) -> dict[str, float]:
        check = self.val_idx if len(self.val_idx) else self.train_idx
        sums = np.zeros(3)
        for lo in range(0, len(check), self.batch_size):
            index = check[lo: lo + self.batch_size]
            terms = self._terms(model, self._batch(index, np.zeros(len(index), np.int64), device))
            sums += np.array([float(t) for t in terms]) * len(index)
        sums /= max(len(check), 1)
        row = {"val_loss": sums[0], "val_l1_loss": sums[1], "val_awing_loss": sums[2]}
        if self.people.keypoints is not None and len(self.val_idx):  # reported only, never used to select
            sub = self.people.take(self.val_idx)
            kp, sc = KD.predict_people(model, sub, input_size=self.input_size, batch_size=self.batch_size,
                                       flip_test=self.config.flip_test, flip_pairs=self.kmeta["flip_pairs"], in_chans=1,
                                       device=device)
            row["val_AP"] = max(KD.evaluate_people(sub, kp, sc).stats["AP"], 0.0)
        return row

    def on_epoch_start(self, model, epoch: int) -> dict[str, Any]:
        model._frozen_modules = [model.decoder]  # frozen: BN keeps the teacher's statistics
        return {}

    def checkpoint_config(self) -> dict[str, Any]:
        return self.ckpt_config


def _distill_one(beta, people, cached, teacher, tconfig, kmeta, train_idx, val_idx, run, config, loop, provenance,
                 device, *, resume, quiet):
    import torch

    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.trainer import fit

    torch.manual_seed(loop.seed)  # the student's initial weights
    student, kwargs = build_student(config, tconfig, teacher, weights=config.weights)
    student.to(device)
    input_size = tuple(tconfig["input_size"])
    with torch.no_grad():
        probe = student.encode(torch.zeros(1, 1, *input_size, device=device))
    t_shape = tuple(cached["latent"].shape[1:])
    if tuple(probe.shape[1:]) != t_shape:
        raise DataError(
            f"the teacher's latent {t_shape} cannot be projected from the student's {tuple(probe.shape[1:])} "
            "(same input size and stride 16 needed)", param="--teacher",
        )
    sigma = config.sigma or float(tconfig.get("sigma", 2.0))
    heatmap_size = tuple(student.heatmap_size)
    ckpt_config = {
        "arch": "topdown_pose", "model_kwargs": kwargs, "task": "keypoints", "side": "frames", "input_kind": "thermal",
        "input_size": list(input_size), "input_shape": [1, *input_size], "heatmap_size": list(heatmap_size),
        "sigma": sigma, **kmeta,
        "distill": {"beta": beta, "target": config.target, "teacher_arch": tconfig["model_kwargs"].get("encoder"),
                    "teacher_cache_key": cached["key"]},
        "train_config": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
                         "loop": loop.to_json()},
        "provenance": provenance,
    }  # fmt: skip
    thermal_affines = variant_affines(people, input_size, config.copies, loop.seed)
    task = DistillTask(beta, people, cached, train_idx, val_idx, config, kmeta, sigma, input_size, heatmap_size,
                       thermal_affines, ckpt_config, loop.batch_size)
    result = fit(student, task, loop, run, resume=resume, run_config=ckpt_config, show_progress=not quiet)
    best_model, _, _ = load_checkpoint(run.best)
    return {"beta": float(beta), "run": str(run.path), "best": str(run.best), "epochs": len(run.rows),
            "best_val_loss": float(result.best_value) if result.best_value is not None else float("nan"),
            "model": best_model.to(device)}


def latent_channel_stats(latent: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (≥ 1e-3) of cached latents (N, C, h, w) → two (1, C, 1, 1) float32."""
    c = latent.shape[1]
    s1, s2, n = np.zeros(c), np.zeros(c), 0
    for lo in range(0, len(latent), chunk):
        z = latent[lo: lo + chunk].astype(np.float64)
        s1 += z.sum(axis=(0, 2, 3))
        s2 += (z ** 2).sum(axis=(0, 2, 3))
        n += z.shape[0] * z.shape[2] * z.shape[3]
    mean = s1 / max(n, 1)
    std = np.sqrt(np.maximum(s2 / max(n, 1) - mean ** 2, 0.0))
    shape = (1, c, 1, 1)
    return mean.reshape(shape).astype(np.float32), np.maximum(std, 1e-3).reshape(shape).astype(np.float32)


def _score(model, people, tconfig, kmeta, config, batch_size, device) -> dict[str, float]:
    kp, sc = KD.predict_people(model, people, input_size=tuple(tconfig["input_size"]), batch_size=batch_size,
                               flip_test=config.flip_test, flip_pairs=kmeta["flip_pairs"], in_chans=1, device=device)
    result = KD.evaluate_people(people, kp, sc, sigmas=kmeta.get("sigmas"))
    return {"AP": result.stats["AP"], "AP50": result.stats["AP50"], "AP75": result.stats["AP75"],
            "AR": result.stats["AR"], "pixel_error": result.mean_pixel_error}


def _write_sweep(out: Path, runs: Sequence[dict[str, Any]], plot: str | Path | None) -> None:
    from thermcli.io import write_text_atomic
    from thermcli.io.atomic import write_bytes_atomic

    keys = ["beta", "AP", "AP50", "AP75", "AR", "pixel_error", "best_val_loss", "epochs", "run"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in runs:
        writer.writerow({k: (f"{r[k]:.6g}" if isinstance(r.get(k), float) else r.get(k, "")) for k in keys})
    write_text_atomic(out / "beta_sweep.csv", buffer.getvalue())
    write_bytes_atomic(Path(plot) if plot else out / "beta_sweep.png", beta_plot_png(runs))


def beta_plot_png(runs: Sequence[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thermcli.runs import figure_png

    betas = [r["beta"] for r in runs]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for key, style in (("AP", "o-"), ("AP50", "s--"), ("AP75", "^:")):
        if all(key in r for r in runs):
            ax.plot(betas, [r[key] for r in runs], style, label=key)
    ax.set_xlabel("β (weight of the latent L1 term)")
    ax.set_ylabel("OKS AP (thermal test frames)")
    ax.set_title("Distilled thermal student: AP against β")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_png(fig)


@dataclass(frozen=True)
class KeypointDistillJob:
    """``distill --task keypoints``: pairs, teacher, run folder, what the student learns."""

    data: Path
    teacher: Path
    out: Path
    cfg: KeypointDistillConfig
    loop: LoopConfig
    test: Path | None = None  # scores each run (OKS AP); never trains or selects
    cache: Path | None = None
    plot: Path | None = None
    force: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        if self.plot is not None and len(self.cfg.betas) < 2:
            raise UsageError("the β plot needs several β values (--beta 0:1:0.25)", param="--plot")


def run(job: KeypointDistillJob, *, options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """``thermcli distill --task keypoints PAIRS --teacher T.pt --student mobilenet_v3_small --beta 0.4``."""
    from thermcli.io import make_provenance

    inputs = [job.data, job.teacher] + ([job.test] if job.test else [])
    provenance = make_provenance("thermcli distill", options, inputs=inputs, seed=job.loop.seed)
    summary = distill_keypoints(job.data, job.teacher, job.out, job.cfg, job.loop, provenance=provenance,
                                eval_dataset=job.test, cache=job.cache, plot=job.plot, force=job.force,
                                resume=job.resume, quiet=quiet)
    first = summary["runs"][0]
    summary["monitor"] = "AP" if "AP" in first else "val_loss"
    summary["best_value"] = first.get("AP", first["best_val_loss"]) if len(summary["runs"]) == 1 else None
    return summary
