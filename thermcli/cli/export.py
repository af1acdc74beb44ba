"""``thermcli export``: a dataset → PNG folder, COCO keypoint JSON or YOLO text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Force, InputPath, JsonOut, parse_interval, resolved_options


def export(
    ctx: typer.Context,
    path: InputPath,
    out: Annotated[Path, typer.Argument(help="Output folder (no suffix).", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="png, coco or yolo.")] = "png",
    palette: Annotated[
        Optional[str], typer.Option("--palette", help="8-bit pseudo-colour images with this palette (ironbow, rainbow, white-hot, black-hot, …).")
    ] = None,
    window: Annotated[
        Optional[str], typer.Option("--window", help="Temperature window LO:HI mapped to 0..255 (8-bit images; default with --palette: the data's range).")
    ] = None,
    batch_size: BatchSize = 64,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Export a dataset as a PNG folder, COCO keypoint JSON (+ images) or YOLO labels (+ images).

    Without --palette/--window, °C frames are written losslessly as 16-bit PNG in centikelvin
    (value = round(100·(T°C + 273.15)), 0 = NaN); `thermcli import` of an export gives back
    the same dataset.

    Example: thermcli export people.h5 people-yolo --to yolo
    """
    import json

    from thermcli.errors import UsageError
    from thermcli.io import check_output, make_provenance
    from thermcli.progress import say
    from thermcli.stages.export import FORMATS, run_export

    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r}; choose from {', '.join(FORMATS)}", param="--to")
    window_range = parse_interval(window, "--window") if window is not None else None
    if palette is not None:
        from thermcli.ops.palette import palette_lut

        palette_lut(palette)
    check_output(out, force=force, inputs=[path])
    provenance = make_provenance(f"thermcli export --to {to}", resolved_options(ctx), inputs=[path])
    report = run_export(path, out, to=to, palette=palette, window=window_range, provenance=provenance, force=force, batch_size=batch_size)
    if json_out:
        typer.echo(json.dumps({"output": str(out), "to": to, "frames": report.n, "annotations": report.annotations,
                               "window": report.window}, indent=2))
    else:
        window_text = f", window {report.window[0]:g}:{report.window[1]:g}" if report.window else ""
        say(f"wrote {out}: {report.n} frames as {to}{window_text}")
