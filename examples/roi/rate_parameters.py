"""The adaptive breathing-rate estimator's parameters, checked on synthetic data only.

Generates `thermcli synth breathing` seeds 1–5 (80 sequences; the committed sample is seed 0 and
is not used), measures the airway ROI's mean with `thermcli roi`'s stage, and prints the rate MAE
against the generator's true rates over a grid of hysteresis × cycle-validation fraction, plus
one variant that takes the autocorrelation's period when the spectral rate is about twice it.
No real recording is read.

usage: PYTHONPATH=. python examples/roi/rate_parameters.py [WORK_DIR]   (from the repository root; about a minute)
"""

from __future__ import annotations

import itertools
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from thermcli.io import write_dataset
from thermcli.ops import respiration as resp
from thermcli.stages.roi import RoiConfig, load_regions, run_roi
from thermcli.synth import breathing

AIRWAY = Path(__file__).with_name("airway.json")


def signals(work: Path, seeds=(1, 2, 3, 4, 5)) -> list[tuple[np.ndarray, float, float]]:
    """(ROI mean, fs, true rate) per synthetic sequence."""
    out = []
    for seed in seeds:
        dataset = next(v for v in breathing.generate(seed=seed).values() if hasattr(v, "frames"))
        path = work / f"breathing{seed}.h5"
        write_dataset(path, dataset, force=True)
        result = run_roi(path, work / f"roi{seed}", RoiConfig(regions=tuple(load_regions(AIRWAY)), plots=False), provenance={}, force=True)
        mean, recording = np.asarray(result.series["airway.mean"]), np.asarray(result.series["recording"])
        rate = np.asarray(dataset.columns["true_rate_bpm"])
        for key in dict.fromkeys(recording):
            keep = recording == key
            out.append((mean[keep], breathing.FPS, float(rate[keep][0])))
    return out


def acf_rate(x: np.ndarray, fs: float, band) -> float:
    """Rate (bpm) at the first autocorrelation peak ≥ 0.8 × the highest one within the band's lags."""
    x = x - x.mean()
    n = len(x)
    ac = np.correlate(x, x, "full")[n - 1:] / (x @ x)
    ac = ac / (1 - np.arange(n) / n).clip(0.5)
    lags = np.arange(max(int(fs / band[1]), 1), min(int(math.ceil(fs / band[0])), n - 2) + 1)
    peaks = [k for k in lags if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0]
    if not peaks:
        return math.nan
    best = max(ac[k] for k in peaks)
    k = next(k for k in peaks if ac[k] >= 0.8 * best)
    return 60 * fs / k


def with_acf(x: np.ndarray, fs: float, band) -> float:
    spectral, _ = resp.spectral_rate(x, fs, band, harmonic=0.5)
    autocorr = acf_rate(x, fs, band)
    hint = autocorr if math.isfinite(autocorr) and abs(spectral / autocorr - 2) < 0.3 else spectral
    counted, cycles = resp.cycle_rate(x, fs, hysteresis=0.25, min_cycle_s=max(0.5 * 60 / hint, 1 / band[1]))
    return counted if cycles >= 2 and 2 / 3 <= counted / hint <= 3 / 2 else hint


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="rate-parameters-"))
    work.mkdir(parents=True, exist_ok=True)
    data = [(resp.bandpass(m, fs), fs, truth) for m, fs, truth in signals(work)]
    band = resp.DEFAULT_BAND
    print(f"{len(data)} synthetic sequences, band {band[0]}–{band[1]} Hz")
    print("| hysteresis (σ) | min cycle (× dominant period) | rate MAE (bpm) |")
    print("| --- | --- | --- |")
    for hysteresis, fraction in itertools.product((0.1, 0.25, 0.5), (0.4, 0.5, 0.6)):
        errors = [abs(resp.adaptive_rate(x, fs, band, hysteresis=hysteresis, min_cycle_fraction=fraction)[0] - t) for x, fs, t in data]
        mark = " (default)" if (hysteresis, fraction) == (0.25, 0.5) else ""
        print(f"| {hysteresis} | {fraction} | {np.mean(errors):.3f}{mark} |")
    errors = [abs(with_acf(x, fs, band) - t) for x, fs, t in data]
    print(f"\nwith the autocorrelation's period for harmonics: MAE {np.mean(errors):.3f}")
    errors = [abs(resp.spectral_rate(x, fs, band)[0] - t) for x, fs, t in data]
    print(f"spectral peak alone: MAE {np.mean(errors):.3f}")


if __name__ == "__main__":
    main()
