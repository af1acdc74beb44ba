"""Timed-Up-and-Go against labelled phases (``thermcli eval SOURCE DATA --metric tug``).

SOURCE: a ``thermcli tug`` output folder (or its ``tug.json``), a keypoints model, a predictions
dataset or any keypoints dataset (analysed with :mod:`thermcli.ops.tug`). DATA: a dataset whose
per-frame labels name the TUG phases (``sit``, ``stand_up``, ``walk_out``, ``turn``, ``walk_back``,
``turn_and_sit``, as ``thermcli synth tug`` writes) with timestamps and sequence ids.

A true boundary is the midpoint between the last frame before it and the first frame after it (so
labels resolve it to ± half a frame interval, reported as ``label_resolution_s``). Errors are
absolute, in seconds: the total time (start of sit-to-stand to the end of turn-and-sit) and each
boundary; a sequence the analysis did not find counts in ``not_found`` and not in the means.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.ops.tug import BOUNDARIES, analyse_track

FAMILY = "tug"
METRICS = ("tug",)
LABEL_ORDER = ["sit", "stand_up", "walk_out", "turn", "walk_back", "turn_and_sit"]


def true_boundaries(t: np.ndarray, labels: list[str]) -> tuple[dict[str, float | None], float]:
    """Boundaries (seconds) from per-frame phase names, and the mean half-gap around them."""
    order = np.array([LABEL_ORDER.index(name) if name in LABEL_ORDER else -1 for name in labels])
    started = np.maximum.accumulate(np.where(order > 0, 1, 0)) > 0
    order = np.where((order == 0) & started, len(LABEL_ORDER), order)  # the final sit
    out: dict[str, float | None] = {}
    gaps = []
    for k, name in enumerate(BOUNDARIES, start=1):
        before = t[(order >= 0) & (order < k)]
        after = t[order >= k]
        if len(before) == 0 or len(after) == 0 or before.max() > after.min():
            out[name] = None
            continue
        out[name] = float((before.max() + after.min()) / 2)
        gaps.append((after.min() - before.max()) / 2)
    return out, float(np.mean(gaps)) if gaps else float("nan")


def _estimates(context) -> dict[str, dict[str, Any]]:
    """sequence → {"found", "boundaries"} from SOURCE."""
    from thermcli.errors import DataError

    source = Path(context.source)
    doc_path = source / "tug.json" if source.is_dir() else source
    if doc_path.suffix.lower() == ".json":
        if not doc_path.is_file():
            raise DataError("is not a `thermcli tug` output (no tug.json)", path=str(source))
        try:
            doc = json.loads(doc_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"unreadable tug results: {exc}", path=str(doc_path)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("sequences"), list):
            raise DataError("is not a `thermcli tug` tug.json (no sequences list)", path=str(doc_path))
        return {str(s.get("sequence")): s for s in doc["sequences"] if isinstance(s, dict)}
    if context.is_model:
        ds = context.predictions
    else:
        from thermcli.io import read_dataset

        ds = read_dataset(source)
    if ds.keypoints is None or ds.timestamp is None:
        raise DataError("has no keypoints with timestamps to analyse", path=str(source))
    seqs = np.asarray(ds.sequence if ds.sequence is not None else ["all"] * len(ds.timestamp), dtype=object)
    t = np.asarray(ds.timestamp, np.float64)
    out = {}
    for key in dict.fromkeys(seqs.tolist()):
        sel = np.flatnonzero(seqs == key)
        result = analyse_track(t[sel], np.asarray(ds.keypoints)[sel, 0, :17, :3])
        out[str(key)] = {"found": result.found, "reason": result.reason, "boundaries": result.boundaries}
    return out


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    from thermcli.errors import DataError

    truth_ds = context.ground_truth
    names = list(truth_ds.meta.class_names or [])
    if truth_ds.labels is None or "stand_up" not in names or truth_ds.timestamp is None:
        raise DataError("has no TUG phase labels with timestamps (class names sit, stand_up, walk_out, ...)",
                        path=str(context.data))
    labels = [names[i] if 0 <= i < len(names) else "" for i in np.asarray(truth_ds.labels, int)]
    seqs = np.asarray(truth_ds.sequence if truth_ds.sequence is not None else ["all"] * len(labels), dtype=object)
    t = np.asarray(truth_ds.timestamp, np.float64)
    estimates = _estimates(context)
    rows, totals, per = [], [], {b: [] for b in BOUNDARIES}
    resolutions = []
    not_found = missing = 0
    for key in dict.fromkeys(seqs.tolist()):
        sel = np.flatnonzero(seqs == key)
        sel = sel[np.argsort(t[sel], kind="stable")]
        truth, resolution = true_boundaries(t[sel], [labels[i] for i in sel])
        resolutions.append(resolution)
        est = estimates.get(str(key))
        if est is None:
            missing += 1
            continue
        if not est.get("found"):
            not_found += 1
            rows.append({"sequence": str(key), "found": False, "reason": est.get("reason", "")})
            continue
        row: dict[str, Any] = {"sequence": str(key), "found": True}
        for b in BOUNDARIES:
            value, true = est["boundaries"].get(b), truth[b]
            row[f"{b}_error_s"] = None if value is None or true is None else abs(value - true)
            if row[f"{b}_error_s"] is not None:
                per[b].append(row[f"{b}_error_s"])
        if all(x is not None for x in (truth["start"], truth["end"], est["boundaries"].get("start"),
                                       est["boundaries"].get("end"))):
            true_total = truth["end"] - truth["start"]
            row["true_total_s"] = true_total
            row["total_s"] = est["boundaries"]["end"] - est["boundaries"]["start"]
            row["total_error_s"] = abs(row["total_s"] - true_total)
            totals.append(row["total_error_s"])
        rows.append(row)
    if missing == len(resolutions):
        raise DataError("no sequence of DATA is in SOURCE's results", path=str(context.source))
    every = [e for b in BOUNDARIES for e in per[b]]
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return {
        "sequences": len(resolutions), "evaluated": len(rows) - not_found, "not_found": not_found,
        "missing_in_source": missing,
        "total_mae_s": mean(totals), "boundary_mae_s": mean(every),
        "per_boundary_mae_s": {b: mean(per[b]) for b in BOUNDARIES},
        "label_resolution_s": mean([r for r in resolutions if math.isfinite(r)]),
        "rows": rows,
    }


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    table = Table(title=f"TUG vs labelled phases: {result['evaluated']} of {result['sequences']} sequences "
                        f"({result['not_found']} not found); labels resolve boundaries to ±{result['label_resolution_s']:.2f} s")
    table.add_column("measure")
    table.add_column("MAE (s)", justify="right")
    table.add_row("total time", f"{result['total_mae_s']:.3f}")
    table.add_row("all boundaries", f"{result['boundary_mae_s']:.3f}")
    for name, value in result["per_boundary_mae_s"].items():
        table.add_row(f"boundary {name}", f"{value:.3f}")
    return [table]
