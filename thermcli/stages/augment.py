"""``augment``: N augmented copies of every frame (optionally the original too), streamed.

Parameters are sampled first for each output row from ``row_rng(seed, input row, copy)``, then
applied, and stored per row (``columns/aug_*``, with ``aug_source_row`` and ``aug_copy``; −1 marks
a kept original). ``replay`` re-applies recorded parameters to the same input, bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io import Dataset, Meta, create_writer, make_provenance, open_dataset
from thermcli.ops.augment import (
    IDENTITY,
    PARAM_NAMES,
    AugmentConfig,
    AugmentParams,
    augment_sample,
    params_from_columns,
    params_to_columns,
    row_rng,
    sample_params,
)
from thermcli.stages.blocks import Background, blocks, write_blocks


def plan_rows(lo: int, hi: int, *, seed: int, copies: int, keep_original: bool, config: AugmentConfig):
    """(input row, copy, params) of every output row made from input rows [lo, hi), in output
    order: for each input row its original (copy −1) when kept, then copies 0..N−1."""
    plan = []
    for row in range(lo, hi):
        if keep_original:
            plan.append((row, -1, IDENTITY))
        for copy in range(copies):
            plan.append((row, copy, sample_params(row_rng(seed, row, copy), config)))
    return plan


def augment_batch(batch: Dataset, first_row: int, plan, config: AugmentConfig, meta: Meta) -> Dataset:
    """Apply ``plan`` (input row, copy, params) to ``batch`` (whose row 0 is input row
    ``first_row``); every per-frame field is carried, keypoints/boxes/rgb transformed."""
    local = np.array([row - first_row for row, _, _ in plan], np.int64)
    out = batch.replace(frames=np.empty((len(batch), 1, 1), np.uint8)).take(local)
    frames = np.empty((len(plan),) + batch.frames.shape[1:], batch.frames.dtype)
    keypoints, boxes, rgbs = [], [], []
    flip_pairs = batch.meta.flip_pairs
    for k, (i, (_, _, params)) in enumerate(zip(local, plan)):
        _, kp, bx, rgb = augment_sample(
            batch.frames[i],
            None if batch.keypoints is None else batch.keypoints[i],
            None if batch.boxes is None else batch.boxes[i],
            params,
            flip_pairs,
            unit=batch.meta.unit,
            border=config.border,
            rgb=None if batch.rgb is None else batch.rgb[i],
            out=frames[k],
        )
        keypoints.append(kp)
        boxes.append(bx)
        rgbs.append(rgb)
    columns = dict(out.columns)
    columns.update(params_to_columns([p for _, _, p in plan]))
    columns["aug_source_row"] = np.array([row for row, _, _ in plan], np.int64)
    columns["aug_copy"] = np.array([copy for _, copy, _ in plan], np.int64)
    changes: dict[str, Any] = {"frames": frames, "meta": meta, "columns": columns}
    if batch.keypoints is not None:
        changes["keypoints"] = np.stack(keypoints)
    if batch.boxes is not None:
        changes["boxes"] = np.stack(boxes)
    if batch.rgb is not None:
        changes["rgb"] = np.stack(rgbs)
    return out.replace(**changes)


def _augment_block(batch: Dataset, lo: int, hi: int, args) -> Dataset:
    mode, config, meta, extra = args
    if mode == "sample":
        seed, copies, keep_original = extra
        plan = plan_rows(lo, hi, seed=seed, copies=copies, keep_original=keep_original, config=config)
        first = lo
    else:  # replay: extra = (first input row of the batch, recorded columns of this block)
        first, recorded = extra
        plan = [
            (int(recorded["aug_source_row"][i]), int(recorded["aug_copy"][i]), params_from_columns(recorded, i))
            for i in range(hi - lo)
        ]
    return augment_batch(batch, first, plan, config, meta)


@dataclass(frozen=True)
class AugmentSettings:
    """The command's options, before the frame's unit is known. ``resolve(unit)`` turns them
    into an ``AugmentConfig`` in that unit: offset/gain for °C, K and counts, brightness/contrast
    for 8-bit; noise and fixed-pattern σ in mK for °C/K, in counts or grey levels otherwise."""

    rotate: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.05
    flip: float = 0.5
    crop: float = 1.0
    offset: float = 1.0
    gain: tuple[float, float] = (0.95, 1.05)
    brightness: float = 20.0
    contrast: tuple[float, float] = (0.8, 1.2)
    noise: float | None = None  # None: 50 mK (°C/K), 2 levels (counts, 8-bit)
    fpn: float = 0.0
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    lowres: float = 0.0
    lowres_factor: tuple[float, float] = (2.0, 4.0)
    invert: float = 0.0
    border: str = "reflect"

    def resolve(self, unit: str) -> AugmentConfig:
        radiometric = unit in ("celsius", "kelvin")
        noise = self.noise if self.noise is not None else (50.0 if radiometric else 2.0)
        to_unit = 1e-3 if radiometric else 1.0  # mK → °C or K
        eight_bit = unit == "intensity"
        return AugmentConfig(
            rotate=self.rotate,
            scale=self.scale,
            translate=self.translate,
            flip=self.flip,
            crop=self.crop,
            offset=self.brightness if eight_bit else self.offset,
            gain=self.contrast if eight_bit else self.gain,
            invert=self.invert,
            blur=self.blur,
            blur_sigma=self.blur_sigma,
            lowres=self.lowres,
            lowres_factor=self.lowres_factor,
            fpn=self.fpn * to_unit,
            noise=noise * to_unit,
            border=self.border,
        )


REPLAY_COLUMNS = tuple(f"aug_{name}" for name in PARAM_NAMES) + ("aug_source_row", "aug_copy")


def read_replay(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The recorded parameter columns of an earlier ``augment`` output, and its augment attrs."""
    with open_dataset(path) as reader:
        missing = [c for c in REPLAY_COLUMNS if c not in reader.column_names]
        if missing:
            raise DataError(f"holds no augmentation parameters (missing columns/{missing[0]})", path=str(path))
        columns = {c: np.asarray(reader.read_field(f"columns/{c}")) for c in REPLAY_COLUMNS}
        return columns, dict(reader.meta.attrs.get("augment", {}))


def run_augment(
    src: Path,
    out: Path,
    settings: AugmentSettings,
    *,
    seed: int,
    copies: int,
    keep_original: bool,
    options: dict[str, Any],
    replay: Path | None = None,
    batch_size: int = 64,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    notes: dict[str, Any] | None = None,
) -> int:
    """Augment ``src`` into ``out`` (or replay the parameters recorded in ``replay``); returns
    the number of rows written."""
    from thermcli.parsing import shard_bounds

    recorded = None
    if replay is not None:
        recorded, recorded_attrs = read_replay(replay)
        if "config" in recorded_attrs:  # the border mode is part of what is replayed
            settings = dataclasses.replace(settings, border=recorded_attrs["config"]["border"])
    with open_dataset(src) as reader:
        if reader.n == 0:
            raise DataError("dataset is empty (0 frames)", path=str(src))
        config = settings.resolve(reader.meta.unit)
        total = reader.n if recorded is None else len(recorded["aug_source_row"])
        if recorded is not None and total and int(recorded["aug_source_row"].max()) >= reader.n:
            raise DataError(
                f"replays input row {int(recorded['aug_source_row'].max())} but {src} has {reader.n} frames", path=str(replay)
            )
        start, stop = shard_bounds(total, shard)
        if stop <= start:
            raise UsageError(f"shard {shard[0]}/{shard[1]} of {total} rows is empty", param="--shard")
        attrs = dict(reader.meta.attrs)
        attrs["augment"] = {
            "config": config.to_json(),
            "seed": seed,
            "copies": copies,
            "keep_original": keep_original,
            "replay": None if replay is None else str(replay),
            "noise_mk": config.noise * 1e3 if reader.meta.unit in ("celsius", "kelvin") else None,
            **(notes or {}),
        }
        if shard is not None:
            attrs["shard"] = {"index": shard[0], "count": shard[1], "start": start, "stop": stop, "rows": total}
        inputs = [src] if replay is None else [src, replay]
        meta = reader.meta.copy(attrs=attrs)
    with Background(make_provenance, "thermcli augment", options, inputs=inputs, seed=seed) as provenance:
        work = []
        for lo, hi in blocks(start, stop, batch_size):
            if recorded is None:
                work.append(((lo, hi), (lo, hi), ("sample", config, meta, (seed, copies, keep_original))))
            else:
                block_cols = {k: v[lo:hi] for k, v in recorded.items()}
                rows = block_cols["aug_source_row"]
                first, last = int(rows.min()), int(rows.max()) + 1
                work.append(((first, last), (lo, hi), ("replay", config, meta, (first, block_cols))))
        per_row = 1 if recorded is not None else copies + int(keep_original)  # output rows per block row
        with create_writer(out, meta, force=force) as writer:
            write_blocks(src, _augment_block, work, writer, workers=workers, rows_out=lambda lo, hi: (hi - lo) * per_row)
            writer.meta.provenance = provenance.result()
            return writer.n


__all__ = ["AugmentConfig", "AugmentParams", "AugmentSettings", "augment_batch", "plan_rows", "read_replay", "run_augment"]
