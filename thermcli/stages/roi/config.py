"""``roi``'s configuration (bands, regions, breathing, the whole run), the parsing of region
sources (``regions.json``, ``--anchor``) and the result ``run_roi`` returns."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from thermcli.errors import DataError, UsageError

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


# ---- the result ------------------------------------------------------------------------------


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
