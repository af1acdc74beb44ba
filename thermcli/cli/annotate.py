"""``thermcli annotate``: ground truth and predictions drawn on (thermal) frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import Device, Force, InputPath, parse_frame_range, parse_interval, resolved_options


def annotate(
    ctx: typer.Context,
    data: InputPath,
    out: Annotated[Path, typer.Argument(help="A folder (one PNG a frame), a contact sheet (.png) or a video (.mp4).", show_default=False)],
    model: Annotated[Optional[Path], typer.Option("--model", help="A keypoint or detect model (.pt) to run on the frames: its predictions (keypoints, or boxes with class and score) are drawn.", show_default=False)] = None,
    pred: Annotated[Optional[Path], typer.Option("--pred", help="A predictions dataset (thermcli predict): its keypoints, boxes, scores and labels are drawn.", show_default=False)] = None,
    palette: Annotated[str, typer.Option("--palette", help="Palette for temperatures: ironbow, white-hot, black-hot, rainbow, ...")] = "ironbow",
    window: Annotated[Optional[str], typer.Option("--window", help="Temperature window LO:HI in the frames' unit (default: 0.5th–99.9th percentile of the selected frames, one window for all).")] = None,
    scale: Annotated[int, typer.Option("--scale", min=0, help="Upscaling factor (0 = auto: at least 480 px wide; an 80×60 frame becomes 480×360).")] = 0,
    colorbar: Annotated[bool, typer.Option("--colorbar/--no-colorbar", help="A temperature colour bar beside each frame.")] = True,
    gt: Annotated[bool, typer.Option("--gt/--no-gt", help="Draw the ground truth (green rings, dashed boxes).")] = True,
    frames: Annotated[Optional[str], typer.Option("--frames", help="Frame range START:STOP (Python slice rules).")] = None,
    columns: Annotated[int, typer.Option("--columns", min=1, help="Contact sheet: frames a row.")] = 6,
    fps: Annotated[float, typer.Option("--fps", min=0.1, help="MP4: frames per second.")] = 5.0,
    min_confidence: Annotated[float, typer.Option("--min-confidence", min=0.0, help="Hide predicted keypoints whose confidence (heatmap peak) is at most this.")] = 0.0,
    min_score: Annotated[float, typer.Option("--min-score", min=0.0, max=1.0, help="Hide predicted boxes (and their people) scoring below this, e.g. a detector's chosen threshold.")] = 0.0,
    device: Device = "auto",
    force: Force = False,
) -> None:
    """Draw keypoints + skeleton, boxes, scores and class labels on frames: temperatures through a
    palette with an optional colour bar, upscaled so 80×60 frames are legible, ground truth (green,
    thin, rings, dashed boxes) and predictions (colour, thick, dots) in distinct styles.

    Example: thermcli annotate test.h5 sheet.png --model runs/student/best.pt --palette ironbow --frames 0:12
    """
    from thermcli.io import check_output, make_provenance
    from thermcli.progress import say
    from thermcli.stages.annotate import AnnotateConfig, annotate as run, output_kind

    output_kind(out)
    check_output(out, force=force, inputs=[data, model, pred])
    config = AnnotateConfig(
        palette=palette, window=parse_interval(window, "--window") if window else None, scale=scale,
        colorbar=colorbar, show_gt=gt, columns=columns, fps=fps, min_confidence=min_confidence,
        min_score=min_score, rows=parse_frame_range(frames, "--frames"), device=device,
    )
    inputs = [data] + [p for p in (model, pred) if p is not None]
    summary = run(data, out, config, model=model, predictions=pred, force=force,
                  provenance=make_provenance("thermcli annotate", resolved_options(ctx), inputs=inputs))
    say(f"wrote {out}: {summary['frames']} frames ({summary['kind']}, ×{summary['scale']})")
