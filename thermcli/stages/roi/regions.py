"""``roi``'s regions in each frame: checks against the dataset and the frame, fixed shapes,
per-frame column values and keypoint anchors turned into masks."""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops.roi import box_mask, disc_mask, polygon_mask, segment_mask
from thermcli.stages.roi.config import SHAPES, Region


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
