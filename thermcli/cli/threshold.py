"""``thermcli threshold``: one copy of every frame per threshold level."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from thermcli.cli.options import (
    BatchSize,
    Force,
    InputPath,
    OutputPath,
    Shard,
    Workers,
    parse_interval,
    parse_levels,
    parse_percentiles,
    parse_shard,
    resolved_options,
)

METHOD_HELP = "binary, canny, otsu, multi-otsu, adaptive-mean, adaptive-gaussian or temperature."


def threshold(
    ctx: typer.Context,
    src: InputPath,
    out: OutputPath,
    method: Annotated[str, typer.Option("--method", "-m", help=METHOD_HELP)] = "binary",
    levels: Annotated[
        Optional[str],
        typer.Option(
            "--range",
            help="Levels: START:STOP:STEP (STOP included when reached) or a comma list. Default 50:300:100 "
            "(multi-otsu: 2:4:1 classes; temperature: required unless --band).",
            show_default=False,
        ),
    ] = None,
    emit: Annotated[str, typer.Option("--emit", help="masked (frame kept where the mask is on), mask, or stack.")] = "masked",
    window: Annotated[
        str, typer.Option("--window", help="LO:HI in the frame's unit, or auto (per-frame percentiles) for the 0..255 working range.")
    ] = "auto",
    percentiles: Annotated[str, typer.Option("--percentiles", help="Percentiles P_LO:P_HI of --window auto.")] = "1:99",
    canny_ratio: Annotated[float, typer.Option("--canny-ratio", help="canny: low hysteresis threshold = ratio × level.")] = 0.5,
    block_size: Annotated[int, typer.Option("--block-size", help="adaptive-*: odd neighbourhood size in pixels.")] = 11,
    offset: Annotated[float, typer.Option("--offset", help="adaptive-*: constant subtracted from the local mean.")] = 2.0,
    band: Annotated[
        Optional[str], typer.Option("--band", help="temperature: one copy with LO <= T <= HI (e.g. skin 30:37).", show_default=False)
    ] = None,
    keep_original: Annotated[
        bool, typer.Option("--keep-original", help="Also write each frame itself before its copies (threshold_level NaN): the copies enlarge the data instead of replacing it.")
    ] = False,
    batch_size: BatchSize = 64,
    workers: Workers = 1,
    shard: Shard = None,
    force: Force = False,
) -> None:
    """One copy of every frame per threshold level (adaptive multi-thresholding).

    Labels, keypoints, boxes, subjects and timestamps are replicated; columns threshold_level,
    threshold_source_row and threshold_window_lo/hi record each copy. Frames that are not 8-bit are windowed to 0..255 first (--window, recorded in the output);
    NaN pixels are masked. What a level means per method: docs/commands/threshold.md.

    Example: thermcli threshold --method binary --range 50:300:100 sample_data/breathing.h5 out/breathing_thr.h5
    """
    from thermcli.errors import UsageError
    from thermcli.io import check_output
    from thermcli.ops.threshold import EMITS, METHODS, ThresholdConfig
    from thermcli.progress import say
    from thermcli.stages.threshold import run_threshold

    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose from {', '.join(METHODS)}", param="--method")
    if emit not in EMITS:
        raise UsageError(f"unknown {emit!r}; choose from {', '.join(EMITS)}", param="--emit")
    default_levels = {"multi-otsu": "2:4:1"}.get(method, "50:300:100")
    if method == "temperature" and levels is None and band is None:
        raise UsageError("temperature needs levels in the frame's unit (e.g. --range 30:36:2) or --band", param="--range")
    level_list = parse_levels(levels if levels is not None else default_levels, "--range")
    band_interval = parse_interval(band, "--band") if band is not None else None
    window_interval = None if window.strip().lower() == "auto" else parse_interval(window, "--window")
    shard_kn = parse_shard(shard)
    cfg = ThresholdConfig(
        method=method,
        levels=tuple(level_list),
        window=window_interval,
        percentiles=parse_percentiles(percentiles, "--percentiles"),
        emit=emit,
        canny_ratio=canny_ratio,
        block_size=block_size,
        offset=offset,
        band=band_interval,
    )
    check_output(out, force=force, inputs=[src])
    rows = run_threshold(
        src, out, cfg, options=resolved_options(ctx), batch_size=batch_size, workers=workers, shard=shard_kn, force=force,
        keep_original=keep_original,
    )
    say(f"wrote {rows} rows to {out}")
