"""``thermcli roi``: per-region, per-frame temperature statistics over time, per-recording
summaries, plots, and (``signal="breathing"``) respiration rate, quality and INH/EXH phase.

Regions, per frame, from
- ``regions.json``: fixed boxes / polygons / discs; a number may instead name a per-frame
  column of the dataset (a tracked ROI: ``{"name": "mouth", "disc": ["cx", "cy", "r"]}``, or
  one element of a column: ``"airway_xy[0]"``);
- a temperature band (a skin mask with morphology and largest-component options): alone it is
  the region ``skin``; with other regions it keeps only each region's pixels inside the band;
- keypoint anchors (``NAME=disc:KP:RADIUS``, ``NAME=segment:KP1,KP2:WIDTH``; ``KP`` may average
  keypoints with ``+``) from the dataset's keypoints or from a keypoint model.

Output folder: ``series.csv`` + ``series.h5`` (one row per frame: frame, recording, subject,
time, ``REGION.STAT`` …), ``summary.json`` + ``summary.csv`` (one row per recording and region),
``plots/REGION.png``, and for breathing ``respiration.csv`` (one row per window).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops import respiration as resp
from thermcli.ops.roi import (
    band_mask,
    box_mask,
    disc_mask,
    polygon_mask,
    region_stats,
    segment_mask,
    stat_columns,
)
from thermcli.ops.series import recording_bounds, smooth, summarize_series

SERIES_SCHEMA = "thermcli.roi_series"
SHAPES = ("box", "polygon", "disc")
KeypointPredictor = Callable[[Any, int], np.ndarray]  # (batch, its first row) → (N, P, K, 3) keypoints


# ---- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A temperature band mask: ``low ≤ value ≤ high`` cleaned by morphology."""

    low: float
    high: float
    open_px: int = 0
    close_px: int = 0
    largest: bool = True
    min_area: int = 0


@dataclass(frozen=True)
class Region:
    """One region: ``kind`` box / polygon / disc (``values``: numbers or column names), anchor
    ``adisc`` / ``segment`` (``points``: keypoint-name groups, ``size``: radius or width), or
    ``band`` (the band mask alone)."""

    name: str
    kind: str
    values: tuple = ()
    offset: tuple[float, float] = (0.0, 0.0)
    points: tuple[tuple[str, ...], ...] = ()
    size: float = 0.0


@dataclass(frozen=True)
class BreathingConfig:
    method: str = "auto"
    window_s: float | None = 30.0  # None: one window over each whole recording
    step_s: float = 5.0
    band: tuple[float, float] | None = None  # None: resp.DEFAULT_BAND, lowered under a slow camera's Nyquist
    phase_method: str = "slope"
    region: str | None = None  # None: every region
    reference: str | None = None  # "rate:COLUMN" or "flow:COLUMN"
    min_quality: float = 0.0  # windows below it are reported but not used for the recording's rate


@dataclass(frozen=True)
class RoiConfig:
    regions: tuple[Region, ...]
    band: Band | None = None
    percentiles: tuple[float, ...] = (5.0, 95.0)
    saturation: tuple[float, float] | None = None
    smooth: str = "none"
    smooth_s: float = 0.0
    baseline: tuple[float, float] = (0.0, 10.0)
    summary_stat: str = "mean"
    by: str = "sequence"
    fps: float | None = None
    person: int = 0
    session: str | None = None
    breathing: BreathingConfig | None = None
    plots: bool = True
    batch_size: int = 256

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- parsing of region sources -----------------------------------------------------------------


def load_regions(path: str | Path) -> list[Region]:
    """Regions from a JSON file: ``{"regions": [{"name": ..., "box"|"polygon"|"disc": ...}]}``
    or the list alone. Box = [x, y, w, h], disc = [cx, cy, r], polygon = [[x, y], ...]; any
    number may be a string naming a per-frame dataset column (``NAME`` or ``NAME[i]``). An
    optional ``"offset": [dx, dy]`` shifts the shape, e.g. ``[0.5, 0.5]`` for coordinates given
    as pixel indices (thermcli's pixel (c, r) has its centre at (c + 0.5, r + 0.5))."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError("no such file", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"not readable JSON ({' '.join(str(exc).split())[:120]})", path=str(path)) from None
    items = doc.get("regions") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise DataError('expected {"regions": [...]} with at least one region', path=str(path))
    regions = []
    for i, item in enumerate(items):
        where = f"{path} region {i}"
        if not isinstance(item, dict):
            raise DataError("each region must be an object", path=where)
        name = str(item.get("name", f"region{i}"))
        kinds = [k for k in SHAPES if k in item]
        if len(kinds) != 1:
            raise DataError(f"{name!r} needs exactly one of {', '.join(SHAPES)}", path=where)
        kind = kinds[0]
        value = item[kind]
        if kind == "polygon":
            if not isinstance(value, list) or len(value) < 3 or not all(isinstance(p, list) and len(p) == 2 for p in value):
                raise DataError(f"{name!r}: a polygon is a list of ≥ 3 [x, y] points", path=where)
            flat = tuple(tuple(_number_or_column(v, where) for v in p) for p in value)
        else:
            want = 4 if kind == "box" else 3
            if not isinstance(value, list) or len(value) != want:
                layout = "[x, y, w, h]" if kind == "box" else "[cx, cy, r]"
                raise DataError(f"{name!r}: a {kind} is {layout}", path=where)
            flat = tuple(_number_or_column(v, where) for v in value)
        offset = item.get("offset", [0, 0])
        if (not isinstance(offset, list) or len(offset) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in offset)):
            raise DataError(f"{name!r}: offset is [dx, dy] in pixels", path=where)
        regions.append(Region(name=name, kind=kind, values=flat, offset=(float(offset[0]), float(offset[1]))))
    _check_unique([r.name for r in regions], str(path))
    return regions


def _number_or_column(value: Any, where: str) -> float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataError(f"{value!r} is neither a number nor a column name", path=where)
    if isinstance(value, str):
        return value.removeprefix("columns/")
    return float(value)


_ANCHOR = re.compile(r"^\s*([\w.-]+)\s*=\s*(disc|segment)\s*:\s*([^:]+?)\s*:\s*([0-9.eE+-]+)\s*$")


def parse_anchor(text: str) -> Region:
    """``NAME=disc:KP:RADIUS`` or ``NAME=segment:KP1,KP2:WIDTH`` (pixels); a keypoint may be the
    mean of several: ``left_shoulder+right_shoulder``.

    >>> parse_anchor("chest=segment:left_shoulder+right_shoulder,left_hip+right_hip:20").points
    (('left_shoulder', 'right_shoulder'), ('left_hip', 'right_hip'))
    """
    match = _ANCHOR.match(text)
    if not match:
        raise UsageError(f"{text!r}: expected NAME=disc:KP:RADIUS or NAME=segment:KP1,KP2:WIDTH", param="--anchor")
    name, kind, points_text, size_text = match.groups()
    try:
        size = float(size_text)
    except ValueError:
        raise UsageError(f"{text!r}: {size_text!r} is not a number", param="--anchor") from None
    if not math.isfinite(size) or size <= 0:
        raise UsageError(f"{text!r}: the radius/width must be > 0", param="--anchor")
    groups = tuple(tuple(k.strip() for k in group.split("+") if k.strip()) for group in points_text.split(","))
    want = 1 if kind == "disc" else 2
    if len(groups) != want or not all(groups):
        raise UsageError(f"{text!r}: {kind} needs {want} keypoint{'s' if want > 1 else ''}", param="--anchor")
    return Region(name=name, kind="adisc" if kind == "disc" else "segment", points=groups, size=size)


def _check_unique(names: Sequence[str], where: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise UsageError(f"region name {name!r} is used twice", param=where)
        seen.add(name)


# ---- the stage -------------------------------------------------------------------------------


@dataclass
class RoiResult:
    """What ``run_roi`` computed (also written to the output folder)."""

    columns: list[str]
    series: dict[str, np.ndarray]
    summaries: list[dict[str, Any]]
    respiration: list[dict[str, Any]] = field(default_factory=list)
    respiration_summary: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unit: str = ""


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
) -> RoiResult:
    """Compute the ROI series of ``source`` and write the output folder ``out``.

    ``keypoint_predictor`` (with its ``keypoint_names``) replaces the dataset's keypoints for
    anchored regions (see ``model_keypoint_predictor``); ``warn`` receives each warning as it
    happens (they are also returned and stored in ``summary.json``).
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
        _check_columns(config.regions, reader.column_names, where)
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
        for batch_start, batch in _batches(reader, config.batch_size, track):
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
                    if mask is None:
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


def _check_columns(regions: Sequence[Region], available: Sequence[str], where: str) -> None:
    for region in regions:
        flat = region.values if region.kind != "polygon" else tuple(v for p in region.values for v in p)
        for value in flat:
            if isinstance(value, str) and _column_ref(value)[0] not in available:
                known = ", ".join(available) or "none"
                raise DataError(f"region {region.name!r} names column {value!r}, which the dataset lacks (columns: {known})", path=where)


def _keypoint_index(anchors: Sequence[Region], names: Sequence[str] | None, where: str) -> dict[str, int]:
    import difflib

    if not names:
        raise DataError("has no keypoint names, so --anchor cannot find its keypoints", path=where)
    index = {name: i for i, name in enumerate(names)}
    for region in anchors:
        for group in region.points:
            for name in group:
                if name not in index:
                    close = difflib.get_close_matches(name, list(names), n=2)
                    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names)}"
                    raise UsageError(f"keypoint {name!r} of region {region.name!r} is not among the keypoints of {where}{hint}", param="--anchor")
    return index


def _check_fixed_regions(regions: Sequence[Region], height: int, width: int, where: str, note) -> None:
    """A fixed region wholly outside the frame is an error; one partly outside is clipped."""
    for region in regions:
        if region.kind not in SHAPES or any(isinstance(v, str) for v in _flat(region)):
            continue
        mask = _shape_mask(region.kind, region.values, (height, width), region.offset)
        if not mask.any():
            raise DataError(f"region {region.name!r} lies outside the {width}×{height} frame (or has no area)", path=where)
        dx, dy = region.offset
        full = _shape_mask(region.kind, region.values, (height * 3, width * 3), offset=(width + dx, height + dy))
        if full.sum() > mask.sum():
            note(f"region {region.name}: partly outside the {width}×{height} frame; clipped to {int(mask.sum())} px")


def _flat(region: Region) -> tuple:
    return region.values if region.kind != "polygon" else tuple(v for p in region.values for v in p)


def _shape_mask(kind: str, values: Sequence, shape: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    dx, dy = offset
    if kind == "box":
        x, y, w, h = values
        return box_mask(shape, (x + dx, y + dy, w, h))
    if kind == "disc":
        cx, cy, r = values
        return disc_mask(shape, (cx + dx, cy + dy), r)
    return polygon_mask(shape, [[x + dx, y + dy] for x, y in values])


def _region_mask(region: Region, shape, batch, j: int, keypoints, keypoint_index, person: int) -> np.ndarray | None:
    """The region's mask in frame j of the batch, or None when its anchor keypoints are absent."""
    if region.kind == "band":
        return np.ones(shape, bool)
    if region.kind in SHAPES:
        if region.kind == "polygon":
            values = [[_resolve(v, batch, j) for v in p] for p in region.values]
        else:
            values = [_resolve(v, batch, j) for v in region.values]
        return _shape_mask(region.kind, values, shape, region.offset)
    if person >= keypoints.shape[1]:
        return None
    points = []
    for group in region.points:
        rows = keypoints[j, person, [keypoint_index[name] for name in group]]
        if not np.all(np.isfinite(rows)) or np.any(rows[:, 2] <= 0):
            return None
        points.append(rows[:, :2].mean(axis=0))
    if region.kind == "adisc":
        return disc_mask(shape, points[0], region.size)
    return segment_mask(shape, points[0], points[1], region.size)


_COLUMN_ITEM = re.compile(r"^(.+)\[(\d+)\]$")


def _column_ref(value: str) -> tuple[str, int]:
    """``"roi_x"`` → ("roi_x", 0); ``"airway_xy[1]"`` → ("airway_xy", 1)."""
    match = _COLUMN_ITEM.match(value)
    return (match.group(1), int(match.group(2))) if match else (value, 0)


def _resolve(value, batch, j: int) -> float:
    if isinstance(value, str):
        name, item = _column_ref(value)
        row = np.asarray(batch.columns[name][j], dtype=np.float64).reshape(-1)
        return float(row[item]) if item < row.size else math.nan
    return float(value)


def _timeline(reader, config: RoiConfig, where: str) -> tuple[np.ndarray, list[str], list[str]]:
    n = reader.n
    if config.fps is not None:
        times = np.arange(n, dtype=np.float64) / config.fps
    elif "timestamp" in reader.fields:
        times = reader.read_field("timestamp").astype(np.float64)
    elif reader.meta.attrs.get("fps"):
        times = np.arange(n, dtype=np.float64) / float(reader.meta.attrs["fps"])
    else:
        raise DataError("has no timestamps; pass --fps", path=where)
    subjects = [str(s) for s in reader.read_field("subject")] if "subject" in reader.fields else ["-"] * n
    if config.by == "none":
        recordings = ["all"] * n
    elif config.by in reader.fields:
        recordings = [str(s) for s in reader.read_field(config.by)]
    else:
        recordings = ["all"] * n
    return times, recordings, subjects


def _reference_column(reader, breathing: BreathingConfig | None, where: str) -> tuple[str, np.ndarray] | None:
    if breathing is None or breathing.reference is None:
        return None
    kind, _, column = breathing.reference.partition(":")
    column = column.removeprefix("columns/")
    if kind not in ("rate", "flow") or not column:
        raise UsageError(f"{breathing.reference!r}: expected rate:COLUMN or flow:COLUMN", param="--reference")
    if column not in reader.column_names:
        raise DataError(f"has no column {column!r} for --reference (columns: {', '.join(reader.column_names) or 'none'})", path=where)
    return kind, np.asarray(reader.read_field(f"columns/{column}"), dtype=np.float64).reshape(reader.n, -1)[:, 0]


def _sampling_rate(times: np.ndarray) -> float:
    steps = np.diff(times)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(1.0 / np.median(steps)) if len(steps) else math.nan


def _smooth_by_recording(values: np.ndarray, times: np.ndarray, runs, method: str, seconds: float) -> np.ndarray:
    out = values.copy()
    for _, lo, hi in runs:
        fs = _sampling_rate(times[lo:hi])
        window = max(1, int(round(seconds * fs))) if math.isfinite(fs) else 1
        out[lo:hi] = smooth(values[lo:hi], method, window)
    return out


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    ok = (truth >= 0) & (predicted >= 0)
    if not ok.any():
        return math.nan
    truth, predicted = truth[ok], predicted[ok]
    recalls = [float(np.mean(predicted[truth == c] == c)) for c in np.unique(truth)]
    return float(np.mean(recalls))


def _respiration(result: RoiResult, config: RoiConfig, regions, runs, times, labels, reference, note) -> None:
    breathing = config.breathing
    names = [r.name for r in regions] if breathing.region is None else [breathing.region]
    for name in names:
        if f"{name}.mean" not in result.series:
            raise UsageError(f"no region named {name!r} (regions: {', '.join(r.name for r in regions)})", param="--breath-region")
    n = len(times)
    for name in names:
        mean = result.series[f"{name}.mean"]
        filtered_all = np.full(n, np.nan)
        phase_all = np.full(n, -1, np.int64)
        for key, lo, hi in runs:
            fs = _sampling_rate(times[lo:hi])
            row: dict[str, Any] = {"recording": key, "subject": result.series["subject"][lo], "region": name, "method": breathing.method}
            segment = mean[lo:hi]
            usable = math.isfinite(fs) and np.isfinite(segment).sum() >= 4
            band = _analysis_band(breathing.band, fs) if usable else (breathing.band or resp.DEFAULT_BAND)
            if breathing.band is None and band != resp.DEFAULT_BAND:
                if band[1] <= band[0]:
                    raise UsageError(f"recording {key} is sampled at {fs:g} Hz, too slow for the breathing band", param="--breath-band")
                note(f"recording {key} at {fs:g} fps: breathing band lowered to {band[0]:g}–{band[1]:.3g} Hz (Nyquist {fs / 2:g} Hz)")
            if usable and band[1] >= fs / 2:
                raise UsageError(f"the breathing band reaches the Nyquist frequency {fs / 2:g} Hz of recording {key}", param="--breath-band")
            row["band_hz"] = [float(band[0]), float(band[1])]
            duration = (hi - lo) / fs if math.isfinite(fs) else 0.0
            if not usable:
                note(f"recording {key} region {name}: too few valid samples for respiration (NaN)")
                windows = resp.RateWindows(*(np.zeros(0) for _ in range(4)))
            else:
                filtered = resp.bandpass(segment, fs, band)
                filtered_all[lo:hi] = filtered
                phase_all[lo:hi] = resp.phase(filtered, fs, method=breathing.phase_method)
                phase_all[lo:hi][~np.isfinite(segment)] = -1
                windows = resp.sliding_rate(
                    filtered, fs, window_s=breathing.window_s, step_s=breathing.step_s, method=breathing.method, band=band
                )
                if len(windows) == 0:
                    note(f"recording {key} ({duration:.1f} s) is shorter than one {breathing.window_s:g} s analysis window; its rate is NaN")
            with np.errstate(invalid="ignore"):
                accepted = np.isfinite(windows.rate_bpm) & (np.nan_to_num(windows.quality, nan=-1.0) >= breathing.min_quality)
            ref_rates = []
            for w in range(len(windows)):
                a = lo + int(round(windows.start_s[w] * fs))
                b = lo + int(round(windows.stop_s[w] * fs))
                ref = _reference_rate(reference, a, b, fs, breathing) if reference is not None else math.nan
                ref_rates.append(ref)
                result.respiration.append({
                    "recording": key, "subject": row["subject"], "region": name, "method": breathing.method,
                    "start_s": float(times[lo] + windows.start_s[w]), "stop_s": float(times[lo] + windows.stop_s[w]),
                    "rate_bpm": float(windows.rate_bpm[w]), "quality": float(windows.quality[w]),
                    "accepted": int(bool(accepted[w])),
                    **({"reference_bpm": ref} if reference is not None else {}),
                })
            if len(windows) == 0:
                result.respiration.append({
                    "recording": key, "subject": row["subject"], "region": name, "method": breathing.method,
                    "start_s": float(times[lo]), "stop_s": float(times[hi - 1]), "rate_bpm": math.nan, "quality": math.nan,
                    "accepted": 0, **({"reference_bpm": math.nan} if reference is not None else {}),
                })
            rates = windows.rate_bpm[accepted]
            rejected = int(np.sum(np.isfinite(windows.rate_bpm) & ~accepted))
            if rejected:
                note(f"recording {key} region {name}: {rejected} of {len(windows)} windows below --min-quality {breathing.min_quality:g}")
            row.update(
                duration_s=float(duration),
                n_windows=int(len(windows)),
                n_rejected=rejected,
                rate_bpm=float(np.median(rates)) if len(rates) else math.nan,
                quality=float(np.nanmean(windows.quality)) if len(windows) and np.isfinite(windows.quality).any() else math.nan,
            )
            if reference is not None:
                refs = np.asarray(ref_rates, dtype=np.float64)
                both = np.isfinite(refs) & accepted
                row["reference_bpm"] = float(np.median(refs[np.isfinite(refs)])) if np.isfinite(refs).any() else math.nan
                row["abs_error_bpm"] = float(np.mean(np.abs(refs[both] - windows.rate_bpm[both]))) if both.any() else math.nan
            truth = _phase_truth(labels, reference, lo, hi)
            if truth is not None:
                row["phase_balanced_accuracy"] = _balanced_accuracy(truth, phase_all[lo:hi])
            result.respiration_summary.append(row)
        result.series[f"{name}.breath_signal"] = filtered_all
        result.series[f"{name}.phase"] = phase_all
        result.columns += [f"{name}.breath_signal", f"{name}.phase"]
        if labels is not None or (reference is not None and reference[0] == "flow"):
            truth_all = _phase_truth(labels, reference, 0, n)
            result.respiration_summary.append({
                "recording": "ALL", "region": name, "method": breathing.method,
                "phase_method": breathing.phase_method,
                "phase_balanced_accuracy": _balanced_accuracy(truth_all, phase_all),
                **_overall_error(result.respiration_summary, name),
            })
        elif reference is not None:
            result.respiration_summary.append({"recording": "ALL", "region": name, "method": breathing.method, **_overall_error(result.respiration_summary, name)})


def _analysis_band(band: tuple[float, float] | None, fs: float) -> tuple[float, float]:
    """``None`` is the default band, whose upper edge (90 bpm) is physiology, not a demand on the
    camera: below 3.33 fps it is lowered to 0.45 × the frame rate (just under Nyquist). A band
    given by the user is used as given (and refused when it reaches Nyquist)."""
    if band is not None:
        return band
    low, high = resp.DEFAULT_BAND
    return (low, 0.45 * fs) if high >= 0.45 * fs else (low, high)


def _overall_error(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    errors = [r["abs_error_bpm"] for r in rows if r.get("region") == name and r.get("recording") != "ALL" and "abs_error_bpm" in r]
    errors = [e for e in errors if math.isfinite(e)]
    if not errors:
        return {}
    return {"rate_mae_bpm": float(np.mean(errors)), "n_recordings_compared": len(errors)}


def _reference_rate(reference, a: int, b: int, fs: float, breathing: BreathingConfig) -> float:
    kind, column = reference
    segment = column[a:b]
    if kind == "rate":
        finite = segment[np.isfinite(segment)]
        return float(finite.mean()) if finite.size else math.nan
    # a spirometer flow: breaths counted from the zero crossings of the detrended flow, with
    # hysteresis and a minimum cycle duration (independent of the thermal estimator's band/method)
    if np.isfinite(segment).sum() < 4:
        return math.nan
    return resp.flow_rate(segment, fs)


def _phase_truth(labels, reference, lo: int, hi: int) -> np.ndarray | None:
    if labels is not None:
        return labels[lo:hi]
    if reference is not None and reference[0] == "flow":
        flow = reference[1][lo:hi]
        truth = np.full(hi - lo, -1, np.int64)
        ok = np.isfinite(flow)
        zero = resp.zero_level(flow)
        truth[ok] = np.where(flow[ok] > zero, resp.EXH, resp.INH)
        return truth
    return None


# ---- writing ---------------------------------------------------------------------------------


def _csv_text(rows: list[dict[str, Any]], fieldnames: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, "")) for k in fieldnames})
    return buffer.getvalue()


def _fmt(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return "nan" if not math.isfinite(value) else repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write(out: Path, result: RoiResult, config: RoiConfig, meta, provenance: dict[str, Any], *, force: bool) -> None:
    import h5py

    from thermcli.io import atomic_path

    n = len(result.series["frame"])
    with atomic_path(out, force=force, directory=True) as tmp:
        # row by row: a 46-minute recording at 30 fps is 80,000 rows × tens of columns
        with open(tmp / "series.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(result.columns)
            arrays = [result.series[c] for c in result.columns]
            for i in range(n):
                writer.writerow([_fmt(a[i]) for a in arrays])
        with h5py.File(tmp / "series.h5", "w") as fh:
            fh.attrs["schema"] = SERIES_SCHEMA
            fh.attrs["schema_version"] = 1
            fh.attrs["unit"] = result.unit
            fh.attrs["provenance"] = json.dumps(provenance)
            for column in result.columns:
                values = result.series[column]
                if values.dtype == object:
                    fh.create_dataset(column, data=[str(v) for v in values], dtype=h5py.string_dtype("utf-8"))
                else:
                    fh.create_dataset(column, data=values)
        summary_fields = ["session", "recording", "subject", "region", "stat", "unit"] + [
            k for k in result.summaries[0] if k not in ("session", "recording", "subject", "region", "stat", "unit")
        ] if result.summaries else []
        (tmp / "summary.csv").write_text(_csv_text(result.summaries, summary_fields))
        doc: dict[str, Any] = {
            "unit": result.unit,
            "config": config.to_json(),
            "summaries": result.summaries,
            "warnings": result.warnings,
            "provenance": provenance,
        }
        if config.breathing is not None:
            fields = ["recording", "subject", "region", "method", "start_s", "stop_s", "rate_bpm", "quality", "accepted"]
            if config.breathing.reference is not None:
                fields.append("reference_bpm")
            (tmp / "respiration.csv").write_text(_csv_text(result.respiration, fields))
            doc["respiration"] = result.respiration_summary
        (tmp / "summary.json").write_text(json.dumps(_json_safe(doc), indent=2) + "\n")
        if config.plots:
            plots = tmp / "plots"
            plots.mkdir()
            _plot(plots, result, config)


def _plot(folder: Path, result: RoiResult, config: RoiConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = sorted({c.split(".")[0] for c in result.columns if c.endswith(".mean")})
    runs = recording_bounds(list(result.series["recording"]))
    unit = {"celsius": "°C", "kelvin": "K"}.get(result.unit, result.unit)
    for name in regions:
        breathing = f"{name}.breath_signal" in result.series
        fig, axes = plt.subplots(2 if breathing else 1, 1, figsize=(8, 5 if breathing else 3), squeeze=False)
        ax = axes[0, 0]
        shown = runs[:12]
        for key, lo, hi in shown:
            t = result.series["time_s"][lo:hi] - result.series["time_s"][lo]
            ax.plot(t, result.series[f"{name}.mean"][lo:hi], lw=1, label=key)
        ax.set_title(f"{name}: mean {config.smooth if config.smooth != 'none' else ''}".strip())
        ax.set_xlabel("time in recording (s)")
        ax.set_ylabel(f"mean ({unit})")
        if 1 < len(shown) <= 8:
            ax.legend(fontsize=7, ncol=2)
        if breathing:
            key, lo, hi = runs[0]
            t = result.series["time_s"][lo:hi] - result.series["time_s"][lo]
            x = result.series[f"{name}.breath_signal"][lo:hi]
            bx = axes[1, 0]
            bx.plot(t, x, lw=1, color="tab:red")
            if np.isfinite(x).sum() > 3:
                fs = _sampling_rate(result.series["time_s"][lo:hi])
                band = _analysis_band(config.breathing.band, fs)
                if config.breathing.method == "auto":
                    peaks = resp.adaptive_breaths(np.nan_to_num(x), fs, band)
                else:
                    peaks = resp.breath_peaks(np.nan_to_num(x), fs, band)
                bx.plot(t[peaks], x[peaks], "v", color="k", label="breaths")
                bx.legend(fontsize=7)
            bx.set_title(f"{name}: band-passed breathing signal, recording {key}")
            bx.set_xlabel("time in recording (s)")
        fig.tight_layout()
        fig.savefig(folder / f"{_safe(name)}.png", dpi=80)
        plt.close(fig)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


# ---- keypoints from a model ----------------------------------------------------------------------

# The keypoint pipeline's inference (issue 7): "module:function", called as
# function(model_path, data_path, device=..., batch_size=...) → (keypoints (N, P, K, 3) in frame
# pixels, scores, people, model config) — a top-down model run on the dataset's person boxes.
KEYPOINT_INFERENCE = "thermcli.stages.predict_keypoints:predict_arrays"


def model_keypoint_predictor(
    model_path: str | Path, data_path: str | Path, *, device: str = "auto", batch_size: int = 64
) -> tuple[KeypointPredictor, list[str]]:
    """A keypoint predictor for ``run_roi`` from a thermcli keypoint checkpoint, and its names.

    The one boundary between ``roi`` and the keypoint models: the model runs once over the
    dataset through ``KEYPOINT_INFERENCE`` (streamed by the keypoint pipeline; the result is
    N × P × K × 3 floats), and the predictor hands ``run_roi`` each batch's rows. A build without
    the keypoint pipeline fails here with a one-line error.
    """
    import importlib

    from thermcli.device import resolve_device
    from thermcli.io import COCO_KEYPOINT_NAMES, open_dataset

    module_name, function_name = KEYPOINT_INFERENCE.split(":")
    try:
        infer = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError):
        raise UsageError(
            f"keypoint model inference ({KEYPOINT_INFERENCE}) is not part of this build; use keypoints stored in the dataset",
            param="--model",
        ) from None
    keypoints, _, _, model_config = infer(Path(model_path), Path(data_path), device=resolve_device(device), batch_size=batch_size)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    with open_dataset(data_path) as reader:
        n, dataset_names = reader.n, reader.meta.keypoint_names
    if keypoints.ndim != 4 or keypoints.shape[0] != n:
        raise DataError(f"the keypoint model returned shape {keypoints.shape} for {n} frames", path=str(model_path))
    names = list((model_config or {}).get("keypoint_names") or dataset_names or COCO_KEYPOINT_NAMES)

    def predict(batch, start: int) -> np.ndarray:
        return keypoints[start : start + len(batch)]

    return predict, names
