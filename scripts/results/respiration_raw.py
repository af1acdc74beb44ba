"""docs/results/respiration-raw.md: respiration over the whole raw breathing-spirometry recordings
(issue #20) with the airway ROI found from the video alone (thermcli.ops.airway).

    nice -n 10 .venv/bin/python scripts/results/respiration_raw.py           # measures (a few minutes)
    .venv/bin/python scripts/results/respiration_raw.py --render              # re-renders from the record

Needs ../shared/data/breathing-spirometry/raw (says so and stops without it). Per recording: the
video is read once; the flow is put on the frames through the sync marks and the authors' extra
delays (thermcli.ops.clock, the mapping `thermcli import --sync-marks` uses); windows of 30 s every
5 s over the synced span; reference = validated zero-crossing cycles of the signed flow (zero =
its most common value, hysteresis 0.25 σ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record as R  # noqa: E402

NAME = "respiration-raw"
SCRIPT = "scripts/results/respiration_raw.py"
RAW = R.REPO.parent / "shared" / "data" / "breathing-spirometry" / "raw"
DELAY_ROWS = {"1": slice(0, 6), "2": slice(6, 12)}
LAGS = range(-40, 41, 2)  # frames (either sign: the sync is not exact): the phase's lag, chosen on the other recording


def _table(path: Path) -> np.ndarray:
    rows = [[float(t.replace("$$", "")) for t in line.split()] for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("++")]
    return np.asarray(rows)


def _video(path: Path) -> np.ndarray:
    import cv2

    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    return np.stack(frames)


def _disc_means(frames: np.ndarray, xs: np.ndarray, ys: np.ndarray, radius: float) -> np.ndarray:
    n, h, w = frames.shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.full(n, np.nan)
    for i in range(n):
        if not (np.isfinite(xs[i]) and np.isfinite(ys[i])):
            continue
        x0, y0 = int(max(0, xs[i] - radius - 1)), int(max(0, ys[i] - radius - 1))
        x1, y1 = int(min(w, xs[i] + radius + 2)), int(min(h, ys[i] + radius + 2))
        sub = (xx[y0:y1, x0:x1] + 0.5 - xs[i]) ** 2 + (yy[y0:y1, x0:x1] + 0.5 - ys[i]) ** 2 <= radius ** 2
        if sub.any():
            out[i] = frames[i, y0:y1, x0:x1][sub].mean()
    return out


def _flow_on_frames(rec: str, n: int, fps: float) -> np.ndarray:
    from thermcli.io.signals import read_signal_table
    from thermcli.ops.clock import estimate_sample_rate, fit_clock_map, resample_at

    d = RAW / rec
    flow = np.loadtxt(d / "1_spiro.txt", delimiter=",", usecols=0)
    vm, sm = np.loadtxt(d / "3_vid_timer.txt"), np.loadtxt(d / "2_spiro_timer.txt")
    shifts = read_signal_table(RAW / "shifts.txt")
    rows = DELAY_ROWS[rec]
    clock = fit_clock_map(vm + shifts["vid_delay"][rows], sm + shifts["flow_delay"][rows])
    est = estimate_sample_rate(clock, len(flow), n / fps)
    rate = float(round(est)) if abs(est - round(est)) <= 0.02 * est else est
    return resample_at(flow, rate, clock(np.arange(n) / fps))


def _mode(x: np.ndarray) -> float:
    from thermcli.stages.importer.sync import flow_mode

    return float(flow_mode(x[np.isfinite(x)]))


def measure_recording(rec: str, fps: float = 20.0) -> dict:
    from thermcli.ops.airway import downsample, locate_airway_small
    from thermcli.ops.breaths import breath_windows, detect_breaths
    from thermcli.ops.clock import phase_from_flow
    from thermcli.ops.respiration import bandpass
    from thermcli.ops.series import fill_gaps

    frames = _video(RAW / rec / "vid.mp4")
    n = len(frames)
    track = locate_airway_small(downsample(frames, 2), fps, scale=2)
    table = _table(RAW / rec / "4_flow_position.txt")
    # table row i ↔ frame i + 1 (the offset that maximises the correlation of its `average` with the
    # frames' ROI mean: 0.99 / 0.87 for recordings 1 / 2); position_x = row, position_y = column
    tab = np.full((n, 3), np.nan)
    k = min(n - 1, len(table))
    tab[1 : k + 1] = table[:k, [2, 1, 3]]
    tab_x, tab_y = tab[:, 0] + 0.5, tab[:, 1] + 0.5
    dist = np.hypot(track.x - tab_x, track.y - tab_y)
    flow = _flow_on_frames(rec, n, fps)
    span = np.flatnonzero(np.isfinite(flow))
    lo, hi = int(span[0]), int(span[-1]) + 1
    zero = _mode(flow[lo:hi])
    signals = {
        "auto": _disc_means(frames, track.x, track.y, 6.0),
        "table": _disc_means(frames, tab_x, tab_y, 6.0),
    }
    f = fill_gaps(flow[lo:hi]) - zero
    ref_breaths = detect_breaths(f, fps, filtered=True)
    ref = breath_windows(ref_breaths, hi - lo, fps)
    out = {"frames": n, "span": [lo, hi], "zero": zero, "ref_rate": ref.rate.tolist(), "t": (ref.start_s + 15).tolist(),
           "dist_median": float(np.nanmedian(dist)), "dist_within10": float(np.nanmean(dist[np.isfinite(dist)] <= 10)),
           "rois": {}}
    amp = float(np.nanpercentile(np.abs(f), 95))
    labels = phase_from_flow(f, 0.05 * amp)
    for name, sig in signals.items():
        x = bandpass(fill_gaps(sig[lo:hi]), fps)
        breaths = detect_breaths(x, fps, filtered=True)
        win = breath_windows(breaths, hi - lo, fps, motion=np.hypot(np.gradient(track.x[lo:hi]), np.gradient(track.y[lo:hi])) if name == "auto" else None)
        err = np.abs(win.rate - ref.rate)
        ok = ~win.flagged & np.isfinite(err)
        phases = {}
        for rule in ("level", "slope"):
            feat = x if rule == "level" else np.gradient(x)
            phases[rule] = {}
            for lag in LAGS:
                pred = (np.roll(feat, -lag) > 0).astype(int)  # frame t's phase from the signal at t + lag
                keep = labels >= 0
                keep[max(0, len(keep) - lag):] = False
                keep[: max(0, -lag)] = False
                y, p = labels[keep], pred[keep]
                phases[rule][lag] = float(np.mean([np.mean(p[y == c] == c) for c in (0, 1)]))
        out["rois"][name] = {"rate": win.rate.tolist(), "flagged": win.flagged.tolist(), "reasons": win.reasons,
                             "mae": float(np.mean(err[ok])), "mae_all": float(np.nanmean(err)),
                             "flagged_share": float(np.mean(win.flagged)), "phase": phases}
    return out


def measure() -> dict:
    R.started()
    record = R.new_record(NAME, SCRIPT, [f"nice -n 10 .venv/bin/python {SCRIPT}"])
    record["recordings"] = {rec: measure_recording(rec) for rec in ("1", "2")}
    R.save_record(record)
    return record


def _plot(record: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=False)
    for ax, (rec, r) in zip(axes, record["recordings"].items()):
        t = np.asarray(r["t"])
        ax.plot(t, r["ref_rate"], "k-", label="spirometer (signed-flow breaths)")
        ax.plot(t, r["rois"]["auto"]["rate"], "C0.-", label="thermal, automatic airway ROI")
        ax.plot(t, r["rois"]["table"]["rate"], "C1--", alpha=0.6, label="thermal, dataset's ROI table")
        bad = np.asarray(r["rois"]["auto"]["flagged"], bool)
        ax.plot(t[bad], np.asarray(r["rois"]["auto"]["rate"])[bad], "rx", label="flagged window")
        ax.set_title(f"recording {rec}")
        ax.set_ylabel("breaths/min")
    axes[0].legend(fontsize=7)
    axes[-1].set_xlabel("window centre, s from the synced span's start")
    fig.tight_layout()
    R.DATA.mkdir(parents=True, exist_ok=True)
    path = R.DATA / "respiration-raw-rate.png"
    fig.savefig(path, dpi=90)
    return "data/respiration-raw-rate.png"


def render(record: dict) -> None:
    recs = record["recordings"]
    rows = []
    for rec, r in recs.items():
        other = recs["2" if rec == "1" else "1"]
        for name in ("auto", "table"):
            m = r["rois"][name]
            best = {}
            for rule in ("level", "slope"):  # lag and rule chosen on the OTHER recording
                cand = other["rois"][name]["phase"][rule]
                best[rule] = max(cand, key=lambda lag: cand[lag])
            rule = max(best, key=lambda ru: other["rois"][name]["phase"][ru][best[ru]])
            ba = m["phase"][rule][best[rule]]
            rows.append([rec, "automatic (power map)" if name == "auto" else "dataset table", f"{m['mae']:.2f}",
                         f"{m['mae_all']:.2f}", f"{100 * m['flagged_share']:.0f} %",
                         f"{r['dist_median']:.1f} px, {100 * r['dist_within10']:.0f} % ≤ 10 px" if name == "auto" else "—",
                         f"{ba:.3f} ({rule}, lag {best[rule]})", "not done"])
    plot = _plot(record)
    body = f"""Whole raw recordings of `../shared/data/breathing-spirometry/raw` (issue #20): 30-s windows every
5 s over each recording's synced span, the airway ROI found from the video alone
(`thermcli.ops.airway`: respiratory-power map in 0.1–1 Hz over 20-s windows every 10 s, grey-level
opening with a 6-px disc against thin moving edges such as the spirometer's tube, running median
over three windows), a disc of 6 px at it. Rate = breaths detected one by one
(`thermcli.ops.breaths.detect_breaths`: validated zero crossings with hysteresis of the band-passed
signal) counted in each window; the reference counts the same kind of breaths in the signed flow
(zero = its most common value). A window is flagged when it holds fewer than two whole breaths,
its breath intervals vary too much (coefficient of variation > 0.6), or the automatic ROI moved
more than 10 px in it.

{R.table(["recording", "ROI", "rate MAE, unflagged (bpm)", "rate MAE, all windows", "flagged", "ROI centre vs table", "phase bal. acc., model-free", "phase, learned"], rows)}

How the parameters were chosen: the detector's settings (band 0.1–1.5 Hz, hysteresis 0.25 σ, a
cycle shorter than half the median one merged) are the defaults of `thermcli.ops.respiration`,
set a priori on synthetic breathing, not on these recordings; the power map's opening radius is
the size of the mouthpiece (about the table's ROI radius, 6–8 px), and it was looked at on both
recordings against the table (it is not a rate parameter). The model-free phase rule (level or
slope of the band-passed signal) and its lag are chosen on the OTHER recording and applied to
this one. The learned phase classifier (`train --task classify`, trained on the other recording)
was not run in this session.

![rate over time]({plot})

Status against issue #20: the automatic ROI meets its target (centre within 10 px of the table),
and its rate is as good as the table's on recording 2; the rate (MAE ≤ 1 bpm, ≤ 10 % flagged)
and phase (≥ 0.90) targets are not met. Most flags are `irregular`: windows that hold a change of
breathing pattern, where the breath intervals' spread is large by construction; the largest
errors are fast breathing (50–60 bpm) that the thermal signal shows as fewer, merged cycles.

The ROI table's rows are offset by one frame from the video (table row i ↔ frame i + 1: the
correlation of its `average` with the frames' ROI mean peaks there, 0.99 and 0.87).
"""
    R.write_page(record, "Respiration over whole raw recordings (automatic airway ROI)", body)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--render", action="store_true")
    a = p.parse_args()
    if a.render:
        render(R.load_record(NAME))
        return
    if not RAW.exists():
        print(f"{RAW} is absent: nothing measured")
        return
    render(measure())


if __name__ == "__main__":
    main()
