"""``run_roi``: the stage's driver — checks, the per-frame statistics, the series and the
per-recording summaries, then respiration and writing."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops.roi import band_mask, disc_mask, region_stats, stat_columns
from thermcli.ops.series import recording_bounds, summarize_series
from thermcli.stages.roi.config import SHAPES, KeypointPredictor, Region, RoiConfig, RoiResult, _check_unique
from thermcli.stages.roi.regions import (
    _check_columns,
    _check_fixed_regions,
    _flat,
    _keypoint_index,
    _region_mask,
    _shape_mask,
)
from thermcli.stages.roi.airway import AUTO_AIRWAY, airway_tracks
from thermcli.stages.roi.respiration import _respiration
from thermcli.stages.roi.timeline import _reference_column, _smooth_by_recording, _timeline
from thermcli.stages.roi.writing import _write


def run_roi(
    source: str | Path,
    out: str | Path,
    config: RoiConfig,
    *,
    provenance: dict[str, Any],
    force: bool = False,
    keypoint_predictor: KeypointPredictor | None = None,
    keypoint_names: Sequence[str] | None = None,
    warn: Callable[[str], None] | None = None,
    frame_columns: dict[str, np.ndarray] | None = None,
) -> RoiResult:
    """Compute the ROI series of ``source`` and write the output folder ``out``.

    ``keypoint_predictor`` (with its ``keypoint_names``) replaces the dataset's keypoints for
    anchored regions (see ``model_keypoint_predictor``); ``warn`` receives each warning as it
    happens (they are also returned and stored in ``summary.json``). ``frame_columns`` adds
    per-frame columns (one row per frame) that regions may name as the dataset's own columns
    (``roi --anchor face``); the 1-D ones are also written to the series.
    """
    from thermcli.io import open_dataset
    from thermcli.progress import track

    warnings: list[str] = []

    def note(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    out = Path(out)
    if out.suffix:
        raise UsageError("the output is a folder (no suffix), e.g. out/roi", param="OUT")
    if not config.regions and config.band is None:
        raise UsageError("no regions: give --regions, --band or --anchor", param="--regions")
    _check_unique([r.name for r in config.regions], "--anchor")
    for region in config.regions:
        if not re.fullmatch(r"[\w-]+", region.name):
            raise UsageError(f"region name {region.name!r}: use letters, digits, _ and - only", param="--regions")
    breath_region = config.breathing.region if config.breathing is not None else None
    if breath_region is not None and breath_region not in [r.name for r in config.regions] + (["skin"] if not config.regions else []):
        known = ", ".join(r.name for r in config.regions) or "skin"
        raise UsageError(f"no region named {breath_region!r} (regions: {known})", param="--breath-region")
    with open_dataset(source) as reader:
        meta = reader.meta
        where = str(source)
        if len(reader.frame_shape) == 3 and reader.frame_shape[2] != 1:
            raise DataError(f"needs single-channel frames, got shape {reader.frame_shape}; convert colour frames first", path=where)
        height, width = reader.frame_shape[:2]
        extra = dict(frame_columns or {})
        _check_columns(config.regions, list(reader.column_names) + list(extra), where)
        anchors = [r for r in config.regions if r.kind in ("adisc", "segment")]
        keypoint_index: dict[str, int] = {}
        if anchors:
            source_names = keypoint_names if keypoint_predictor is not None else meta.keypoint_names
            keypoint_index = _keypoint_index(anchors, source_names, "the model" if keypoint_predictor is not None else where)
            if keypoint_predictor is None and "keypoints" not in reader.fields:
                raise DataError("has no keypoints for --anchor; pass --model with a keypoint model", path=where)
            slots_field = "keypoints" if keypoint_predictor is None else "boxes"
            if config.person > 0 and slots_field in reader.fields:
                people = getattr(reader.read(0, 1, check_values=False), slots_field).shape[1]
                if config.person >= people:  # every region would be NaN in every frame
                    raise UsageError(f"{config.person} is beyond the {people} person slot(s) per frame of {where} "
                                     f"(--person counts from 0)", param="--person")
        _check_fixed_regions(config.regions, height, width, where, note)
        # everything that can fail on the input's metadata fails before the per-frame work
        times, recordings, subjects = _timeline(reader, config, where)
        labels = reader.read_field("labels") if "labels" in reader.fields and meta.label_kind == "multiclass" else None
        reference = _reference_column(reader, config.breathing, where)
        regions = list(config.regions) or [Region(name="skin", kind="band")]
        stat_names = stat_columns(config.percentiles)
        n = reader.n
        values = {r.name: np.full((n, len(stat_names)), np.nan) for r in regions}
        missing_anchor = {r.name: 0 for r in regions}
        # fixed shapes are the same in every frame: build their masks once
        static = {
            r.name: _shape_mask(r.kind, r.values, (height, width), r.offset)
            for r in regions
            if r.kind in SHAPES and not any(isinstance(v, str) for v in _flat(r))
        }
        tracks = airway_tracks(reader, regions, times, config.batch_size, where)
        for batch_start, batch in _batches(reader, config.batch_size, track):
            if extra:
                stop = batch_start + len(batch)
                batch = batch.replace(columns={**batch.columns, **{k: v[batch_start:stop] for k, v in extra.items()}})
            keypoints = None
            if anchors:
                keypoints = keypoint_predictor(batch, batch_start) if keypoint_predictor is not None else batch.keypoints
                keypoints = np.asarray(keypoints, dtype=np.float64)
                if keypoints.ndim != 4 or keypoints.shape[0] != len(batch) or keypoints.shape[3] != 3:
                    raise DataError(f"keypoints must be (N, P, K, 3), got shape {keypoints.shape}", path=where)
            for j in range(len(batch)):
                frame = batch.frames[j]
                if frame.ndim == 3:
                    frame = frame[..., 0]
                band = None
                if config.band is not None:
                    b = config.band
                    band = band_mask(frame, b.low, b.high, open_px=b.open_px, close_px=b.close_px, largest=b.largest, min_area=b.min_area)
                for region in regions:
                    mask = static.get(region.name)
                    if region.kind == AUTO_AIRWAY:
                        mask = disc_mask((height, width), tracks[region.name][batch_start + j], region.size)
                    elif mask is None:
                        mask = _region_mask(region, (height, width), batch, j, keypoints, keypoint_index, config.person)
                    if mask is None:
                        missing_anchor[region.name] += 1
                        continue
                    if band is not None:
                        mask = band if region.kind == "band" else mask & band
                    stats = region_stats(frame, mask, percentiles=config.percentiles, saturation=config.saturation)
                    values[region.name][batch_start + j] = [stats[s] for s in stat_names]
        for name, count in missing_anchor.items():
            if count:
                note(f"region {name}: anchor keypoints absent in {count} of {n} frames (NaN there)")
        for name, table in values.items():
            empty = int(np.sum(table[:, stat_names.index("area_px")] == 0))
            if empty:
                note(f"region {name}: empty (outside the frame or no pixel in the band) in {empty} of {n} frames (NaN there)")

    unit = meta.unit
    runs = recording_bounds(list(recordings))
    if len({key for key, _, _ in runs}) != len(runs):
        note(f"recording ids reappear after other recordings; each contiguous run is summarised separately (--by {config.by})")
    series: dict[str, np.ndarray] = {
        "frame": np.arange(len(times)),
        "recording": np.asarray(recordings, dtype=object),
        "subject": np.asarray(subjects, dtype=object),
        "time_s": times,
    }
    for name, column in (frame_columns or {}).items():
        if np.ndim(column) == 1:
            series[name] = np.asarray(column)
    columns = list(series)
    for region in regions:
        for s, stat in enumerate(stat_names):
            column = f"{region.name}.{stat}"
            raw = values[region.name][:, s]
            if config.smooth != "none" and stat not in ("area_px", "nan_fraction", "saturated_fraction"):
                raw = _smooth_by_recording(raw, times, runs, config.smooth, config.smooth_s)
            series[column] = raw
            columns.append(column)

    summaries = []
    for key, lo, hi in runs:
        for region in regions:
            y = series[f"{region.name}.{config.summary_stat}"][lo:hi]
            row: dict[str, Any] = {
                "session": config.session if config.session is not None else key,
                "recording": key,
                "subject": str(subjects[lo]),
                "region": region.name,
                "stat": config.summary_stat,
                "unit": unit,
            }
            row.update(summarize_series(times[lo:hi], y, baseline=config.baseline))
            if not math.isfinite(row["baseline"]):
                note(f"recording {key} region {region.name}: no frame in the baseline window {config.baseline[0]:g}–{config.baseline[1]:g} s (baseline NaN)")
            summaries.append(row)

    result = RoiResult(columns=columns, series=series, summaries=summaries, warnings=warnings, unit=unit)
    if config.breathing is not None:
        _respiration(result, config, regions, runs, times, labels, reference, note)
    _write(out, result, config, meta, provenance, force=force)
    result.warnings = warnings
    return result


def _batches(reader, batch_size: int, track):
    total = (reader.n + batch_size - 1) // batch_size
    starts = range(0, reader.n, batch_size)
    for start, batch in zip(starts, track(reader.iter_batches(batch_size), total=total, description="roi")):
        yield start, batch
