"""``roi``'s breathing analysis (``signal="breathing"``): per-window rates and quality, INH/EXH
phase, and their agreement with a reference column or labels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thermcli.errors import UsageError
from thermcli.metrics.classification import balanced_accuracy
from thermcli.ops import respiration as resp
from thermcli.stages.roi.config import BreathingConfig, RoiConfig, RoiResult
from thermcli.stages.roi.timeline import _sampling_rate


def _respiration(result: RoiResult, config: RoiConfig, regions, runs, times, labels, reference, note) -> None:
    breathing = config.breathing
    names = [r.name for r in regions] if breathing.region is None else [breathing.region]
    for name in names:
        if f"{name}.mean" not in result.series:
            raise UsageError(f"no region named {name!r} (regions: {', '.join(r.name for r in regions)})", param="--breath-region")
    n = len(times)
    for name in names:
        mean = result.series[f"{name}.mean"]
        filtered_all = np.full(n, np.nan)
        phase_all = np.full(n, -1, np.int64)
        for key, lo, hi in runs:
            fs = _sampling_rate(times[lo:hi])
            row: dict[str, Any] = {"recording": key, "subject": result.series["subject"][lo], "region": name, "method": breathing.method}
            segment = mean[lo:hi]
            usable = math.isfinite(fs) and np.isfinite(segment).sum() >= 4
            band = _analysis_band(breathing.band, fs) if usable else (breathing.band or resp.DEFAULT_BAND)
            if breathing.band is None and band != resp.DEFAULT_BAND:
                if band[1] <= band[0]:
                    raise UsageError(f"recording {key} is sampled at {fs:g} Hz, too slow for the breathing band", param="--breath-band")
                note(f"recording {key} at {fs:g} fps: breathing band lowered to {band[0]:g}–{band[1]:.3g} Hz (Nyquist {fs / 2:g} Hz)")
            if usable and band[1] >= fs / 2:
                raise UsageError(f"the breathing band reaches the Nyquist frequency {fs / 2:g} Hz of recording {key}", param="--breath-band")
            row["band_hz"] = [float(band[0]), float(band[1])]
            duration = (hi - lo) / fs if math.isfinite(fs) else 0.0
            if not usable:
                note(f"recording {key} region {name}: too few valid samples for respiration (NaN)")
                windows = resp.RateWindows(*(np.zeros(0) for _ in range(4)))
            else:
                filtered = resp.bandpass(segment, fs, band)
                filtered_all[lo:hi] = filtered
                phase_all[lo:hi] = resp.phase(filtered, fs, method=breathing.phase_method)
                phase_all[lo:hi][~np.isfinite(segment)] = -1
                windows = resp.sliding_rate(
                    filtered, fs, window_s=breathing.window_s, step_s=breathing.step_s, method=breathing.method, band=band
                )
                if len(windows) == 0:
                    note(f"recording {key} ({duration:.1f} s) is shorter than one {breathing.window_s:g} s analysis window; its rate is NaN")
            with np.errstate(invalid="ignore"):
                accepted = np.isfinite(windows.rate_bpm) & (np.nan_to_num(windows.quality, nan=-1.0) >= breathing.min_quality)
            ref_rates = []
            for w in range(len(windows)):
                a = lo + int(round(windows.start_s[w] * fs))
                b = lo + int(round(windows.stop_s[w] * fs))
                ref = _reference_rate(reference, a, b, fs, breathing) if reference is not None else math.nan
                ref_rates.append(ref)
                result.respiration.append({
                    "recording": key, "subject": row["subject"], "region": name, "method": breathing.method,
                    "start_s": float(times[lo] + windows.start_s[w]), "stop_s": float(times[lo] + windows.stop_s[w]),
                    "rate_bpm": float(windows.rate_bpm[w]), "quality": float(windows.quality[w]),
                    "accepted": int(bool(accepted[w])),
                    **({"reference_bpm": ref} if reference is not None else {}),
                })
            if len(windows) == 0:
                result.respiration.append({
                    "recording": key, "subject": row["subject"], "region": name, "method": breathing.method,
                    "start_s": float(times[lo]), "stop_s": float(times[hi - 1]), "rate_bpm": math.nan, "quality": math.nan,
                    "accepted": 0, **({"reference_bpm": math.nan} if reference is not None else {}),
                })
            rates = windows.rate_bpm[accepted]
            rejected = int(np.sum(np.isfinite(windows.rate_bpm) & ~accepted))
            if rejected:
                note(f"recording {key} region {name}: {rejected} of {len(windows)} windows below --min-quality {breathing.min_quality:g}")
            row.update(
                duration_s=float(duration),
                n_windows=int(len(windows)),
                n_rejected=rejected,
                rate_bpm=float(np.median(rates)) if len(rates) else math.nan,
                quality=float(np.nanmean(windows.quality)) if len(windows) and np.isfinite(windows.quality).any() else math.nan,
            )
            if reference is not None:
                refs = np.asarray(ref_rates, dtype=np.float64)
                both = np.isfinite(refs) & accepted
                row["reference_bpm"] = float(np.median(refs[np.isfinite(refs)])) if np.isfinite(refs).any() else math.nan
                row["abs_error_bpm"] = float(np.mean(np.abs(refs[both] - windows.rate_bpm[both]))) if both.any() else math.nan
            truth = _phase_truth(labels, reference, lo, hi)
            if truth is not None:
                row["phase_balanced_accuracy"] = balanced_accuracy(truth, phase_all[lo:hi])
            result.respiration_summary.append(row)
        result.series[f"{name}.breath_signal"] = filtered_all
        result.series[f"{name}.phase"] = phase_all
        result.columns += [f"{name}.breath_signal", f"{name}.phase"]
        if labels is not None or (reference is not None and reference[0] == "flow"):
            truth_all = _phase_truth(labels, reference, 0, n)
            result.respiration_summary.append({
                "recording": "ALL", "region": name, "method": breathing.method,
                "phase_method": breathing.phase_method,
                "phase_balanced_accuracy": balanced_accuracy(truth_all, phase_all),
                **_overall_error(result.respiration_summary, name),
            })
        elif reference is not None:
            result.respiration_summary.append({"recording": "ALL", "region": name, "method": breathing.method, **_overall_error(result.respiration_summary, name)})


def _analysis_band(band: tuple[float, float] | None, fs: float) -> tuple[float, float]:
    """``None`` is the default band, whose upper edge (90 bpm) is physiology, not a demand on the
    camera: below 3.33 fps it is lowered to 0.45 × the frame rate (just under Nyquist). A band
    given by the user is used as given (and refused when it reaches Nyquist)."""
    if band is not None:
        return band
    low, high = resp.DEFAULT_BAND
    return (low, 0.45 * fs) if high >= 0.45 * fs else (low, high)


def _overall_error(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    errors = [r["abs_error_bpm"] for r in rows if r.get("region") == name and r.get("recording") != "ALL" and "abs_error_bpm" in r]
    errors = [e for e in errors if math.isfinite(e)]
    if not errors:
        return {}
    return {"rate_mae_bpm": float(np.mean(errors)), "n_recordings_compared": len(errors)}


def _reference_rate(reference, a: int, b: int, fs: float, breathing: BreathingConfig) -> float:
    kind, column = reference
    segment = column[a:b]
    if kind == "rate":
        finite = segment[np.isfinite(segment)]
        return float(finite.mean()) if finite.size else math.nan
    # a spirometer flow: breaths counted from the zero crossings of the detrended flow, with
    # hysteresis and a minimum cycle duration (independent of the thermal estimator's band/method)
    if np.isfinite(segment).sum() < 4:
        return math.nan
    return resp.flow_rate(segment, fs)


def _phase_truth(labels, reference, lo: int, hi: int) -> np.ndarray | None:
    if labels is not None:
        return labels[lo:hi]
    if reference is not None and reference[0] == "flow":
        flow = reference[1][lo:hi]
        truth = np.full(hi - lo, -1, np.int64)
        ok = np.isfinite(flow)
        zero = resp.zero_level(flow)
        truth[ok] = np.where(flow[ok] > zero, resp.EXH, resp.INH)
        return truth
    return None
