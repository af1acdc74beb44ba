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

import pytest

from tests.conftest import make_dataset
from thermcli.io import write_dataset

MOUNT_MB = 4


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
    return root


NO_CHECK = """
import sys
import thermcli.io.hdf5 as hdf5
hdf5.check_space = lambda *args, **kwargs: None  # reach the ENOSPC path itself
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
    "threshold-nocheck": (lambda i, o: ["threshold", i / "big.h5", o / "t.h5"], None),
    "split-nocheck": (lambda i, o: ["split", i / "big.h5", o / "s", "--by", "subject"], None),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_full_disk_is_one_line_and_leaves_nothing(full_fs, inputs, writer):
    build, leave_kib = WRITERS[writer]
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
