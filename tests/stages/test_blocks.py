"""stages.blocks: ordered parallel blocks, errors carried back, a dying worker fails cleanly."""

from __future__ import annotations

import os

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


def test_background_returns_or_raises():
    assert Background(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        Background(lambda: 1 / 0).result()
