"""examples/breathing-spirometry-raw/Makefile: a whole raw recording → synced dataset → roi → eval
--metric bland-altman → report.md; without ../shared/data it says so and does nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")

EXAMPLE = REPO / "examples" / "breathing-spirometry-raw"


def _make(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    cmd = ["make", "-C", str(EXAMPLE), f"THERMCLI={sys.executable} -m thermcli", f"PYTHON={sys.executable}", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_without_the_real_data_it_says_so_and_writes_nothing(tmp_path):
    result = _make(f"OUT={tmp_path / 'out'}", f"RAW={tmp_path / 'absent'}", "REC=1")
    assert result.returncode == 0, result.stderr
    assert "is absent" in result.stdout and "nothing to do" in result.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.shared_data
def test_recording_1_end_to_end(tmp_path, shared_data):
    out = tmp_path / "out"
    result = _make(f"OUT={out}", "REC=1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = out / "rec1"
    report = (folder / "report.md").read_text()
    sync = json.loads((folder / "sync.json").read_text())["sync"]
    assert sync["marks"] == 6 and sync["signal_rate_hz"] == 20.0 and sync["frames_covered"] == sync["frames"] == 3515
    ba = json.loads((folder / "bland-altman.json").read_text())["metrics"]["bland-altman"]
    assert ba["n"] >= 25 and ba["loa"][0] < ba["bias"] < ba["loa"][1]
    assert f"{ba['mae']:.2f}" in report and f"{sync['offset_s']:+.3f}" in report
    for png in ("bland-altman.png", "rate.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG"
    again = _make(f"OUT={out}", "REC=1", "-q")
    assert again.returncode == 0  # nothing left to do
