"""Time synchronisation of the thermal and RGB streams: rows paired by timestamp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermcli.errors import DataError


# ---- time synchronisation --------------------------------------------------------------------


@dataclass
class SyncReport:
    pairs: np.ndarray  # (K, 2) thermal row, rgb row
    skew: np.ndarray
    offset: float
    dropped_thermal: int
    dropped_rgb: int


def synchronise(thermal_reader, rgb_reader, *, max_skew: float, clock_offset: float | str = 0.0) -> SyncReport:
    """Pair thermal and RGB rows by timestamp (within the same sequence when both carry sequence
    ids). Without timestamps, rows pair one to one (equal counts required)."""
    from thermcli.ops.sync import estimate_offset, match_timestamps

    has_ts = "timestamp" in thermal_reader.fields and "timestamp" in rgb_reader.fields
    if not has_ts:
        if thermal_reader.n != rgb_reader.n:
            raise DataError(f"without timestamps the streams must have equal lengths ({thermal_reader.n} thermal "
                            f"vs {rgb_reader.n} RGB frames)", path=str(rgb_reader.path))
        rows = np.arange(thermal_reader.n)
        return SyncReport(np.stack([rows, rows], axis=1), np.zeros(len(rows)), 0.0, 0, 0)
    t_thermal = thermal_reader.read_field("timestamp")
    t_rgb = rgb_reader.read_field("timestamp")
    groups = (None, None)
    if "sequence" in thermal_reader.fields and "sequence" in rgb_reader.fields:
        groups = (thermal_reader.read_field("sequence"), rgb_reader.read_field("sequence"))
    if clock_offset == "auto":
        offset = estimate_offset(t_thermal, t_rgb, max_skew=max_skew, groups_a=groups[0], groups_b=groups[1])
    else:
        offset = float(clock_offset)
    result = match_timestamps(t_thermal, t_rgb, max_skew=max_skew, offset=offset, groups_a=groups[0], groups_b=groups[1])
    if len(result.pairs) == 0:
        raise DataError(
            f"the streams never overlap in time within --max-skew {max_skew * 1000:g} ms (clock offset {offset:g} s): "
            f"thermal {t_thermal.min():.3f}–{t_thermal.max():.3f} s, RGB {t_rgb.min():.3f}–{t_rgb.max():.3f} s",
            path=str(rgb_reader.path),
        )
    return SyncReport(result.pairs, result.skew, offset, len(result.unmatched_a), len(result.unmatched_b))
