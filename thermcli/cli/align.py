"""``thermcli align``: register, synchronise and crop an RGB + thermal recording."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Force, JsonOut, parse_duration, parse_size, resolved_options


def _pattern(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or min(int(match.group(1)), int(match.group(2))) < 2:
        raise typer.BadParameter(f"{text!r}: expected COLUMNSxROWS of inner corners, e.g. 6x5", param_hint="--pattern")
    return int(match.group(1)), int(match.group(2))


def _choice(text: str, choices: tuple[str, ...], option: str) -> str:
    if text not in choices:
        raise typer.BadParameter(f"{text!r}: choose one of {', '.join(choices)}", param_hint=option)
    return text


def align(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="[THERMAL RGB] OUT",
            help="Thermal dataset, RGB dataset, output. OUT ending in .json only estimates and writes the "
            "transform (then THERMAL and RGB may be left out with --calib or --points).",
            show_default=False,
        ),
    ],
    calib: Annotated[Optional[Path], typer.Option("--calib", help="Folder of calibration-target image pairs rgbNNNN.* + thermalNNNN.*.")] = None,
    points: Annotated[Optional[Path], typer.Option("--points", help="CSV of clicked point pairs: rgb_x,rgb_y,thermal_x,thermal_y.")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Automatic registration (ECC on edge maps) from the synchronised frames.")] = False,
    transform: Annotated[Optional[Path], typer.Option("--transform", help="Reuse a transform JSON written earlier.")] = None,
    save_transform: Annotated[Optional[Path], typer.Option("--save-transform", help="Also write the estimated transform to this JSON.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Warp RGB frames (+ keypoints, boxes) into the thermal geometry.")] = False,
    reverse: Annotated[bool, typer.Option("--reverse", help="With --apply: warp thermal into the RGB geometry instead.")] = False,
    max_skew: Annotated[str, typer.Option("--max-skew", help="Largest time difference of a pair (60ms, 0.1s).")] = "60ms",
    clock_offset: Annotated[str, typer.Option("--clock-offset", help="How far the RGB clock runs ahead of the thermal one (20ms, -1.5s), or auto to estimate it.")] = "0",
    crop: Annotated[Optional[str], typer.Option("--crop", help="Top-down person crops HEIGHTxWIDTH (e.g. 256x192) of both modalities; implies --apply.")] = None,
    padding: Annotated[float, typer.Option("--padding", min=1.0, help="Crop box enlargement after fitting the crop's aspect ratio.")] = 1.25,
    boxes: Annotated[str, typer.Option("--boxes", help="Boxes to crop around: dataset, find (built-in thermal person finder), a CSV row,x,y,w,h (thermal rows and pixels) or a detect checkpoint MODEL.pt (train --task detect: its person boxes on the thermal frames).")] = "dataset",
    min_score: Annotated[Optional[float], typer.Option("--min-score", min=0.0, max=1.0, help="With --boxes MODEL.pt: keep detections scoring at least this (default 0.5).", show_default=False)] = None,
    labels: Annotated[str, typer.Option("--labels", help="Keypoints/boxes from: auto (thermal if it has them), thermal or rgb; the other stream's keypoints go to columns/<stream>_keypoints.")] = "auto",
    pattern: Annotated[str, typer.Option("--pattern", help="Calibration target: inner corners (or circles) COLUMNSxROWS.")] = "6x5",
    target: Annotated[str, typer.Option("--target", help="Calibration target kind: chessboard or circles.")] = "chessboard",
    polarity: Annotated[str, typer.Option("--polarity", help="Thermal target polarity: auto (try both), normal or inverted.")] = "auto",
    undistort: Annotated[bool, typer.Option("--undistort", help="Undistort with rgb_intrinsic.txt + thermal_intrinsic.txt from the --calib folder.")] = False,
    min_views: Annotated[int, typer.Option("--min-views", min=1, help="Fail unless the target is found in at least this many views.")] = 1,
    ransac_px: Annotated[float, typer.Option("--ransac-px", min=0.1, help="RANSAC inlier threshold in thermal pixels.")] = 3.0,
    initial: Annotated[Optional[Path], typer.Option("--initial", help="Initial guess for --auto: a transform JSON (default: RGB scaled to the thermal width, centred).")] = None,
    auto_pairs: Annotated[int, typer.Option("--auto-pairs", min=1, help="Frame pairs --auto registers (the per-corner median is kept).")] = 9,
    batch_size: BatchSize = 64,
    force: Force = False,
    json_out: JsonOut = False,
) -> None:
    """Register an RGB stream to a thermal one, pair their frames in time, and optionally warp
    them pixel-aligned and cut top-down person crops (keypoints and boxes follow).

    The transform comes from a calibration target (--calib), clicked point pairs (--points),
    automatic registration (--auto) or a saved transform (--transform). Frames pair with their
    nearest partner within --max-skew; frames without one are dropped and counted.

    Example: thermcli align sample_data/tug/thermal.h5 sample_data/tug/rgb.h5 pairs.h5 --transform sample_data/tug/homography.json --apply --max-skew 60ms --crop 256x192
    """
    from thermcli.errors import UsageError
    from thermcli.io import check_output, is_hdf5_path, make_provenance
    from thermcli.progress import say
    from thermcli.stages.align.run import is_model as stage_is_model

    if len(paths) not in (1, 3):
        raise UsageError(f"expected THERMAL RGB OUT, or only OUT.json with --calib/--points; got {len(paths)} paths",
                         param="[THERMAL RGB] OUT")
    out = paths[-1]
    streams = paths[:2] if len(paths) == 3 else None
    methods = [name for name, given in (("--calib", calib), ("--points", points), ("--auto", auto), ("--transform", transform)) if given]
    if len(methods) != 1:
        raise UsageError("give exactly one of --calib DIR, --points CSV, --auto, --transform H.json"
                         + (f" (got {', '.join(methods)})" if methods else ""), param="--calib/--points/--auto/--transform")
    estimate_only = out.suffix.lower() == ".json"
    if estimate_only and (apply or crop):
        raise UsageError("OUT ending in .json only writes the transform; give a dataset OUT to --apply/--crop", param="OUT")
    if estimate_only and transform:
        raise UsageError("--transform with a .json OUT would only copy the transform", param="OUT")
    if streams is None and (auto or transform or not estimate_only):
        raise UsageError("THERMAL and RGB are needed here (only --calib/--points with OUT.json work without them)",
                         param="[THERMAL RGB] OUT")
    if reverse and not (apply or crop):
        raise UsageError("--reverse only makes sense with --apply or --crop", param="--reverse")
    if initial and not auto:
        raise UsageError("--initial is the starting guess of --auto", param="--initial")
    if not estimate_only and not is_hdf5_path(out) and out.suffix:
        raise UsageError("OUT must be a .h5 dataset, a PNG folder (no suffix) or a .json transform", param="OUT")
    skew = parse_duration(max_skew, "--max-skew")
    if skew <= 0:
        raise typer.BadParameter(f"{max_skew!r}: must be > 0", param_hint="--max-skew")
    offset: float | str = "auto" if clock_offset.strip() == "auto" else parse_duration(clock_offset, "--clock-offset")
    crop_size = parse_size(crop, "--crop") if crop else None
    calib_options = {
        "pattern": _pattern(pattern),
        "target": _choice(target, ("chessboard", "circles"), "--target"),
        "polarity": _choice(polarity, ("auto", "normal", "inverted"), "--polarity"),
        "undistort": undistort,
        "min_views": min_views,
    }
    _choice(labels, ("auto", "thermal", "rgb"), "--labels")
    if undistort and not calib:
        raise UsageError("--undistort reads the intrinsics files of the --calib folder", param="--undistort")
    for path, option in ((calib, "--calib"), (points, "--points"), (transform, "--transform"), (initial, "--initial")):
        if path is not None and not path.exists():
            raise UsageError(f"{path} does not exist", param=option)
    if streams is not None:
        for path, name in zip(streams, ("THERMAL", "RGB")):
            if not path.exists():
                raise UsageError(f"{path} does not exist", param=name)
    box_model = Path(boxes) if stage_is_model(boxes) else None
    if min_score is not None and box_model is None:
        raise UsageError("--min-score filters the detections of --boxes MODEL.pt", param="--min-score")
    if box_model is not None and not box_model.is_file():
        raise UsageError(f"{box_model} does not exist", param="--boxes")
    align_inputs = [*paths[:-1], calib, points, transform, initial, box_model]
    check_output(out, force=force, inputs=align_inputs)
    if save_transform is not None:
        check_output(save_transform, force=force, param="--save-transform", inputs=align_inputs)

    from thermcli.stages import align as stage

    options = resolved_options(ctx)
    inputs = [p for p in (*(streams or []), calib, points, transform, initial, box_model) if p is not None]
    provenance = make_provenance("thermcli align", options, inputs=inputs)
    config = stage.AlignConfig(apply=apply, reverse=reverse, max_skew=skew, clock_offset=offset, crop=crop_size,
                               padding=padding, boxes=boxes, min_score=min_score, labels=labels,
                               batch_size=batch_size)
    estimated, report = stage.align(
        tuple(streams) if streams else None, out, method=methods[0].lstrip("-"), calib=calib, points=points,
        transform_path=transform, initial_path=initial, calib_options=calib_options, ransac_px=ransac_px,
        auto_pairs=auto_pairs, save_transform=save_transform, config=config, provenance=provenance, force=force,
    )
    if report is None:
        say(f"wrote {out}: {stage.describe(estimated)}")
        if json_out:
            typer.echo(json.dumps(estimated.to_json(), indent=2))
        return
    say(
        f"wrote {out}: {report['rows']} rows from {report['pairs']} pairs; dropped {report['dropped']['thermal']} thermal "
        f"and {report['dropped']['rgb']} RGB frames without a partner within {report['max_skew_ms']:g} ms"
    )
    if json_out:
        typer.echo(json.dumps(report, indent=2))
