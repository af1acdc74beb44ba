"""``threshold``: one copy of every frame per threshold level, streamed, every per-frame field
replicated, with the level, the source row and the window recorded per row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io import Dataset, Meta, create_writer, make_provenance, open_dataset
from thermcli.io.schema import RADIOMETRIC_UNITS
from thermcli.ops.threshold import MAX_CLASSES, ThresholdConfig, threshold_frames
from thermcli.stages.blocks import Background, blocks, write_blocks


def check_config(cfg: ThresholdConfig, unit: str) -> None:
    """Options that do not fit the method or the data: ``UsageError`` naming the option."""
    if cfg.method == "temperature":
        if unit not in RADIOMETRIC_UNITS:
            raise UsageError(f"temperature needs radiometric frames (°C or K), this dataset is {unit}", param="--method")
        return
    if cfg.band is not None:
        raise UsageError("a band applies to --method temperature only", param="--band")
    if cfg.method == "multi-otsu":
        for level in cfg.levels:
            if level != int(level) or not 2 <= level <= MAX_CLASSES:
                raise UsageError(f"multi-otsu levels are class counts 2..{MAX_CLASSES}, got {level:g}", param="--range")
        return
    for level in cfg.levels:
        if not 0 <= level <= 255:
            raise UsageError(f"{cfg.method} levels are on the 0..255 working range, got {level:g}", param="--range")
    if cfg.method in ("adaptive-mean", "adaptive-gaussian") and (cfg.block_size < 3 or cfg.block_size % 2 == 0):
        raise UsageError(f"must be odd and ≥ 3, got {cfg.block_size}", param="--block-size")
    if cfg.method == "canny" and not 0 < cfg.canny_ratio <= 1:
        raise UsageError(f"must be in (0, 1], got {cfg.canny_ratio:g}", param="--canny-ratio")


def output_meta(meta: Meta, cfg: ThresholdConfig) -> Meta:
    attrs = dict(meta.attrs)
    attrs["threshold"] = cfg.to_json()
    unit = "intensity" if cfg.emit == "mask" else meta.unit
    return meta.copy(unit=unit, attrs=attrs)


def _threshold_block(batch: Dataset, lo: int, hi: int, args: tuple[ThresholdConfig, Meta, bool]) -> Dataset:
    cfg, meta, keep_original = args
    result = threshold_frames(batch.frames, cfg)
    if keep_original:
        result = with_originals(batch.frames, result, len(cfg.copy_levels))
    # replicate every per-frame field without copying the frames L times
    out = batch.replace(frames=np.empty((len(batch), 1, 1), np.uint8)).take(result.source)
    columns = dict(out.columns)
    columns["threshold_level"] = result.levels
    columns["threshold_source_row"] = result.source + lo
    columns["threshold_window_lo"] = result.window_lo
    columns["threshold_window_hi"] = result.window_hi
    return out.replace(frames=result.frames, meta=meta, columns=columns)


def with_originals(frames: np.ndarray, result, count: int):
    """Put each unthresholded frame before its copies: row i·(L+1) is frame i itself (level NaN,
    the window its copies used), rows i·(L+1)+1 … its L copies."""
    from dataclasses import replace

    n = frames.shape[0]
    if result.frames.shape[1:] != frames.shape[1:] or result.frames.dtype != frames.dtype:
        raise UsageError("--keep-original needs copies shaped like the frames (--emit masked)", param="--keep-original")
    out = np.empty((n * (count + 1),) + frames.shape[1:], frames.dtype)
    rows = np.arange(n * (count + 1)).reshape(n, count + 1)
    out[rows[:, 0]] = frames
    out[rows[:, 1:].ravel()] = result.frames
    levels = np.full(out.shape[0], np.nan, np.float64)
    levels[rows[:, 1:].ravel()] = result.levels
    source = np.repeat(np.arange(n, dtype=np.int64), count + 1)
    lo = np.repeat(result.window_lo.reshape(n, count)[:, 0], count + 1)
    hi = np.repeat(result.window_hi.reshape(n, count)[:, 0], count + 1)
    return replace(result, frames=out, levels=levels, source=source, window_lo=lo, window_hi=hi)


def run_threshold(
    src: Path,
    out: Path,
    cfg: ThresholdConfig,
    *,
    options: dict[str, Any],
    batch_size: int = 64,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    keep_original: bool = False,
) -> int:
    """Threshold ``src`` into ``out``; returns the number of rows written. ``keep_original``
    writes each frame itself before its copies (``threshold_level`` NaN)."""
    from thermcli.parsing import shard_bounds

    with open_dataset(src) as reader:
        if reader.n == 0:
            raise DataError("dataset is empty (0 frames)", path=str(src))
        check_config(cfg, reader.meta.unit)
        if keep_original and cfg.emit != "masked":
            raise UsageError(f"--emit {cfg.emit} copies are not frames in the data's unit; --keep-original needs --emit masked",
                             param="--keep-original")
        start, stop = shard_bounds(reader.n, shard)
        if stop <= start:
            raise UsageError(f"shard {shard[0]}/{shard[1]} of {reader.n} frames is empty", param="--shard")
        meta = output_meta(reader.meta, cfg)
        if keep_original:
            meta.attrs["threshold"] = {**meta.attrs["threshold"], "keep_original": True}
        if shard is not None:
            meta.attrs["shard"] = {"index": shard[0], "count": shard[1], "start": start, "stop": stop, "rows": reader.n}
    with Background(make_provenance, "thermcli threshold", options, inputs=[src]) as provenance:
        work = [(block, block, (cfg, meta, keep_original)) for block in blocks(start, stop, batch_size)]
        copies = len(cfg.copy_levels) + int(keep_original)  # output rows per input row
        with create_writer(out, meta, force=force) as writer:
            write_blocks(src, _threshold_block, work, writer, workers=workers, rows_out=lambda lo, hi: (hi - lo) * copies)
            writer.meta.provenance = provenance.result()
            return writer.n
