"""``roi``'s output folder: ``series.csv`` / ``series.h5``, ``summary.csv`` / ``summary.json``,
``respiration.csv`` and ``plots/REGION.png``, written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.io.jsonable import jsonable
from thermcli.ops import respiration as resp
from thermcli.ops.series import recording_bounds
from thermcli.stages.roi.config import SERIES_SCHEMA, RoiConfig, RoiResult
from thermcli.stages.roi.respiration import _analysis_band
from thermcli.stages.roi.timeline import _sampling_rate


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
        (tmp / "summary.json").write_text(json.dumps(jsonable(doc), indent=2) + "\n")
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
