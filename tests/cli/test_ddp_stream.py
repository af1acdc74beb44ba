"""DDP on streamed data: under `torchrun --nproc_per_node 2` (gloo, CPU) each process reads only
its half of the blocks, reshuffled each epoch, and the weights equal a one-process run whose
batch is the two processes' batches together."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_ddp import REPO, _free_port
from tests.conftest import make_dataset

torch = pytest.importorskip("torch")


@pytest.mark.slow
def test_two_processes_read_half_the_blocks_each_and_match_one(tmp_path, cli, monkeypatch):
    from thermcli.io import write_dataset

    ds = make_dataset(n=160, h=12, w=10, seed=5)
    ds.labels = (np.arange(160) // 3 % 2).astype(np.int64)
    data = tmp_path / "train.h5"
    write_dataset(data, ds, batch_size=8)  # chunks of 8 rows → 20 blocks of 8
    common = ["train", str(data), "--arch", "small_cnn", "--width", "4", "--norm", "group", "--dropout", "0",
              "--balance", "none", "--epochs", "2", "--batch-size", "16", "--seed", "3", "--device", "cpu",
              "--scheduler", "none", "--cache", "none"]
    block_env = {"THERMCLI_BLOCK_BYTES": str(12 * 10 * 4 * 8)}
    for key, value in block_env.items():
        monkeypatch.setenv(key, value)
    one = cli("-q", *common, "--out", tmp_path / "one")  # batch 16 in one process
    assert one.exit_code == 0, one.output
    env = {**os.environ, **block_env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "THERMCLI_STREAM_TRACE": str(tmp_path / "reads")}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(_free_port()), "-m", "thermcli", "-q", *common, "--out", str(tmp_path / "two")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=2e-5, rtol=1e-4), key
    epochs = {}
    for rank in (0, 1):
        text = Path(f"{tmp_path / 'reads'}.{rank}").read_text().split("epoch\n")[1:]
        epochs[rank] = [[int(line) for line in part.split()] for part in text]
        assert len(epochs[rank]) == 2
    for e in range(2):
        reads = [epochs[0][e], epochs[1][e]]
        for rank in (0, 1):
            assert len(set(reads[rank])) == len(reads[rank])  # each block read once
            assert 9 <= len(reads[rank]) <= 11, reads  # about half of the 20 blocks
        assert len(set(reads[0]) & set(reads[1])) <= 1  # at most the block cut between the halves
        assert len(set(reads[0]) | set(reads[1])) >= 19
    assert set(epochs[0][0]) != set(epochs[0][1])  # reshuffled each epoch
