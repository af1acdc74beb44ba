"""Commands that fail never hang, and their worker processes never outlive them.

The hang cases ran through the console script (a real interpreter shutdown, not CliRunner):
``threshold`` and ``augment`` on a dataset with a NaN timestamp or frames with infinities
sometimes printed their error and never returned (a background thread holding h5py's lock
while the interpreter shut down). Each case runs many times, each under a 20-s timeout; the
200-run version is ``slow``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import make_dataset
from thermcli.io import write_dataset

THERMCLI = [sys.executable, "-m", "thermcli"]
TIMEOUT_S = 20


def _nan_timestamp(root: Path) -> Path:
    path = root / "nan_timestamp.h5"
    write_dataset(path, make_dataset(n=40, h=16, w=20))
    with h5py.File(path, "a") as fh:
        fh["timestamp"][17] = np.nan
    return path


def _infinities(root: Path) -> Path:
    path = root / "inf_frames.h5"
    write_dataset(path, make_dataset(n=40, h=16, w=20))
    with h5py.File(path, "a") as fh:
        frames = fh["frames"]
        frames[23, 3, 4] = np.inf
        frames[30, 0, 0] = -np.inf
    return path


INPUTS = {"nan_timestamp": _nan_timestamp, "infinities": _infinities}
COMMANDS = {
    "threshold": lambda src, out: ["threshold", str(src), str(out), "--batch-size", "8"],
    "threshold-workers": lambda src, out: ["threshold", str(src), str(out), "--batch-size", "8", "--workers", "2"],
    "augment": lambda src, out: ["augment", str(src), str(out), "--copies", "2", "--batch-size", "8"],
    "augment-workers": lambda src, out: ["augment", str(src), str(out), "--copies", "2", "--batch-size", "8", "--workers", "2"],
}
CASES = [(command, case) for command in COMMANDS for case in INPUTS]


def _run_once(argv: list[str], cwd: Path) -> tuple[int | None, str]:
    try:
        done = subprocess.run(THERMCLI + argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    return done.returncode, done.stderr


def _repeat(tmp_path: Path, command: str, case: str, runs: int) -> None:
    src = INPUTS[case](tmp_path)
    argvs = [COMMANDS[command](src, tmp_path / f"out{i}.h5") for i in range(runs)]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the hang was a race, load does not hide it
        outcomes = list(pool.map(lambda argv: _run_once(argv, tmp_path), argvs))
    hung = sum(code is None for code, _ in outcomes)
    assert hung == 0, f"{hung} of {runs} runs hung (> {TIMEOUT_S} s)"
    for code, stderr in outcomes:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1 and src.name in lines[0], (code, stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name], "output or temporary left behind"


@pytest.mark.parametrize("command,case", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_bad_input_never_hangs(tmp_path, command, case):
    _repeat(tmp_path, command, case, runs=10 if "workers" not in command else 2)


@pytest.mark.slow
@pytest.mark.parametrize("command,case", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_bad_input_never_hangs_200_runs(tmp_path, command, case):
    _repeat(tmp_path, command, case, runs=200 if "workers" not in command else 40)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
@pytest.mark.parametrize("command", ["threshold", "augment"])
def test_sigkill_of_the_parent_leaves_no_worker(tmp_path, command):
    src = tmp_path / "big.h5"
    write_dataset(src, make_dataset(n=3000, h=64, w=80, seed=3))
    argv = [command, str(src), str(tmp_path / "out.h5"), "--workers", "3", "--batch-size", "16"]
    if command == "augment":
        argv += ["--copies", "4", "--rotate", "10", "--noise", "0.05"]
    proc = subprocess.Popen(THERMCLI + argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, f"no workers seen ({proc.poll()}, {proc.stderr.read() if proc.poll() is not None else ''})"
        time.sleep(0.5)  # let them take blocks
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.05)
        left = [pid for pid in workers if _alive(pid)]
        for pid in left:  # do not leak them into the rest of the suite
            os.kill(pid, signal.SIGKILL)
        assert not left, f"workers {left} outlived their SIGKILLed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
