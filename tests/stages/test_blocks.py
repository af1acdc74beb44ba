"""stages.blocks: ordered parallel blocks, errors carried back, a dying worker fails cleanly."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_dataset
from thermcli.errors import DataError
from thermcli.io import write_dataset
from thermcli.stages.blocks import Background, blocks, run_blocks


def double_frames(batch, lo, hi, args):
    return batch.replace(frames=batch.frames * np.float32(args), columns={"row": np.arange(lo, hi)})


def fail_on_block_two(batch, lo, hi, args):
    if lo == 2 * args:
        raise DataError("bad block", path="somewhere.h5")
    return batch


def die(batch, lo, hi, args):
    os._exit(3)  # a worker killed by the OOM killer looks like this to its parent


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src.h5"
    write_dataset(path, make_dataset(n=11, h=6, w=5))
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_blocks_come_back_in_order(src, workers):
    work = [(b, b, 2.0) for b in blocks(0, 11, 3)]
    parts = list(run_blocks(src, double_frames, work, workers=workers))
    assert [p.columns["row"].tolist() for p in parts] == [list(range(lo, hi)) for lo, hi in blocks(0, 11, 3)]
    frames = np.concatenate([p.frames for p in parts])
    np.testing.assert_array_equal(frames, make_dataset(n=11, h=6, w=5).frames * 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_library_errors_keep_their_path(src, workers):
    work = [(b, b, 3) for b in blocks(0, 11, 3)]
    with pytest.raises(DataError) as info:
        list(run_blocks(src, fail_on_block_two, work, workers=workers))
    assert info.value.path == "somewhere.h5" and info.value.one_line() == "somewhere.h5: bad block"


def test_a_dying_worker_fails_the_command_instead_of_hanging(src):
    work = [(b, b, None) for b in blocks(0, 11, 3)]
    with pytest.raises(DataError, match="worker process died"):
        list(run_blocks(src, die, work, workers=2))


def test_a_worker_killed_by_the_terminals_ctrl_c_is_a_stop_not_a_fault(src):
    """Ctrl-C reaches the whole process group: when the pool breaks after this process's stop
    was requested, the command ends as interrupted (exit 130), not with "a worker died"."""
    from thermcli import interrupt

    work = [(b, b, None) for b in blocks(0, 11, 3)]
    interrupt.request()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(run_blocks(src, die, work, workers=2))
    finally:
        interrupt.reset()


def test_background_returns_or_raises():
    assert Background(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        Background(lambda: 1 / 0).result()


def _write(path, src, workers, job=double_frames, compression=None, rows_out=lambda lo, hi: hi - lo):
    from thermcli.io import HDF5Writer, open_dataset
    from thermcli.stages.blocks import write_blocks

    with open_dataset(src) as reader:
        meta = reader.meta
    work = [(b, b, 2.0) for b in blocks(0, 11, 3)]
    with HDF5Writer(path, meta, compression=compression) as writer:
        write_blocks(src, job, work, writer, workers=workers, rows_out=rows_out)


def test_workers_write_frames_straight_into_the_output(src, tmp_path):
    """Several workers + HDF5: frames are written by the workers into one contiguous block that
    the parent reserved; the data equal a one-worker run's."""
    import h5py

    from thermcli.io import read_dataset

    _write(tmp_path / "one.h5", src, 1)
    _write(tmp_path / "two.h5", src, 2)
    one, two = read_dataset(tmp_path / "one.h5"), read_dataset(tmp_path / "two.h5")
    np.testing.assert_array_equal(two.frames, make_dataset(n=11, h=6, w=5).frames * 2)
    np.testing.assert_array_equal(one.frames, two.frames)
    np.testing.assert_array_equal(one.columns["row"], two.columns["row"])
    np.testing.assert_array_equal(one.labels, two.labels)
    with h5py.File(tmp_path / "two.h5") as fh, h5py.File(tmp_path / "one.h5") as f1:
        assert fh["frames"].chunks is None and f1["frames"].chunks is not None


def test_compressed_output_gets_its_blocks_back_through_the_parent(src, tmp_path):
    import h5py

    from thermcli.io import read_dataset

    _write(tmp_path / "c.h5", src, 2, compression="gzip")
    np.testing.assert_array_equal(read_dataset(tmp_path / "c.h5").frames, make_dataset(n=11, h=6, w=5).frames * 2)
    with h5py.File(tmp_path / "c.h5") as fh:
        assert fh["frames"].compression == "gzip"


def fail_on_block_three(batch, lo, hi, args):
    if lo == 6:
        raise DataError("bad block", path="somewhere.h5")
    return batch


@pytest.mark.parametrize("job,match", [(fail_on_block_three, "bad block"), (double_frames, "gave 3 rows, expected 6")])
def test_a_failing_block_in_a_worker_leaves_no_output(src, tmp_path, job, match):
    out = tmp_path / "out.h5"
    with pytest.raises(DataError, match=match):
        _write(out, src, 2, job=job, rows_out=(lambda lo, hi: hi - lo) if job is fail_on_block_three else (lambda lo, hi: 2 * (hi - lo)))
    assert not out.exists() and list(tmp_path.glob("*.h5")) == [src]


_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from thermcli.stages.blocks import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()  # idempotent
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = faults()
for _ in range(20):  # a threshold block: float32 frames in, a uint8 mask, three copies out
    frames = np.ones((64, 256, 256), np.float32)
    copies = np.repeat((frames > 0.5).astype(np.uint8), 3, axis=0)
    del frames, copies
print((faults() - start) / 20)
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_keep_freed_memory_reuses_block_buffers_instead_of_faulting_them_in_again():
    """glibc by default gives a block's freed buffers back to the kernel and faults them in again
    on the next block (16 MB of float32 frames: 4,096 pages); with the thresholds fixed the pages
    are reused block after block."""
    import subprocess

    def faults_per_block(mode: str) -> float:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, env=env, check=True)
        return float(out.stdout.split()[-1])

    default, tuned = faults_per_block("default"), faults_per_block("tuned")
    assert default > 1000  # the glibc default this guards against: the buffers fault in again
    assert tuned < 200 and tuned < default / 10
