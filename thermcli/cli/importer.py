"""``thermcli import``: camera files, image folders, videos and label files → one dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import (
    BatchSize,
    Force,
    JsonOut,
    parse_frame_range,
    parse_interval,
    parse_name_list,
    resolved_options,
)

_LABELS = "Labels and signals"
_IDS = "Subjects and sequences"
_CAMERA = "Radiometric files"
_SYNC = "Signals on their own clock"


def import_(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="SOURCE... OUT: image folders/files, radiometric files (FLIR R-JPEG, InfiRay .irg), FLIR radiometric "
            "video (.seq, .csq, .fff), videos, "
            "or a COCO JSON; the last path is the output dataset (.h5 or PNG folder).",
            show_default=False,
        ),
    ],
    palette: Annotated[
        Optional[str], typer.Option("--palette", help="Pseudo-colour palette of the images (ironbow, rainbow, white-hot, black-hot, …): convert back to a relative 8-bit intensity.")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="auto, intensity, counts, celsius or kelvin (16-bit PNG in centikelvin, or float TIFF).")] = "auto",
    modality: Annotated[Optional[str], typer.Option("--modality", help="thermal or rgb (default: thermal, or what a thermcli COCO export recorded).")] = None,
    frames: Annotated[Optional[str], typer.Option("--frames", help="Frame range START:STOP of each SOURCE (STOP excluded).")] = None,
    stride: Annotated[int, typer.Option("--stride", min=1, help="Keep every STRIDE-th frame of the range.")] = 1,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate for timestamps (videos: overrides the file's).")] = None,
    pad: Annotated[bool, typer.Option("--pad", help="Pad images of different sizes to the largest (top-left; size kept in columns/image_size).")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Leave out files that cannot be read, and report them.")] = False,
    emissivity: Annotated[Optional[float], typer.Option("--emissivity", help="Emissivity override for every radiometric file.", rich_help_panel=_CAMERA)] = None,
    ambient: Annotated[Optional[float], typer.Option("--ambient", help="Ambient (reflected + atmospheric) temperature override, °C.", rich_help_panel=_CAMERA)] = None,
    distance: Annotated[
        Optional[float], typer.Option("--distance", help="Object distance override, m (FLIR .seq/.csq/.fff).", rich_help_panel=_CAMERA)
    ] = None,
    humidity: Annotated[
        Optional[float], typer.Option("--humidity", help="Relative humidity override, % (FLIR .seq/.csq/.fff).", rich_help_panel=_CAMERA)
    ] = None,
    overrides: Annotated[
        Optional[Path], typer.Option("--overrides", help="Per-file overrides table: columns file, emissivity, ambient.", rich_help_panel=_CAMERA)
    ] = None,
    plausible: Annotated[
        str, typer.Option("--plausible", help="Plausible °C range LO:HI; a file with >1% of pixels outside is an error.", rich_help_panel=_CAMERA)
    ] = "-40:2000",
    labels: Annotated[
        Optional[list[Path]], typer.Option("--labels", help="CSV/text table of per-frame class labels (one per SOURCE, or one for all).", rich_help_panel=_LABELS)
    ] = None,
    label_column: Annotated[str, typer.Option("--label-column", help="Column of --labels holding the class.", rich_help_panel=_LABELS)] = "label",
    class_names: Annotated[Optional[str], typer.Option("--class-names", help="Class names in index order, e.g. INH,EXH.", rich_help_panel=_LABELS)] = None,
    signals: Annotated[
        Optional[list[Path]],
        typer.Option("--signals", help="Table of per-frame signals (CSV, whitespace, $$/++ prefixes); one per SOURCE or one for all.", rich_help_panel=_LABELS),
    ] = None,
    columns: Annotated[Optional[str], typer.Option("--columns", help="Signal columns to keep, e.g. flow,volume (default: all numeric).", rich_help_panel=_LABELS)] = None,
    extra_rows: Annotated[
        bool, typer.Option("--extra-rows", help="Drop table rows beyond the last frame (with a warning) instead of failing.", rich_help_panel=_LABELS)
    ] = False,
    signal_columns: Annotated[
        Optional[str], typer.Option("--signal-columns", help="Names of a headerless --signals file's leading columns, e.g. flow,pressure,volume (the rest of each row is ignored).", rich_help_panel=_SYNC)
    ] = None,
    sync_marks: Annotated[
        Optional[str], typer.Option("--sync-marks", help="VIDEO_MARKS:SIGNAL_MARKS: files of the same events timed in seconds on the video's and the signal's clocks; the --signals file is then on its own clock and is mapped onto the frames piecewise-linearly.", rich_help_panel=_SYNC)
    ] = None,
    sync_delays: Annotated[
        Optional[Path], typer.Option("--sync-delays", help="Table of extra delays per mark (columns vid_delay, flow_delay, seconds) added to the marks.", rich_help_panel=_SYNC)
    ] = None,
    sync_delay_rows: Annotated[
        Optional[str], typer.Option("--sync-delay-rows", help="Rows START:STOP of --sync-delays that belong to this recording (default: all).", rich_help_panel=_SYNC)
    ] = None,
    sync_shift: Annotated[float, typer.Option("--sync-shift", help="Extra constant shift of the signal's clock, seconds (e.g. a lag measured by cross-correlation).", rich_help_panel=_SYNC)] = 0.0,
    signal_rate: Annotated[
        Optional[float], typer.Option("--signal-rate", help="Sample rate of the --signals file, Hz (default: estimated from the marks and the sample count, rounded to a whole Hz within 2%).", rich_help_panel=_SYNC)
    ] = None,
    phase_from: Annotated[
        Optional[str], typer.Option("--phase-from", help="Signed flow column: each frame's label is INH/EXH by the flow's sign (pauses unlabelled).", rich_help_panel=_SYNC)
    ] = None,
    phase_dead_band: Annotated[
        float, typer.Option("--phase-dead-band", help="Pause band around zero flow, as a fraction of the flow's 95th-percentile magnitude.", rich_help_panel=_SYNC)
    ] = 0.05,
    sync_xcorr: Annotated[
        Optional[str], typer.Option("--sync-xcorr", help="Signal column (e.g. flow) to cross-correlate with the mean of --sync-roi: report how far the video trails it, ± its spread over 30-s windows (reported, not applied; --sync-shift applies a shift).", rich_help_panel=_SYNC)
    ] = None,
    sync_roi: Annotated[Optional[str], typer.Option("--sync-roi", help="X,Y,W,H box whose mean --sync-xcorr uses (default: the whole frame).", rich_help_panel=_SYNC)] = None,
    phase_zero: Annotated[
        str, typer.Option("--phase-zero", help="The flow's zero level for --phase-from: a number, or 'mode' (its most common value: where the flow sits during pauses).", rich_help_panel=_SYNC)
    ] = "0",
    phase_positive: Annotated[str, typer.Option("--phase-positive", help="Phase of positive flow: EXH or INH.", rich_help_panel=_SYNC)] = "EXH",
    yolo: Annotated[Optional[Path], typer.Option("--yolo", help="Folder of YOLO box label files (STEM.txt per image).", rich_help_panel=_LABELS)] = None,
    box_classes: Annotated[
        Optional[str], typer.Option("--box-classes", help="YOLO class names in index order (default: data.yaml / classes.txt).", rich_help_panel=_LABELS)
    ] = None,
    image_root: Annotated[Optional[Path], typer.Option("--image-root", help="Root of a COCO file's images (default: the JSON's folder).", rich_help_panel=_LABELS)] = None,
    subject: Annotated[Optional[str], typer.Option("--subject", help="Subject id of every frame.", rich_help_panel=_IDS)] = None,
    sequence: Annotated[Optional[str], typer.Option("--sequence", help="Sequence id of every frame.", rich_help_panel=_IDS)] = None,
    subject_regex: Annotated[Optional[str], typer.Option("--subject-regex", help="Subject id from each file's path (group 1, or the match).", rich_help_panel=_IDS)] = None,
    sequence_regex: Annotated[Optional[str], typer.Option("--sequence-regex", help="Sequence id from each file's path.", rich_help_panel=_IDS)] = None,
    subject_column: Annotated[Optional[str], typer.Option("--subject-column", help="Subject id from a --labels/--signals column.", rich_help_panel=_IDS)] = None,
    sequence_column: Annotated[Optional[str], typer.Option("--sequence-column", help="Sequence id from a --labels/--signals column.", rich_help_panel=_IDS)] = None,
    batch_size: BatchSize = 64,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Import camera files, image folders, videos and label files into one dataset.

    Radiometric files (FLIR R-JPEG via flyr, InfiRay .irg) become float32 °C; images and videos
    8-bit intensity (or 16-bit counts); --palette turns pseudo-colour back into a relative
    intensity. Labels, signals, YOLO boxes and COCO keypoints are attached per frame.

    Example: thermcli import data/00vid.mp4 breathing00.h5 --signals data/00data.txt --extra-rows --sequence-regex '(\\d+)vid'
    """
    import json

    from thermcli.errors import UsageError
    from thermcli.io import check_output, make_provenance
    from thermcli.progress import say, warn
    from thermcli.stages.importer import UNIT_CHOICES, ImportOptions, run_import

    if len(paths) < 2:
        raise UsageError("give at least one SOURCE and the OUT dataset", param="SOURCE... OUT")
    *sources, out = paths
    if unit not in UNIT_CHOICES:
        raise UsageError(f"unknown unit {unit!r}; choose from {', '.join(UNIT_CHOICES)}", param="--unit")
    if modality is not None and modality not in ("thermal", "rgb"):
        raise UsageError(f"unknown modality {modality!r}; choose thermal or rgb", param="--modality")
    if fps is not None and not fps > 0:
        raise UsageError("must be > 0", param="--fps")
    marks = None
    if sync_marks is not None:
        parts = sync_marks.rsplit(":", 1)
        if len(parts) != 2 or not all(parts):
            raise UsageError(f"{sync_marks!r}: give VIDEO_MARKS:SIGNAL_MARKS", param="--sync-marks")
        marks = (Path(parts[0]), Path(parts[1]))
    if phase_zero.strip().lower() == "mode":
        zero: float | str = "mode"
    else:
        try:
            zero = float(phase_zero)
        except ValueError:
            raise UsageError(f"{phase_zero!r}: give a number or 'mode'", param="--phase-zero") from None
    roi_box = None
    if sync_roi is not None:
        try:
            roi_box = tuple(int(v) for v in sync_roi.split(","))
        except ValueError:
            raise UsageError(f"{sync_roi!r}: give X,Y,W,H in pixels", param="--sync-roi") from None
        if len(roi_box) != 4:
            raise UsageError(f"{sync_roi!r}: give X,Y,W,H in pixels", param="--sync-roi")
    options = ImportOptions(
        unit=unit,
        modality=modality,
        palette=palette,
        frames=parse_frame_range(frames),
        stride=stride,
        fps=fps,
        emissivity=emissivity,
        ambient=ambient,
        distance=distance,
        humidity=humidity,
        overrides=overrides,
        plausible=parse_interval(plausible, "--plausible"),
        skip_bad=skip_bad,
        pad=pad,
        labels=tuple(labels or ()),
        label_column=label_column,
        class_names=parse_name_list(class_names, "--class-names"),
        signals=tuple(signals or ()),
        columns=parse_name_list(columns, "--columns"),
        extra_rows=extra_rows,
        signal_columns=parse_name_list(signal_columns, "--signal-columns"),
        sync_marks=marks,
        sync_delays=sync_delays,
        sync_delay_rows=parse_frame_range(sync_delay_rows, "--sync-delay-rows"),
        sync_shift=sync_shift,
        signal_rate=signal_rate,
        phase_from=phase_from,
        phase_dead_band=phase_dead_band,
        phase_positive=phase_positive,
        phase_zero=zero,
        sync_xcorr=sync_xcorr,
        sync_roi=roi_box,
        yolo=yolo,
        box_classes=parse_name_list(box_classes, "--box-classes"),
        image_root=image_root,
        subject=subject,
        sequence=sequence,
        subject_regex=subject_regex,
        sequence_regex=sequence_regex,
        subject_column=subject_column,
        sequence_column=sequence_column,
        batch_size=batch_size,
    )
    inputs = [*sources, *options.labels, *options.signals, *(marks or ())] + ([sync_delays] if sync_delays else [])
    inputs += ([yolo] if yolo else []) + ([overrides] if overrides else [])
    check_output(out, force=force, inputs=[*inputs, image_root])
    provenance = make_provenance("thermcli import", resolved_options(ctx), inputs=inputs)
    report = run_import(list(sources), out, options=options, provenance=provenance, force=force)
    if report.sync is not None and not json_out:
        from thermcli.stages.importer.sync import describe_sync

        say(describe_sync(report.sync))
    for message in report.warnings:
        warn(message)
    for record in report.skipped:
        warn(f"skipped {record['path']}: {record['error']}")
    if json_out:
        typer.echo(json.dumps({"output": str(out), "frames": report.n, "unit": report.unit,
                               "frame_shape": list(report.frame_shape), "skipped": report.skipped,
                               **({"sync": report.sync} if report.sync is not None else {})}, indent=2))
    else:
        skipped = f", skipped {len(report.skipped)} file(s)" if report.skipped else ""
        say(f"wrote {out}: {report.n} frames {report.unit} {'×'.join(map(str, report.frame_shape))}{skipped}")
