"""examples/breathing-spirometry/make_phase_dataset.py: the crop sits on the mouth ROI, read with
NNdata.txt's swapped columns (``position_x`` = row, ``position_y`` = column)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "breathing-spirometry" / "make_phase_dataset.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_phase_dataset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _raw_table(path: Path) -> np.ndarray:
    """NNdata.txt parsed independently of thermcli: header ``++…``, cells ``$$value``."""
    rows = [[float(c.replace("$", "")) for c in line.split()]
            for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("+")]
    return np.array(rows)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["01", "09"])
def test_crop_centre_is_the_swapped_roi(shared_data, name):
    import cv2

    folder = shared_data / "breathing-spirometry"
    module = _script()
    ds, (x0, y0) = module.segment(folder, name)
    table = _raw_table(folder / f"{name}data.txt")
    found = table[:, 4] > 0  # radius 0 = ROI lost
    column = int(round(np.median(table[found, 3])))  # position_y
    row = int(round(np.median(table[found, 2])))  # position_x
    assert abs(column - row) > 20  # the two readings differ: the test can tell them apart
    assert (x0 + module.CROP // 2, y0 + module.CROP // 2) == (column, row)
    # the stored frames are that window of the video, resized
    capture = cv2.VideoCapture(str(folder / f"{name}vid.mp4"))
    ok, first = capture.read()
    capture.release()
    assert ok
    grey = cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
    window = grey[y0 : y0 + module.CROP, x0 : x0 + module.CROP]
    expected = cv2.resize(window, (module.SIZE, module.SIZE), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(ds.frames[0], expected)


@pytest.mark.shared_data
def test_written_dataset_keeps_flow_labels(shared_data, tmp_path):
    from thermcli.io import read_dataset
    from thermcli.io.spirometry import read_nndata

    folder = tmp_path / "data"
    folder.mkdir()
    for suffix in ("vid.mp4", "data.txt"):
        (folder / f"02{suffix}").symlink_to(shared_data / "breathing-spirometry" / f"02{suffix}")
    out = tmp_path / "phase.h5"
    _script().main([str(folder), str(out), "--crop", "64"])
    ds = read_dataset(out)
    flow = read_nndata(folder / "02data.txt")["flow"][: len(ds)]
    # label rule restated: zero = centre of the fullest 0.005 bin in 0.38–0.42, ±0.02 = pause
    counts, edges = np.histogram(flow[np.isfinite(flow)], bins=np.linspace(0.38, 0.42, 9))
    zero = (edges[counts.argmax()] + edges[counts.argmax() + 1]) / 2
    expected = np.where(flow > zero + 0.02, 1, np.where(flow < zero - 0.02, 0, -1))
    np.testing.assert_array_equal(ds.labels, expected)
    assert ds.frames.shape[1:] == (40, 40) and ds.meta.attrs["crop"] == 64
    assert set(ds.sequence) == {"02"} and ds.meta.class_names == ["INH", "EXH"]


def test_background_subtraction_keeps_only_the_change():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 5, 4)).astype(np.uint8)
    out = _script().subtract_background(frames)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    for i in range(frames.shape[1]):  # reference: each pixel's own median, plain Python
        for j in range(frames.shape[2]):
            series = sorted(int(v) for v in frames[:, i, j])
            median = series[len(series) // 2]
            expected = [min(255, max(0, int(v) - median + 128)) for v in frames[:, i, j]]
            assert out[:, i, j].tolist() == expected
    still = np.full((4, 3, 3), 200, np.uint8)  # a still scene → mid-grey, whatever its level
    assert (_script().subtract_background(still) == 128).all()
