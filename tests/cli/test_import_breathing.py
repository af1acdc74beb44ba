"""Real spirometry recordings: video + signal table → one row per frame with the signals."""

from __future__ import annotations

import numpy as np
import pytest

from thermcli.io import read_dataset
from thermcli.io.signals import read_signal_table

pytestmark = pytest.mark.shared_data


def test_breathing_segment_imports_with_signals(cli, tmp_path, shared_data):
    import cv2

    folder = shared_data / "breathing-spirometry"
    out = tmp_path / "b.h5"
    result = cli(
        "import", folder / "03vid.mp4", out, "--signals", folder / "03data.txt", "--extra-rows",
        "--sequence-regex", r"(\d+)vid", "--subject-regex", r"(\d+)vid",
    )
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    capture = cv2.VideoCapture(str(folder / "03vid.mp4"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame[:, :, 0])
    capture.release()
    assert len(ds) == len(decoded)  # one row per frame
    np.testing.assert_array_equal(ds.frames[[0, -1]], np.stack([decoded[0], decoded[-1]]))
    np.testing.assert_allclose(ds.timestamp, np.arange(len(ds)) / fps)
    table = read_signal_table(folder / "03data.txt")
    assert set(ds.columns) == set(table)
    for name, values in table.items():
        np.testing.assert_array_equal(ds.columns[name], values[: len(ds)])  # NaN compares equal here
    assert set(ds.sequence) == {"03"} and set(ds.subject) == {"03"}
    assert "dropped its last 1 row" in result.stderr


def test_breathing_table_longer_than_video_needs_extra_rows(cli, tmp_path, shared_data):
    from tests.conftest import assert_clean_error

    folder = shared_data / "breathing-spirometry"
    result = cli("import", folder / "00vid.mp4", tmp_path / "b.h5", "--signals", folder / "00data.txt")
    assert_clean_error(result, 1, "00data.txt", "--extra-rows")
    assert not (tmp_path / "b.h5").exists()


def test_breathing_frame_range_and_stride(cli, tmp_path, shared_data):
    folder = shared_data / "breathing-spirometry"
    out = tmp_path / "b.h5"
    result = cli(
        "import", folder / "00vid.mp4", out, "--signals", folder / "00data.txt", "--extra-rows",
        "--columns", "flow,volume", "--frames", "10:50", "--stride", "4",
    )
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    table = read_signal_table(folder / "00data.txt")
    rows = np.arange(10, 50, 4)
    assert len(ds) == len(rows)
    np.testing.assert_array_equal(ds.columns["flow"], table["flow"][rows])
    assert sorted(ds.columns) == ["flow", "volume"]
    np.testing.assert_allclose(ds.timestamp, rows / 20.0)


def test_recipe_imports_every_segment(tmp_path, shared_data):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "all.h5"
    env = dict(os.environ, THERMCLI=f"{sys.executable} -m thermcli", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        ["bash", str(REPO / "examples/breathing-spirometry/import.sh"), str(shared_data / "breathing-spirometry"), str(out)],
        env=env, capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    from thermcli.io import open_dataset

    rows = sum(len(read_signal_table(p)["flow"]) - 1 for p in sorted((shared_data / "breathing-spirometry").glob("*data.txt")))
    with open_dataset(out) as reader:  # 3710 frames: read the fields, not the pixels
        assert reader.n == rows
        assert sorted(set(reader.read_field("sequence"))) == [f"{i:02d}" for i in range(10)]
        assert {"flow", "volume"} <= set(reader.column_names)
