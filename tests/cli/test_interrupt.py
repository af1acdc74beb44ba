"""Ctrl-C (SIGINT) and SIGTERM stop a long command cleanly: exit 130, one line, no partial
output; an interrupted training run keeps a `last.pt` that `--resume` continues from."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, make_dataset, sha256
from thermcli.io import write_dataset


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "thermcli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"command ended early: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_streaming_command_interrupted_writes_nothing(tmp_path, signum):
    big = tmp_path / "big.h5"
    ds = make_dataset(n=3000, h=64, w=64, labels=False)
    write_dataset(big, ds)
    before = sha256(big)
    out = tmp_path / "out.h5"
    proc = _start(["threshold", str(big), str(out), "--range", "10:250:10", "--method", "canny"], tmp_path)
    time.sleep(2.0)  # well into the work (it takes far longer than this)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert sha256(big) == before


def test_ctrl_c_with_workers_stops_every_process_and_writes_nothing(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the parent and its workers (which
    write their frames straight into the output's temporary file) all stop; nothing is left."""
    big = tmp_path / "big.h5"
    write_dataset(big, make_dataset(n=12000, h=64, w=64, labels=False))  # ~10 s of work even with 2 workers
    before = sha256(big)
    out = tmp_path / "out.h5"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        # --emit mask: uint8 rows, 1.2 GB reserved rather than 4.7 GB (the writer now checks the free space
        # for the whole reservation before any work, issue 23); the same work per frame
        [sys.executable, "-m", "thermcli", "threshold", str(big), str(out), "--range", "10:250:10", "--method", "canny",
         "--emit", "mask", "--workers", "2"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    _wait_for(lambda: any(p.name.startswith(".out.h5") for p in tmp_path.iterdir()), proc)  # writing has begun
    time.sleep(1.0)  # workers busy writing their rows
    assert proc.poll() is None, proc.stderr.read()
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]
    assert sha256(big) == before


def test_training_interrupted_then_resumed(tmp_path):
    from thermcli.models.checkpoint import read_checkpoint

    data = tmp_path / "train.h5"
    ds = make_dataset(n=64, h=12, w=10)
    ds.labels = (np.arange(64) % 2).astype(np.int64)
    write_dataset(data, ds)
    run = tmp_path / "run"
    common = ["train", str(data), "--task", "classify", "--arch", "small_cnn", "--batch-size", "8", "--out", str(run)]
    proc = _start([*common, "--epochs", "100000"], tmp_path)
    _wait_for(lambda: (run / "last.pt").exists(), proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "temporary left in the run folder"
    epoch = int(read_checkpoint(run / "last.pt")["extra"]["epoch"])
    resumed = _start([*common, "--epochs", str(epoch + 3), "--resume"], tmp_path)
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    with open(run / "metrics.csv") as fh:
        epochs = [int(row["epoch"]) for row in csv.DictReader(fh)]
    assert epochs == list(range(epoch + 3))
    assert int(read_checkpoint(run / "last.pt")["extra"]["epoch"]) == epoch + 2
