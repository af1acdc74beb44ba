"""Summarise the respiration example: per-segment rates (thermal vs spirometer), MAE, phase
balanced accuracy, and the README figure (thermal ROI signal vs flow for one segment).

usage: python respiration_report.py OUT_DIR [--figure PNG] [--segment NN]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

RUNS = {
    "spectral-level": "spectral peak, 0.1–0.7 Hz (default), phase = level",
    "peaks-level": "breath counting, 0.1–0.7 Hz",
    "spectral-wide": "spectral peak, 0.1–1.0 Hz",
    "spectral-slope": "spectral peak, phase = slope",
    "spectral-15s": "spectral peak, 15 s windows every 2 s",
    "spectral-q05": "spectral peak, --min-quality 0.5",
}


def load(out: Path, run: str) -> dict:
    return json.loads((out / run / "summary.json").read_text())


def per_segment(doc: dict) -> dict[str, dict]:
    return {r["recording"]: r for r in doc["respiration"] if r["recording"] != "ALL"}


def report(out: Path) -> dict:
    results: dict = {"runs": {}}
    segments = None
    for run, label in RUNS.items():
        if not (out / run / "summary.json").is_file():
            continue
        doc = load(out, run)
        rows = per_segment(doc)
        segments = segments or sorted(rows)
        errors = np.array([rows[s]["abs_error_bpm"] if rows[s].get("abs_error_bpm") is not None else math.nan for s in segments])
        overall = next(r for r in doc["respiration"] if r["recording"] == "ALL")
        results["runs"][run] = {
            "label": label,
            "rate_mae_bpm": float(np.nanmean(errors)),
            "segments_rated": int(np.isfinite(errors).sum()),
            "rate_mae_bpm_without_02": float(np.nanmean(np.delete(errors, segments.index("02")))) if "02" in segments else None,
            "phase_method": overall.get("phase_method"),
            "phase_balanced_accuracy": overall.get("phase_balanced_accuracy"),
            "segments": {s: {"thermal_bpm": rows[s]["rate_bpm"], "spirometer_bpm": rows[s].get("reference_bpm"),
                             "quality": rows[s]["quality"], "phase_balanced_accuracy": rows[s].get("phase_balanced_accuracy")}
                         for s in segments},
        }
    return results


def _fmt(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}"


def print_tables(results: dict) -> None:
    runs = results["runs"]
    first = next(iter(runs.values()))
    names = list(runs)
    print("| segment | spirometer (bpm) | " + " | ".join(f"{n} (bpm)" for n in names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for s, row in first["segments"].items():
        cells = [_fmt(runs[n]['segments'][s]['thermal_bpm']) for n in names]
        print(f"| {s} | {row['spirometer_bpm']:.1f} | " + " | ".join(cells) + " |")
    print()
    print("| configuration | segments rated | rate MAE (bpm) | MAE without segment 02 | phase rule | phase balanced accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs.values():
        print(f"| {run['label']} | {run['segments_rated']} | {run['rate_mae_bpm']:.2f} | {run['rate_mae_bpm_without_02']:.2f} | "
              f"{run['phase_method']} | {run['phase_balanced_accuracy']:.3f} |")


def phase_lag(out: Path, lags=range(0, 8)) -> dict[int, float]:
    """Balanced accuracy of the level phase when the thermal phase at frame i + lag is taken as
    the prediction for frame i's INH/EXH label (the raw signal trails the flow by 1–7 frames).
    Labels are the dataset's (flow vs its zero level, pauses −1 and left out)."""
    import h5py

    with h5py.File(out / "spectral-level" / "series.h5") as fh:
        recording = fh["recording"].asstr()[...]
        phase = fh["mouth.phase"][...]
    with h5py.File(out / "segments.h5") as fh:
        labels = fh["labels"][...]
    scores = {}
    for lag in lags:
        truth, predicted = [], []
        for segment in np.unique(recording):
            keep = recording == segment
            t, p = labels[keep], phase[keep]
            truth.append(t[: len(t) - lag])
            predicted.append(p[lag:])
        t, p = np.concatenate(truth), np.concatenate(predicted)
        ok = (t >= 0) & (p >= 0)
        scores[lag] = float(np.mean([np.mean(p[ok][t[ok] == c] == c) for c in (0, 1)]))
    return scores


def phase_on_segments(out: Path, run: str, segments: list[str]) -> float:
    """Pooled balanced accuracy of a run's phase on some segments (labels ≥ 0 only)."""
    import h5py

    with h5py.File(out / run / "series.h5") as fh:
        recording = fh["recording"].asstr()[...]
        phase = fh["mouth.phase"][...]
    with h5py.File(out / "segments.h5") as fh:
        labels = fh["labels"][...]
    keep = np.isin(recording, segments) & (labels >= 0) & (phase >= 0)
    t, p = labels[keep], phase[keep]
    return float(np.mean([np.mean(p[t == c] == c) for c in (0, 1)]))


def figure(out: Path, path: Path, segment: str) -> None:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thermcli.ops.respiration import DEFAULT_BAND, bandpass, breath_peaks

    with h5py.File(out / "spectral-level" / "series.h5") as fh:
        recording = fh["recording"].asstr()[...]
        keep = recording == segment
        t = fh["time_s"][...][keep]
        mean = fh["mouth.mean"][...][keep]
        signal = fh["mouth.breath_signal"][...][keep]
    with h5py.File(out / "segments.h5") as fh:
        sequence = fh["sequence"].asstr()[...]
        flow = fh["columns/flow"][...][sequence == segment].astype(np.float64)
        zero = float(fh["columns/zero_level"][...][sequence == segment][0])
    t = t - t[0]
    fs = 1.0 / np.median(np.diff(t))
    rows = per_segment(load(out, "spectral-level"))[segment]
    thermal_breaths = breath_peaks(signal, fs, DEFAULT_BAND)
    wide = (0.05, 1.5)
    flow_breaths = breath_peaks(bandpass(flow, fs, wide), fs, wide)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True)
    top.plot(t, mean, color="0.6", lw=0.8, label="ROI mean (raw, 8-bit)")
    top.set_ylabel("mouth ROI intensity")
    twin = top.twinx()
    twin.plot(t, signal, color="tab:red", lw=1.2, label="band-passed 0.1–0.7 Hz")
    twin.plot(t[thermal_breaths], signal[thermal_breaths], "v", color="k", ms=6, label="detected breaths")
    twin.set_yticks([])
    top.set_title(f"segment {segment}: thermal {rows['rate_bpm']:.1f} bpm (quality {rows['quality']:.2f}) "
                  f"vs spirometer {rows['reference_bpm']:.1f} bpm")
    handles = top.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = top.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    top.legend(handles, labels, fontsize=7, loc="upper right", ncol=3)
    bottom.plot(t, flow, color="tab:blue", lw=1.2, label="spirometer flow (min-max normalised)")
    bottom.axhline(zero, color="0.4", ls="--", lw=0.8, label=f"zero level {zero:.3f}")
    bottom.plot(t[flow_breaths], flow[flow_breaths], "v", color="k", ms=6, label="spirometer breaths")
    from thermcli.io.spirometry import PAUSE_MARGIN

    bottom.fill_between(t, zero, flow, where=flow > zero + PAUSE_MARGIN, color="tab:orange", alpha=0.25, label="EXH label")
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("flow")
    bottom.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--segment", default="01")
    # the breathing-phase example's test segments (thermcli split --by sequence --fractions
    # 0.6,0.2,0.2 --seed 0 on the same 10 segments), for a side-by-side with the trained classifier
    parser.add_argument("--test-segments", default="04,06")
    args = parser.parse_args()
    results = report(args.out)
    results["phase_balanced_accuracy_by_lag"] = phase_lag(args.out)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    test = [t.strip() for t in args.test_segments.split(",") if t.strip()]
    results["phase_balanced_accuracy_test_segments"] = {
        "segments": test, **{run: phase_on_segments(args.out, run, test) for run in ("spectral-level", "spectral-slope")}}
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nphase balanced accuracy on segments {', '.join(test)}: level "
          f"{results['phase_balanced_accuracy_test_segments']['spectral-level']:.3f}, slope "
          f"{results['phase_balanced_accuracy_test_segments']['spectral-slope']:.3f}")
    print("\nlevel phase, thermal advanced by L frames: " +
          ", ".join(f"L={lag} {ba:.3f}" for lag, ba in results["phase_balanced_accuracy_by_lag"].items()))
    if args.figure:
        figure(args.out, args.figure, args.segment)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
