"""Every writing command on a full filesystem: exit 1, one line naming the output and saying
the disk is full, no traceback, no segfault (exit 139), nothing left (no hidden temporary).

A small tmpfs is mounted for the test where that is allowed (root in a container, as in CI),
else the test is skipped with the reason. The commands run through the console script in a
subprocess: a crash in HDF5's exit-time cleanup is what the test must see. In the ``-nocheck``
cases a wrapper switches the HDF5 writer's free-space pre-check off, so that the ENOSPC path
itself (HDF5 meeting the full disk) is exercised."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import make_dataset
from thermcli.io import write_dataset

MOUNT_MB = 4
TUG = Path(__file__).resolve().parents[2] / "sample_data" / "tug"


@pytest.fixture(scope="module")
def full_fs(tmp_path_factory):
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("needs Linux and mount(8) for a small tmpfs")
    mount = tmp_path_factory.mktemp("tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={MOUNT_MB}m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk-full-inputs")
    write_dataset(root / "big.h5", make_dataset(n=400, h=64, w=80, keypoints=True))
    preds = make_dataset(n=400, h=64, w=80, seed=1)
    preds.meta.attrs["predictions"] = {"task": "classify", "model": "m.pt"}
    write_dataset(root / "preds.h5", preds)
    write_dataset(root / "small.h5", make_dataset(n=24, h=64, w=80))
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    runner = CliRunner()
    for argv in (["train", root / "small.h5", "--task", "classify", "--arch", "small_cnn", "--width", "4", "--epochs", "1",
                  "--batch-size", "8", "--out", root / "run"],
                 ["export", root / "big.h5", root / "pngs", "--to", "png"]):
        result = runner.invoke(app, [str(a) for a in argv])
        assert result.exit_code == 0, result.output
    return root


NO_CHECK = """
import sys
import thermcli.io.checkpoint as checkpoint
import thermcli.io.hdf5 as hdf5
hdf5.check_space = lambda *args, **kwargs: None  # reach the ENOSPC path itself
checkpoint.check_space = lambda *args, **kwargs: None
from thermcli.cli.main import main
sys.argv = ["thermcli", *sys.argv[1:]]
main()
"""

# name → (argv builder (inputs folder, output folder) → argv, fill the disk to leave KiB free first)
WRITERS = {
    "threshold": (lambda i, o: ["threshold", i / "big.h5", o / "t.h5"], None),
    "threshold-workers": (lambda i, o: ["threshold", i / "big.h5", o / "t.h5", "--workers", "2"], None),
    "threshold-png": (lambda i, o: ["threshold", i / "big.h5", o / "t"], None),
    "augment": (lambda i, o: ["augment", i / "big.h5", o / "a.h5", "--copies", "2"], None),
    "merge": (lambda i, o: ["merge", i / "big.h5", i / "big.h5", o / "m.h5"], None),
    "split": (lambda i, o: ["split", i / "big.h5", o / "s", "--by", "subject"], None),
    "export": (lambda i, o: ["export", i / "big.h5", o / "e"], None),
    "synth": (lambda i, o: ["synth", "breathing", o / "b.h5"], 512),
    "annotate-mp4": (lambda i, o: ["annotate", i / "big.h5", o / "v.mp4"], None),
    "annotate-folder": (lambda i, o: ["annotate", i / "big.h5", o / "frames"], None),
    "annotate-sheet": (lambda i, o: ["annotate", i / "big.h5", o / "sheet.png", "--frames", "0:12"], 48),
    "roi": (lambda i, o: ["roi", i / "big.h5", o / "r", "--band", "30:37"], 48),
    "eval-output": (lambda i, o: ["eval", i / "preds.h5", i / "big.h5", "--output", o / "m.json"], 0),
    # training commands: the disk fills at the first checkpoint (config.json fits) → no run folder
    "train": (lambda i, o: ["train", i / "small.h5", "--task", "classify", "--arch", "small_cnn", "--width", "4",
                            "--epochs", "1", "--batch-size", "8", "--out", o / "run"], 48),
    "train-nocheck": (lambda i, o: ["train", i / "small.h5", "--task", "classify", "--arch", "small_cnn", "--width", "4",
                                    "--epochs", "1", "--batch-size", "8", "--out", o / "run"], 24),
    "distill": (lambda i, o: ["distill", i / "small.h5", "--task", "classify", "--teacher", i / "run" / "best.pt",
                              "--student", "small_cnn", "--width", "4", "--epochs", "1", "--batch-size", "8",
                              "--out", o / "run"], 48),
    "adapt": (lambda i, o: ["adapt", i / "small.h5", i / "small.h5", "--out", o / "run", "--source-epochs", "1",
                            "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8", "--feature-dim", "8",
                            "--disc-hidden", "8", "--threads", "1"], 48),
    "adapt-nocheck": (lambda i, o: ["adapt", i / "small.h5", i / "small.h5", "--out", o / "run", "--source-epochs", "1",
                                    "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8", "--feature-dim", "8",
                                    "--disc-hidden", "8", "--threads", "1"], 24),
    "predict": (lambda i, o: ["predict", i / "run" / "best.pt", i / "big.h5", o / "p.h5"], 200),
    "predict-nocheck": (lambda i, o: ["predict", i / "run" / "best.pt", i / "big.h5", o / "p.h5"], 64),
    "import": (lambda i, o: ["import", i / "pngs" / "frames", o / "x.h5"], None),
    "import-nocheck": (lambda i, o: ["import", i / "pngs" / "frames", o / "x.h5"], None),
    "align": (lambda i, o: ["align", TUG / "thermal.h5", TUG / "rgb.h5", o / "x.h5", "--transform", TUG / "homography.json",
                            "--apply"], 200),
    "align-nocheck": (lambda i, o: ["align", TUG / "thermal.h5", TUG / "rgb.h5", o / "x.h5", "--transform",
                                    TUG / "homography.json", "--apply"], 200),
    "export-model": (lambda i, o: ["export-model", i / "run" / "best.pt", o / "m.onnx"], 0),
    "threshold-nocheck": (lambda i, o: ["threshold", i / "big.h5", o / "t.h5"], None),
    "split-nocheck": (lambda i, o: ["split", i / "big.h5", o / "s", "--by", "subject"], None),
    "tug": (lambda i, o: ["tug", TUG / "thermal.h5", o / "t"], 16),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_full_disk_is_one_line_and_leaves_nothing(full_fs, inputs, writer):
    build, leave_kib = WRITERS[writer]
    if writer.startswith(("align", "tug")) and not TUG.is_dir():
        pytest.skip("sample_data/tug is not in this checkout")
    out = full_fs / uuid.uuid4().hex[:8]
    out.mkdir()
    filler = None
    try:
        if leave_kib is not None:
            free = os.statvfs(full_fs).f_bavail * os.statvfs(full_fs).f_frsize
            filler = full_fs / f"filler-{out.name}"
            with open(filler, "wb") as fh:
                fh.write(b"\0" * max(0, free - leave_kib * 1024))
        argv = [str(a) for a in build(inputs, out)]
        launcher = [sys.executable, "-c", NO_CHECK] if writer.endswith("nocheck") else [sys.executable, "-m", "thermcli"]
        done = subprocess.run(launcher + argv, capture_output=True, text=True, timeout=300)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "no space left on device" in lines[0] or "disk full" in lines[0], lines[0]
        assert str(out) in lines[0], lines[0]
        assert sorted(os.listdir(out)) == [], "output or temporary left behind"
    finally:
        if filler is not None:
            filler.unlink()
        shutil.rmtree(out, ignore_errors=True)


READS_ONLY = {"info"}  # writes nothing but stdout


def test_every_writing_command_is_in_the_table():
    """A new command fails here until it has a full-disk row (or is declared read-only)."""
    from thermcli.cli.main import COMMANDS as REGISTERED

    covered = {name if name in REGISTERED else name.split("-")[0] for name in WRITERS}
    covered |= {name for name in REGISTERED if any(w.startswith(f"{name}-") or w == name for w in WRITERS)}
    assert set(REGISTERED) - READS_ONLY <= covered, set(REGISTERED) - READS_ONLY - covered
