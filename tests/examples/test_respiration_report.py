"""examples/breathing-spirometry/respiration_report.py on any set of segments: it crashed
(TypeError formatting None) on a folder without segment 02, and its segments were hard-coded.
The folder is built here in the layout respiration.sh leaves (segments.h5, RUN/summary.json,
RUN/series.h5), from breathing-like signals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import REPO

SCRIPT = REPO / "examples" / "breathing-spirometry" / "respiration_report.py"
FS = 20.0


def _folder(root: Path, segments: list[str], runs=("auto-level", "auto-slope", "spectral-level")) -> Path:
    rng = np.random.default_rng(0)
    sequence, flow, volume, zero, labels, signal = [], [], [], [], [], []
    for i, segment in enumerate(segments):
        t = np.arange(int(60 * FS)) / FS
        f = np.sin(2 * np.pi * (0.2 + 0.03 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sequence += [segment] * t.size
        flow.append(f)
        volume.append(np.cumsum(f) / FS)
        zero.append(np.zeros(t.size))
        labels.append((f > 0.1).astype(np.int64) - ((np.abs(f) <= 0.1)).astype(np.int64) * 2 + 0)
        signal.append(np.roll(f, 3))
    labels_all = np.clip(np.concatenate(labels), -1, 1)
    with h5py.File(root / "segments.h5", "w") as fh:
        fh["sequence"] = np.array(sequence, dtype=h5py.string_dtype())
        fh["labels"] = labels_all
        cols = fh.create_group("columns")
        cols["flow"] = np.concatenate(flow).astype(np.float32)
        cols["volume"] = np.concatenate(volume).astype(np.float32)
        cols["zero_level"] = np.concatenate(zero).astype(np.float32)
    for run in runs:
        (root / run).mkdir()
        rows = [{"recording": s, "rate_bpm": 12.0 + i, "reference_bpm": 12.5 + i, "abs_error_bpm": 0.5,
                 "quality": 0.8, "phase_balanced_accuracy": 0.7} for i, s in enumerate(segments)]
        rows.append({"recording": "ALL", "phase_method": "level", "phase_balanced_accuracy": 0.7})
        (root / run / "summary.json").write_text(json.dumps({"respiration": rows}))
        s = np.concatenate(signal)
        with h5py.File(root / run / "series.h5", "w") as fh:
            fh["recording"] = np.array(sequence, dtype=h5py.string_dtype())
            fh["mouth.phase"] = (s > 0).astype(np.int64)
            fh["time_s"] = np.concatenate([np.arange(len(f)) / FS for f in flow])
            fh["mouth.mean"] = (100 + 5 * s).astype(np.float32)
            fh["mouth.breath_signal"] = s.astype(np.float32)
    return root


def _run(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(folder), *extra], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.mark.parametrize("segments", [["01", "03", "05"], ["07"]], ids=["without-02", "one-segment"])
def test_report_runs_on_a_subset_without_segment_02(tmp_path, segments):
    folder = _folder(tmp_path, segments)
    done = _run(folder, "--figure", str(tmp_path / "fig.png"))
    assert done.returncode == 0, done.stderr
    results = json.loads((folder / "results.json").read_text())
    default = results["runs"]["auto-level"]
    assert sorted(default["segments"]) == segments
    assert default["rate_mae_bpm_without_02"] is None  # there is no 02 to leave out
    assert default["rate_mae_bpm"] == pytest.approx(0.5)
    assert results["phase_balanced_accuracy_test_segments"]["segments"] == []  # 04, 06 absent
    assert (tmp_path / "fig.png").stat().st_size > 0  # the figure shows the first segments present


def test_report_with_02_and_a_segment_that_is_absent(tmp_path):
    folder = _folder(tmp_path, ["01", "02", "04"])
    done = _run(folder)
    assert done.returncode == 0, done.stderr
    results = json.loads((folder / "results.json").read_text())
    assert results["runs"]["auto-level"]["rate_mae_bpm_without_02"] == pytest.approx(0.5)
    assert results["phase_balanced_accuracy_test_segments"]["segments"] == ["04"]
    missing = _run(folder, "--figure", str(tmp_path / "f.png"), "--segment", "09")
    assert missing.returncode != 0 and "--segment 09" in missing.stderr and "Traceback" not in missing.stderr
