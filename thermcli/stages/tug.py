"""``thermcli tug``: the Timed-Up-and-Go of every sequence of a keypoints dataset (ground truth or
``predict`` output): ``tug.csv`` (one row per sequence), ``tug.json`` (the same plus per-boundary
confidences, gait measures and the settings) and ``plots/SEQUENCE.png``, written atomically as one
folder. The analysis itself is :mod:`thermcli.ops.tug`."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.ops import tug as T

COLUMNS = (["sequence", "subject", "found", "reason", "direction", "frames", "total_s", "total_confidence"]
           + [f"{b}_s" for b in T.BOUNDARIES] + [f"{b}_confidence" for b in T.BOUNDARIES]
           + [f"{p}_duration_s" for p in T.PHASES]
           + ["walking_speed_px_s", "walking_speed_m_s", "walking_speed_confidence", "steps", "cadence_steps_min",
              "steps_confidence"])
PHASE_COLOURS = {"stand_up": "tab:orange", "walk_out": "tab:green", "turn": "tab:purple", "walk_back": "tab:cyan",
                 "turn_and_sit": "tab:red"}


def load_tracks(path: Path, *, person: int = 0) -> tuple[list[dict[str, Any]], Any]:
    """Per-sequence tracks of a keypoints dataset: dicts with sequence, subject, t, keypoints
    (N, K, 3) and labels (N,) or None; and the dataset's meta."""
    from thermcli.io import read_dataset

    ds = read_dataset(path)
    if ds.keypoints is None:
        raise DataError("has no keypoints: give a keypoints dataset or the output of `thermcli predict`", path=str(path))
    kp = np.asarray(ds.keypoints, np.float64)
    if kp.ndim != 4 or kp.shape[2] < 17 or kp.shape[3] < 3:
        raise DataError(f"keypoints must be (frames, people, 17, 3) COCO keypoints, got {kp.shape}", path=str(path))
    if not 0 <= person < kp.shape[1]:
        raise UsageError(f"person {person} is not in the dataset (it holds {kp.shape[1]} per frame)", param="--person")
    if ds.timestamp is None:
        raise DataError("has no timestamps: the TUG needs the time of each frame", path=str(path))
    t = np.asarray(ds.timestamp, np.float64)
    sequences = np.asarray(ds.sequence if ds.sequence is not None else ["all"] * len(t), dtype=object)
    subjects = np.asarray(ds.subject if ds.subject is not None else [""] * len(t), dtype=object)
    labels = None
    names = list(ds.meta.class_names or [])
    if ds.labels is not None and np.asarray(ds.labels).ndim == 1 and "stand_up" in names:
        labels = np.array([names[i] if 0 <= i < len(names) else "" for i in np.asarray(ds.labels, int)], dtype=object)
    tracks = []
    for key in dict.fromkeys(sequences.tolist()):
        sel = np.flatnonzero(sequences == key)
        sel = sel[np.argsort(t[sel], kind="stable")]
        tracks.append({"sequence": str(key), "subject": str(subjects[sel[0]]), "t": t[sel],
                       "keypoints": kp[sel, person, :17, :3], "labels": None if labels is None else labels[sel]})
    return tracks, ds.meta


def analyse(path: Path, *, min_score: float, pixel_size: float | None, min_rise: float,
            person: int = 0) -> list[dict[str, Any]]:
    """One entry per sequence: ``{"sequence", "subject", "frames", "result": TugResult}``."""
    if pixel_size is not None and not (pixel_size > 0 and math.isfinite(pixel_size)):
        raise UsageError(f"must be a positive number of metres per pixel, got {pixel_size:g}", param="--pixel-size")
    if not 0 <= min_score < 1:
        raise UsageError(f"must be in [0, 1), got {min_score:g}", param="--min-score")
    if not min_rise > 0:
        raise UsageError(f"must be positive, got {min_rise:g}", param="--min-rise")
    tracks, _ = load_tracks(path, person=person)
    out = []
    for track in tracks:
        result = T.analyse_track(track["t"], track["keypoints"], min_score=min_score, pixel_size=pixel_size,
                                 min_rise=min_rise)
        out.append({"sequence": track["sequence"], "subject": track["subject"], "frames": len(track["t"]),
                    "result": result})
    return out


def rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for entry in entries:
        r: T.TugResult = entry["result"]
        row = {"sequence": entry["sequence"], "subject": entry["subject"], "found": r.found, "reason": r.reason,
               "direction": r.direction or "", "frames": entry["frames"], "total_s": r.total_s,
               "total_confidence": r.total_confidence}
        for b in T.BOUNDARIES:
            row[f"{b}_s"] = r.boundaries.get(b)
            row[f"{b}_confidence"] = r.confidence.get(b)
        for p in T.PHASES:
            row[f"{p}_duration_s"] = r.durations.get(p)
        for key in ("walking_speed_px_s", "walking_speed_m_s", "walking_speed_confidence", "steps",
                    "cadence_steps_min", "steps_confidence"):
            row[key] = r.gait.get(key)
        table.append(row)
    return table


def _csv_text(table: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return buffer.getvalue()


def run_tug(source: Path, out: Path, *, min_score: float = 0.0, pixel_size: float | None = None,
            min_rise: float = 0.35, person: int = 0, plots: bool = True, force: bool = False,
            provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyse ``source`` and write ``out``/ (tug.csv, tug.json, plots/). Returns the JSON document."""
    from thermcli.io import atomic_path
    from thermcli.io.jsonable import jsonable

    entries = analyse(source, min_score=min_score, pixel_size=pixel_size, min_rise=min_rise, person=person)
    table = rows(entries)
    found = [e["result"] for e in entries if e["result"].found]
    doc = {
        "source": str(source),
        "settings": {"min_score": min_score, "pixel_size_m": pixel_size, "min_rise": min_rise, "person": person},
        "sequences": [{"sequence": e["sequence"], "subject": e["subject"], "frames": e["frames"],
                       **e["result"].as_dict()} for e in entries],
        "summary": {"sequences": len(entries), "found": len(found),
                    "mean_total_s": float(np.mean([r.total_s for r in found])) if found else None},
        "provenance": provenance or {},
    }
    with atomic_path(out, force=force, directory=True) as tmp:
        (tmp / "tug.csv").write_text(_csv_text(table))
        (tmp / "tug.json").write_text(json.dumps(jsonable(doc), indent=2) + "\n")
        if plots:
            (tmp / "plots").mkdir()
            for entry in entries:
                plot_sequence(tmp / "plots" / f"{_safe(entry['sequence'])}.png", entry["sequence"], entry["result"])
    return doc


def plot_sequence(path: Path, name: str, result: T.TugResult, truth: dict[str, float] | None = None) -> None:
    """Hip height and horizontal position over time, the phases found shaded (dashed lines: the
    true boundaries when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.signals
    t = s["t"] - (s["t"][0] if len(s["t"]) else 0.0)
    t0 = s["t"][0] if len(s["t"]) else 0.0
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.2), sharex=True)
    axes[0].plot(t, s["hip_height"], "o-", ms=3, lw=1, color="k")
    axes[0].set_ylabel("hip height\n(torso lengths)")
    axes[1].plot(t, s["x"], "o-", ms=3, lw=1, color="k")
    axes[1].set_ylabel("hip x (px)")
    axes[1].set_xlabel("time in sequence (s)")
    if result.found:
        times = [result.boundaries[b] - t0 for b in T.BOUNDARIES]
        for k, phase in enumerate(T.PHASES):
            for ax in axes:
                ax.axvspan(times[k], times[k + 1], color=PHASE_COLOURS[phase], alpha=0.25,
                           label=phase.replace("_", " ") if ax is axes[0] else None)
        axes[0].legend(fontsize=7, ncol=5, loc="lower center")
        title = f"{name}: TUG {result.total_s:.2f} s ({result.direction})"
    else:
        title = f"{name}: not found — {result.reason}"
    if truth:
        for ax in axes:
            for value in truth.values():
                ax.axvline(value - t0, color="k", ls="--", lw=0.8)
    axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name) or "sequence"
