"""examples/faces/Makefile: real thermal-faces frames → face detector → roi --anchor face → a series
per face region and a picture; without ../shared/data it stops at once saying what is missing."""

from __future__ import annotations

import csv
import shutil
import sys

import pytest

from tests.examples.test_makefiles import make, up_to_date

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")

REGIONS = ("face", "forehead", "periorbital_left", "periorbital_right", "nose", "mouth")


def test_missing_data_is_one_clear_message(tmp_path):
    out = tmp_path / "out"
    result = make("faces", f"OUT={out}", f"DATA={tmp_path / 'absent'}", f"PYTHON={sys.executable}", check=False, jobs=1)
    assert result.returncode != 0
    assert f"missing {tmp_path / 'absent'}" in result.stderr and "DATA=" in result.stderr
    assert not any(out.rglob("*.h5")) if out.exists() else True


@pytest.mark.slow
def test_faces_example_end_to_end(shared_data, tmp_path):
    out = tmp_path / "out"
    args = (f"OUT={out}", "EPOCHS=1", f"PYTHON={sys.executable}")
    make("faces", *args, f"THERMCLI={sys.executable} -m thermcli")
    with open(out / "roi" / "series.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 28
    for name in REGIONS:
        assert f"{name}.mean" in rows[0]
    assert {"face_x", "face_y", "face_w", "face_h", "face_score", "face_held", "face_lost"} <= set(rows[0])
    assert (out / "faces-roi.png").stat().st_size > 1000
    assert up_to_date("faces", *args, f"THERMCLI={sys.executable} -m thermcli") == 0
