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
    inputs = [*sources, *options.labels, *options.signals] + ([yolo] if yolo else []) + ([overrides] if overrides else [])
    check_output(out, force=force, inputs=[*inputs, image_root])
    provenance = make_provenance("thermcli import", resolved_options(ctx), inputs=inputs)
    report = run_import(list(sources), out, options=options, provenance=provenance, force=force)
    for message in report.warnings:
        warn(message)
    for record in report.skipped:
        warn(f"skipped {record['path']}: {record['error']}")
    if json_out:
        typer.echo(json.dumps({"output": str(out), "frames": report.n, "unit": report.unit,
                               "frame_shape": list(report.frame_shape), "skipped": report.skipped}, indent=2))
    else:
        skipped = f", skipped {len(report.skipped)} file(s)" if report.skipped else ""
        say(f"wrote {out}: {report.n} frames {report.unit} {'×'.join(map(str, report.frame_shape))}{skipped}")
