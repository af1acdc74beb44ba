"""Summarise the respiration example: per-segment rates (thermal vs spirometer), MAE, phase
balanced accuracy, a check of the spirometer reference itself, and the README figure (thermal ROI
signal vs flow for one or more segments).

usage: python respiration_report.py OUT_DIR [--figure PNG] [--segment NN[,NN]] [--test-segments NN,NN]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

DEFAULT_RUN = "auto-level"
RUNS = {
    "auto-level": "adaptive (default), 0.1–1.5 Hz, phase = level",
    "spectral-level": "spectral peak, 0.1–1.5 Hz",
    "peaks-level": "peak counting, 0.1–1.5 Hz",
    "auto-band10": "adaptive, 0.1–1.0 Hz (adult band)",
    "spectral-band07": "spectral peak, 0.1–0.7 Hz (previous default)",
    "auto-slope": "adaptive, phase = slope",
    "auto-15s": "adaptive, 15 s windows every 2 s",
    "auto-q05": "adaptive, --min-quality 0.5",
}


def load(out: Path, run: str) -> dict:
    return json.loads((out / run / "summary.json").read_text())


def per_segment(doc: dict) -> dict[str, dict]:
    return {r["recording"]: r for r in doc["respiration"] if r["recording"] != "ALL"}


def spirometer_check(out: Path) -> dict[str, dict]:
    """Per segment, from the spirometer alone: the reference rate counted on the volume channel
    (the same counter as the flow's), and the flow ↔ d(volume) correlation."""
    import h5py

    from thermcli.io.spirometry import CHANNEL_AGREEMENT, flow_volume_agreement
    from thermcli.ops.respiration import flow_rate

    checks = {}
    with h5py.File(out / "segments.h5") as fh:
        sequence = fh["sequence"].asstr()[...]
        flow_all = fh["columns/flow"][...].astype(np.float64)
        volume_all = fh["columns/volume"][...].astype(np.float64)
    fs = 20.0
    for segment in sorted(set(sequence)):
        keep = sequence == segment
        flow, volume = flow_all[keep], volume_all[keep]
        r = flow_volume_agreement(flow, volume)
        checks[segment] = {"flow_volume_r": r, "volume_bpm": flow_rate(volume, fs), "flow_bpm": flow_rate(flow, fs),
                           "channels_agree": bool(r >= CHANNEL_AGREEMENT)}
    return checks


def report(out: Path) -> dict:
    from thermcli.io.spirometry import CHANNEL_AGREEMENT

    results: dict = {"runs": {}, "spirometer_check": spirometer_check(out), "channel_agreement_threshold": CHANNEL_AGREEMENT}
    agree = [s for s, c in results["spirometer_check"].items() if c["channels_agree"]]
    segments = None
    for run, label in RUNS.items():
        if not (out / run / "summary.json").is_file():
            continue
        doc = load(out, run)
        rows = per_segment(doc)
        segments = segments or sorted(rows)
        segments_here = [s for s in segments if s in rows]  # a run may have rated fewer segments
        errors = np.array([rows[s]["abs_error_bpm"] if rows[s].get("abs_error_bpm") is not None else math.nan
                           for s in segments_here], dtype=np.float64)
        rated = np.isfinite(errors)
        overall = next(r for r in doc["respiration"] if r["recording"] == "ALL")
        consistent = np.array([s in agree for s in segments_here], dtype=bool)
        without_02 = rated & (np.array(segments_here) != "02") if segments_here else rated
        results["runs"][run] = {
            "label": label,
            "rate_mae_bpm": float(errors[rated].mean()) if rated.any() else None,
            "segments_rated": int(rated.sum()),
            # segment 02's spirometer disagrees with itself (README); without it, where it is present
            "rate_mae_bpm_without_02": float(errors[without_02].mean()) if "02" in segments_here and without_02.any() else None,
            "rate_mae_bpm_channels_agree": float(errors[consistent & rated].mean()) if (consistent & rated).any() else None,
            "phase_method": overall.get("phase_method"),
            "phase_balanced_accuracy": overall.get("phase_balanced_accuracy"),
            "segments": {s: {"thermal_bpm": rows[s]["rate_bpm"], "spirometer_bpm": rows[s].get("reference_bpm"),
                             "abs_error_bpm": rows[s].get("abs_error_bpm"),
                             "quality": rows[s]["quality"], "phase_balanced_accuracy": rows[s].get("phase_balanced_accuracy")}
                         for s in segments_here},
        }
    return results


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _check(check: dict, segment: str, key: str):
    return check.get(segment, {}).get(key)


def print_tables(results: dict) -> None:
    runs = results["runs"]
    default = runs[DEFAULT_RUN]
    check = results["spirometer_check"]
    print("| segment | spirometer flow (bpm) | thermal, default (bpm) | error (bpm) | quality | spirometer volume (bpm) | flow ↔ volume r |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s, row in default["segments"].items():
        print(f"| {s} | {_fmt(row['spirometer_bpm'])} | {_fmt(row['thermal_bpm'])} | {_fmt(row['abs_error_bpm'], 2)} | "
              f"{_fmt(row['quality'], 2)} | {_fmt(_check(check, s, 'volume_bpm'))} | {_fmt(_check(check, s, 'flow_volume_r'), 2)} |")
    print()
    names = [n for n in runs if n != DEFAULT_RUN]
    print("| segment | spirometer (bpm) | " + " | ".join(f"{n} (bpm)" for n in names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for s, row in default["segments"].items():
        cells = [_fmt(runs[n]['segments'].get(s, {}).get('thermal_bpm')) for n in names]
        print(f"| {s} | {_fmt(row['spirometer_bpm'])} | " + " | ".join(cells) + " |")
    print()
    print("| configuration | segments rated | rate MAE (bpm) | without segment 02 | segments whose flow agrees with volume | phase rule | phase balanced accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in runs.values():
        print(f"| {run['label']} | {run['segments_rated']} | {_fmt(run['rate_mae_bpm'], 2)} | {_fmt(run['rate_mae_bpm_without_02'], 2)} | "
              f"{_fmt(run['rate_mae_bpm_channels_agree'], 2)} | {run['phase_method']} | {_fmt(run['phase_balanced_accuracy'], 3)} |")


def phase_lag(out: Path, lags=range(0, 8)) -> dict[int, float]:
    """Balanced accuracy of the level phase when the thermal phase at frame i + lag is taken as
    the prediction for frame i's INH/EXH label (the raw signal trails the flow by 1–7 frames).
    Labels are the dataset's (flow vs its zero level, pauses −1 and left out)."""
    import h5py

    with h5py.File(out / DEFAULT_RUN / "series.h5") as fh:
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
        if all((t[ok] == c).any() for c in (0, 1)):
            scores[lag] = float(np.mean([np.mean(p[ok][t[ok] == c] == c) for c in (0, 1)]))
    return scores


def phase_on_segments(out: Path, run: str, segments: list[str]) -> float | None:
    """Pooled balanced accuracy of a run's phase on some segments (labels ≥ 0 only); None when
    the run is absent or those segments hold no frame of both classes."""
    if not (out / run / "series.h5").is_file():
        return None
    import h5py

    with h5py.File(out / run / "series.h5") as fh:
        recording = fh["recording"].asstr()[...]
        phase = fh["mouth.phase"][...]
    with h5py.File(out / "segments.h5") as fh:
        labels = fh["labels"][...]
    keep = np.isin(recording, segments) & (labels >= 0) & (phase >= 0)
    t, p = labels[keep], phase[keep]
    if not all((t == c).any() for c in (0, 1)):
        return None
    return float(np.mean([np.mean(p[t == c] == c) for c in (0, 1)]))


def figure(out: Path, path: Path, segments: list[str]) -> None:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thermcli.io.spirometry import PAUSE_MARGIN
    from thermcli.ops.respiration import adaptive_breaths, flow_breaths

    rows = per_segment(load(out, DEFAULT_RUN))
    fig, axes = plt.subplots(2 * len(segments), 1, figsize=(8, 4.4 * len(segments)))
    for i, segment in enumerate(segments):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        with h5py.File(out / DEFAULT_RUN / "series.h5") as fh:
            keep = fh["recording"].asstr()[...] == segment
            t = fh["time_s"][...][keep]
            mean = fh["mouth.mean"][...][keep]
            signal = fh["mouth.breath_signal"][...][keep]
        with h5py.File(out / "segments.h5") as fh:
            same = fh["sequence"].asstr()[...] == segment
            flow = fh["columns/flow"][...][same].astype(np.float64)
            volume = fh["columns/volume"][...][same].astype(np.float64)
            zero = float(fh["columns/zero_level"][...][same][0])
        t = t - t[0]
        fs = 1.0 / np.median(np.diff(t))
        row = rows[segment]
        thermal_breaths = adaptive_breaths(np.nan_to_num(signal), fs)
        spiro_breaths = flow_breaths(flow, fs)

        top.plot(t, mean, color="0.6", lw=0.8, label="ROI mean (raw, 8-bit)")
        top.set_ylabel("mouth ROI intensity")
        twin = top.twinx()
        twin.plot(t, signal, color="tab:red", lw=1.2, label="band-passed 0.1–1.5 Hz")
        twin.plot(t[thermal_breaths], signal[thermal_breaths], "^", color="k", ms=6, label="breaths counted")
        twin.set_yticks([])
        top.set_title(f"segment {segment}: thermal {_fmt(row['rate_bpm'])} bpm (quality {_fmt(row['quality'], 2)}) "
                      f"vs spirometer flow {_fmt(row.get('reference_bpm'))} bpm", fontsize=10)
        handles = top.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        labels = top.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
        top.legend(handles, labels, fontsize=7, loc="upper right", ncol=3)
        bottom.plot(t, flow, color="tab:blue", lw=1.2, label="spirometer flow (min-max normalised)")
        bottom.axhline(zero, color="0.4", ls="--", lw=0.8, label=f"zero level {zero:.3f}")
        bottom.plot(t[spiro_breaths], flow[spiro_breaths], "^", color="k", ms=6, label="breaths counted (exhalation starts)")
        bottom.fill_between(t, zero, flow, where=flow > zero + PAUSE_MARGIN, color="tab:orange", alpha=0.25, label="EXH label")
        vol = bottom.twinx()
        vol.plot(t, volume, color="tab:green", lw=0.8, ls=":", label="spirometer volume")
        vol.set_yticks([])
        bottom.set_xlabel("time (s)")
        bottom.set_ylabel("flow")
        handles = bottom.get_legend_handles_labels()[0] + vol.get_legend_handles_labels()[0]
        labels = bottom.get_legend_handles_labels()[1] + vol.get_legend_handles_labels()[1]
        bottom.legend(handles, labels, fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--segment", default=None, help="segment(s) in the figure, comma separated (default: the first two)")
    # the breathing-phase example's test segments (thermcli split --by sequence --fractions
    # 0.6,0.2,0.2 --seed 0 on the same 10 segments), for a side-by-side with the trained classifier
    parser.add_argument("--test-segments", default="04,06", help="(those present are used)")
    args = parser.parse_args()
    results = report(args.out)
    if DEFAULT_RUN not in results["runs"]:
        raise SystemExit(f"respiration_report.py: {args.out / DEFAULT_RUN / 'summary.json'} is missing: run respiration.sh first")
    present = list(results["runs"][DEFAULT_RUN]["segments"])
    results["phase_balanced_accuracy_by_lag"] = phase_lag(args.out)
    print_tables(results)
    test = [t.strip() for t in args.test_segments.split(",") if t.strip() and t.strip() in present]
    results["phase_balanced_accuracy_test_segments"] = {
        "segments": test, **{run: phase_on_segments(args.out, run, test) for run in (DEFAULT_RUN, "auto-slope")}}
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nphase balanced accuracy on segments {', '.join(test) or '(none of them present)'}: level "
          f"{_fmt(results['phase_balanced_accuracy_test_segments'][DEFAULT_RUN], 3)}, slope "
          f"{_fmt(results['phase_balanced_accuracy_test_segments']['auto-slope'], 3)}")
    print("\nlevel phase, thermal advanced by L frames: " +
          ", ".join(f"L={lag} {ba:.3f}" for lag, ba in results["phase_balanced_accuracy_by_lag"].items()))
    if args.figure:
        wanted = [s.strip() for s in args.segment.split(",") if s.strip()] if args.segment else present[:2]
        unknown = [s for s in wanted if s not in present]
        if unknown:
            raise SystemExit(f"respiration_report.py: --segment {','.join(unknown)}: not among the segments ({', '.join(present)})")
        figure(args.out, args.figure, wanted)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
