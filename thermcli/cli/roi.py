"""``thermcli roi``: region statistics over time, per-recording summaries, respiration rate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Device, Force, InputPath, JsonOut, parse_duration, parse_interval, resolved_options

STATS = ["mean", "median", "min", "max", "std"]


def roi(
    ctx: typer.Context,
    source: InputPath,
    out: Annotated[Path, typer.Argument(help="Output folder (series.csv/.h5, summary.json/.csv, plots/, respiration.csv).", show_default=False)],
    regions: Annotated[Optional[Path], typer.Option("--regions", help="JSON file of boxes/polygons/discs; a number may name a per-frame column.")] = None,
    band: Annotated[Optional[str], typer.Option("--band", help="Temperature band LO:HI in the frame's unit (skin: 30:37): the region 'skin' alone, or a mask inside every other region.")] = None,
    open_px: Annotated[int, typer.Option("--open", min=0, help="Band mask: morphological opening, kernel diameter in px (0 = off).")] = 0,
    close_px: Annotated[int, typer.Option("--close", min=0, help="Band mask: morphological closing, kernel diameter in px (0 = off).")] = 0,
    largest: Annotated[bool, typer.Option("--largest/--all-components", help="Band mask: keep only the largest connected component.")] = True,
    min_area: Annotated[int, typer.Option("--min-area", min=0, help="Band mask: drop components smaller than this (px).")] = 0,
    anchor: Annotated[Optional[list[str]], typer.Option("--anchor", help="Keypoint-anchored region, repeatable: NAME=disc:KP:RADIUS or NAME=segment:KP1,KP2:WIDTH (KP may be a+b, the mean); or 'face': the face box and its sub-regions from --face-model.")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Keypoint model checkpoint for --anchor (default: the dataset's keypoints).")] = None,
    face_model: Annotated[Optional[Path], typer.Option("--face-model", help="Face detector checkpoint (train --task detect) for --anchor face.")] = None,
    face_score: Annotated[float, typer.Option("--face-score", help="--anchor face: lowest detection score taken as a face (0..1).")] = 0.5,
    face_hold: Annotated[int, typer.Option("--face-hold", help="--anchor face: frames the last face box is held over missed detections before the face counts as lost.")] = 5,
    face_smooth: Annotated[float, typer.Option("--face-smooth", help="--anchor face: weight of each new detection in the box's moving average (1 = no smoothing).")] = 0.5,
    person: Annotated[int, typer.Option("--person", min=0, help="Which person's keypoints anchor the regions.")] = 0,
    region: Annotated[Optional[list[str]], typer.Option("--region", help="A region found from the video alone: auto-airway (the disc 'airway' where the intensity oscillates in the breathing band, tracked).")] = None,
    airway_radius: Annotated[float, typer.Option("--airway-radius", min=0.5, help="Radius in px of the auto-airway disc.")] = 6.0,
    percentiles: Annotated[str, typer.Option("--percentiles", help="Comma list of percentiles to report (empty: none).")] = "5,95",
    saturation: Annotated[Optional[str], typer.Option("--saturation", help="LO:HI: pixels at or beyond count as saturated (default: the integer dtype's limits; none for °C).")] = None,
    smooth: Annotated[str, typer.Option("--smooth", help="none, moving, median, savgol or ema (applied per recording).")] = "none",
    smooth_window: Annotated[str, typer.Option("--smooth-window", help="Smoothing window as a duration (1s, 500ms).")] = "1s",
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline window START:STOP in seconds from each recording's start.")] = "0:10",
    summary_stat: Annotated[str, typer.Option("--summary-stat", help="Statistic the per-recording summaries use (mean, median, min, max, std, pNN).")] = "mean",
    by: Annotated[str, typer.Option("--by", help="What makes a recording: sequence, subject or none.")] = "sequence",
    fps: Annotated[Optional[float], typer.Option("--fps", help="Frame rate, overriding the dataset's timestamps.")] = None,
    session: Annotated[Optional[str], typer.Option("--session", help="Session label written in every summary row (for eval --metric icc).")] = None,
    signal: Annotated[str, typer.Option("--signal", help="none, or breathing: respiration rate, quality and INH/EXH phase from each region's mean.")] = "none",
    rate_method: Annotated[str, typer.Option("--rate-method", help="Breathing rate: auto (validated cycle count guided by the spectral peak), spectral (spectral peak) or peaks (counting peaks).")] = "auto",
    window: Annotated[str, typer.Option("--window", help="Analysis window (30s), or 'all' for one window per recording.")] = "30s",
    step: Annotated[str, typer.Option("--step", help="Step between analysis windows.")] = "5s",
    breath_band: Annotated[Optional[str], typer.Option("--breath-band", help="Breathing band LO:HI in Hz (zero-phase Butterworth band-pass). Default 0.1:1.5 (6–90 breaths/min), its upper edge lowered under a slow camera's Nyquist frequency.")] = None,
    phase: Annotated[str, typer.Option("--phase", help="Phase rule: slope (rising = EXH, nostrils) or level (above zero = EXH, region in the air stream).")] = "slope",
    breath_region: Annotated[Optional[str], typer.Option("--breath-region", help="Region whose mean is the breathing signal (default: every region).")] = None,
    min_quality: Annotated[float, typer.Option("--min-quality", min=0.0, max=1.0, help="Windows whose quality index is below this are reported but not used for a recording's rate (0 = use all).")] = 0.0,
    reference: Annotated[Optional[str], typer.Option("--reference", help="rate:COLUMN (true rate, bpm) or flow:COLUMN (spirometer flow): report the rate error and phase accuracy.")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write plots/REGION.png.")] = True,
    device: Device = "auto",
    batch_size: BatchSize = 256,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Per-region temperature statistics over time (mean, median, min, max, std, percentiles,
    area, NaN and saturated fractions, in the frame's unit), per-recording summaries (baseline,
    change, slope, time to peak, AUC), plots, and with --signal breathing the respiration rate
    per window, a quality index and the INH/EXH phase per frame.

    Example: thermcli roi sample_data/breathing.h5 out/breathing-roi --regions examples/roi/airway.json --signal breathing --window all --reference rate:true_rate_bpm
    """
    import json

    from thermcli.cli.options import parse_levels
    from thermcli.errors import UsageError
    from thermcli.io import check_output, make_provenance
    from thermcli.io.jsonable import jsonable
    from thermcli.progress import say, warn
    from thermcli.stages import roi as stage
    from thermcli.stages.roi import face as face_stage

    check_output(out, force=force, inputs=[source, regions, model, face_model])
    region_list = list(stage.load_regions(regions)) if regions is not None else []
    for name in region or []:
        _choice(name, ["auto-airway"], "--region")
    if region:
        from thermcli.stages.roi.airway import auto_airway_region

        region_list.append(auto_airway_region(airway_radius))
    elif airway_radius != 6.0:
        raise UsageError("--airway-radius needs --region auto-airway", param="--airway-radius")
    face_anchor = face_stage.FACE_ANCHOR in (anchor or [])
    region_list += [stage.parse_anchor(text) for text in anchor or [] if text != face_stage.FACE_ANCHOR]
    if face_anchor:
        if face_model is None:
            raise UsageError("--anchor face needs --face-model (a train --task detect face model)", param="--face-model")
        tracking = face_stage.FaceTracking(model=face_model, min_score=face_score, hold=face_hold, alpha=face_smooth)
        region_list += face_stage.face_regions()
    elif face_model is not None:
        raise UsageError("--face-model only serves --anchor face", param="--face-model")
    band_spec = None
    if band is not None:
        low, high = parse_interval(band, "--band")
        band_spec = stage.Band(low=low, high=high, open_px=open_px, close_px=close_px, largest=largest, min_area=min_area)
    _choice(smooth, ["none", "moving", "median", "savgol", "ema"], "--smooth")
    _choice(by, ["sequence", "subject", "none"], "--by")
    _choice(signal, ["none", "breathing"], "--signal")
    _choice(rate_method, ["auto", "spectral", "peaks"], "--rate-method")
    _choice(phase, ["slope", "level"], "--phase")
    percentile_values = tuple(parse_levels(percentiles, "--percentiles")) if percentiles.strip() else ()
    if any(not 0 <= p <= 100 for p in percentile_values):
        raise typer.BadParameter("percentiles must lie in 0..100", param_hint="--percentiles")
    known_stats = STATS + [f"p{p:g}" for p in percentile_values]
    if summary_stat not in known_stats:
        raise typer.BadParameter(f"{summary_stat!r}: choose from {', '.join(known_stats)}", param_hint="--summary-stat")
    if fps is not None and fps <= 0:
        raise typer.BadParameter("must be > 0", param_hint="--fps")
    breathing = None
    if signal == "breathing":
        window_s = None if window.strip().lower() == "all" else parse_duration(window, "--window")
        if window_s is not None and window_s <= 0:
            raise typer.BadParameter("must be > 0 (or 'all')", param_hint="--window")
        step_s = parse_duration(step, "--step")
        if step_s <= 0:
            raise typer.BadParameter("must be > 0", param_hint="--step")
        breathing = stage.BreathingConfig(
            method=rate_method, window_s=window_s, step_s=step_s,
            band=None if breath_band is None else parse_interval(breath_band, "--breath-band"),
            phase_method=phase, region=breath_region, reference=reference, min_quality=min_quality,
        )
        if breathing.band is not None and breathing.band[0] <= 0:
            raise typer.BadParameter("LO must be > 0 Hz", param_hint="--breath-band")
    elif reference is not None or breath_region is not None:
        raise UsageError("needs --signal breathing", param="--reference" if reference is not None else "--breath-region")
    config = stage.RoiConfig(
        regions=tuple(region_list),
        band=band_spec,
        percentiles=percentile_values,
        saturation=parse_interval(saturation, "--saturation") if saturation else None,
        smooth=smooth,
        smooth_s=parse_duration(smooth_window, "--smooth-window"),
        baseline=_baseline(baseline),
        summary_stat=summary_stat,
        by=by,
        fps=fps,
        person=person,
        session=session,
        breathing=breathing,
        plots=plots,
        batch_size=batch_size,
    )
    predictor, names = (None, None)
    if model is not None:
        if not any(r.kind in ("adisc", "segment") for r in region_list):
            raise UsageError("--model only serves --anchor regions", param="--model")
        predictor, names = stage.model_keypoint_predictor(model, source, device=device, batch_size=min(batch_size, 64))
    frame_columns = None
    if face_anchor:
        frame_columns, counts = face_stage.face_anchor_columns(source, tracking, device=device, batch_size=min(batch_size, 32))
        say(f"face: detected in {counts['detected']} of {counts['frames']} frames, held in {counts['held']}, lost in {counts['lost']}")
    inputs = [source] + ([regions] if regions is not None else []) + ([model] if model is not None else []) + \
        ([face_model] if face_model is not None else [])
    provenance = make_provenance("thermcli roi", resolved_options(ctx), inputs=inputs)
    result = stage.run_roi(
        source, out, config, provenance=provenance, force=force, keypoint_predictor=predictor, keypoint_names=names, warn=warn,
        frame_columns=frame_columns,
    )
    if json_out:
        doc = {"summaries": result.summaries, "respiration": result.respiration_summary, "warnings": result.warnings}
        typer.echo(json.dumps(jsonable(doc), indent=2))
    say(f"wrote {out} ({len(result.series['frame'])} frames, {len(result.summaries)} recording × region summaries)")
    for row in result.respiration_summary:
        if row.get("recording") == "ALL":
            parts = [f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)]
            say(f"respiration {row['region']}: " + ", ".join(parts))


def _choice(value: str, choices: list[str], option: str) -> None:
    if value not in choices:
        raise typer.BadParameter(f"{value!r}: choose from {', '.join(choices)}", param_hint=option)


def _baseline(text: str) -> tuple[float, float]:
    parts = text.split(":")
    if len(parts) != 2:
        raise typer.BadParameter(f"{text!r}: expected START:STOP in seconds", param_hint="--baseline")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected START:STOP in seconds", param_hint="--baseline") from None
    if not 0 <= start <= stop:
        raise typer.BadParameter(f"{text!r}: need 0 ≤ START ≤ STOP", param_hint="--baseline")
    return start, stop
