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


def _threshold_block(batch: Dataset, lo: int, hi: int, args: tuple[ThresholdConfig, Meta]) -> Dataset:
    cfg, meta = args
    result = threshold_frames(batch.frames, cfg)
    # replicate every per-frame field without copying the frames L times
    out = batch.replace(frames=np.empty((len(batch), 1, 1), np.uint8)).take(result.source)
    columns = dict(out.columns)
    columns["threshold_level"] = result.levels
    columns["threshold_source_row"] = result.source + lo
    columns["threshold_window_lo"] = result.window_lo
    columns["threshold_window_hi"] = result.window_hi
    return out.replace(frames=result.frames, meta=meta, columns=columns)


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
) -> int:
    """Threshold ``src`` into ``out``; returns the number of rows written."""
    from thermcli.cli.options import shard_bounds

    with open_dataset(src) as reader:
        if reader.n == 0:
            raise DataError("dataset is empty (0 frames)", path=str(src))
        check_config(cfg, reader.meta.unit)
        start, stop = shard_bounds(reader.n, shard)
        if stop <= start:
            raise UsageError(f"shard {shard[0]}/{shard[1]} of {reader.n} frames is empty", param="--shard")
        meta = output_meta(reader.meta, cfg)
        if shard is not None:
            meta.attrs["shard"] = {"index": shard[0], "count": shard[1], "start": start, "stop": stop, "rows": reader.n}
    provenance = Background(make_provenance, "thermcli threshold", options, inputs=[src])
    work = [(block, block, (cfg, meta)) for block in blocks(start, stop, batch_size)]
    copies = len(cfg.levels) if cfg.band is None else 1  # output rows per input row
    with create_writer(out, meta, force=force) as writer:
        write_blocks(src, _threshold_block, work, writer, workers=workers, rows_out=lambda lo, hi: (hi - lo) * copies)
        writer.meta.provenance = provenance.result()
        return writer.n
