"""The report of one raw recording: sync, rate over time against the spirometer, Bland–Altman,
phase accuracy. Reads what the Makefile's steps wrote under FOLDER; prints Markdown and writes
FOLDER/rate.png.

usage: python report.py FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def balanced_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    keep = (truth >= 0) & (pred >= 0)
    recalls = [np.mean(pred[keep & (truth == c)] == c) for c in (0, 1) if np.any(keep & (truth == c))]
    return float(np.mean(recalls)) if len(recalls) == 2 else float("nan")


def main() -> None:
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thermcli.io.signals import read_signal_table

    folder = Path(sys.argv[1])
    sync = json.loads((folder / "sync.json").read_text())["sync"]
    ba = json.loads((folder / "bland-altman.json").read_text())["metrics"]["bland-altman"]
    windows = read_signal_table(folder / "roi" / "respiration.csv")
    with h5py.File(folder / "synced.h5") as fh:
        labels = fh["labels"][...]
    with h5py.File(folder / "roi" / "series.h5") as fh:
        phase_key = next(k for k in fh.keys() if k.endswith(".phase"))
        phase = fh[phase_key][...]
    lags = {lag: balanced_accuracy(labels[: len(labels) - lag], phase[lag:]) for lag in range(0, 8)}

    centre = (windows["start_s"] + windows["stop_s"]) / 2
    accepted = windows["accepted"] > 0
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(centre, windows["reference_bpm"], "k-", label="spirometer (signed flow)")
    ax.plot(centre[accepted], windows["rate_bpm"][accepted], "o-", ms=3, color="#c03030", label="thermal ROI")
    if (~accepted).any():
        ax.plot(centre[~accepted], windows["rate_bpm"][~accepted], "x", color="#999999", label="flagged unreadable")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("breaths/min")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "rate.png", dpi=80)
    plt.close(fig)

    print(f"# {folder.name}: respiration from the whole recording\n")
    print(f"- Sync: {sync['marks']} marks, offset {sync['offset_s']:+.3f} s ± {sync['offset_sd_s']:.3f} s (SD of the marks; "
          f"range {sync['offset_range_s'][0]:+.2f}…{sync['offset_range_s'][1]:+.2f} s), clock ratio {sync['rate_ratio']:.4f}, "
          f"spirometer {sync['signal_rate_hz']:g} Hz (estimated {sync['signal_rate_estimated_hz']:.2f} Hz), "
          f"{sync['frames_covered']}/{sync['frames']} frames covered.")
    xcorr = sync.get("xcorr")
    if xcorr:
        print(f"- Sync check by cross-correlation (box {xcorr['roi']}): the ROI mean trails the flow by {xcorr['lag_s']:+.3f} s "
              f"± {xcorr['lag_sd_s']:.3f} s ({xcorr['windows_used']}/{xcorr['windows']} windows, median r {xcorr['median_corr']:.2f}).")
    print(f"- Rate ({len(centre)} windows, {int((~accepted).sum())} flagged unreadable): MAE {ba['mae']:.2f} breaths/min, "
          f"bias {ba['bias']:+.2f} (95 % CI {ba['bias_ci'][0]:+.2f}…{ba['bias_ci'][1]:+.2f}), limits of agreement "
          f"{ba['loa'][0]:+.2f}…{ba['loa'][1]:+.2f} breaths/min, n = {ba['n']}.")
    best = max(lags, key=lambda k: -1 if np.isnan(lags[k]) else lags[k])
    print(f"- Phase ({phase_key}) against the signed-flow labels: balanced accuracy {lags[0]:.3f} at lag 0, "
          f"best {lags[best]:.3f} with the thermal phase {best} frames later.")
    print("\n![rate over time](rate.png)\n\n![Bland–Altman](bland-altman.png)")


if __name__ == "__main__":
    main()
