"""DDP: `torchrun --nproc_per_node 2` (gloo on CPU) gives the single-process result at the same
global batch. Group norm and no dropout, so the only difference could be how the batch is split."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from thermcli.io import write_dataset

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one(tmp_path, cli):
    from thermcli.synth import breathing

    data = tmp_path / "train.h5"
    write_dataset(data, breathing.generate(seed=2, scale=0.2)["breathing.h5"])
    common = ["train", str(data), "--arch", "small_cnn", "--width", "4", "--norm", "group", "--dropout", "0",
              "--balance", "none", "--epochs", "2", "--batch-size", "16", "--seed", "3", "--device", "cpu",
              "--scheduler", "none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    one = cli("-q", *common, "--out", tmp_path / "one")  # in this process: one torch import fewer
    assert one.exit_code == 0, one.output
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
                          "-m", "thermcli", "-q", *common, "--out", str(tmp_path / "two")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=2e-5, rtol=1e-4), key
    start = torch.load(tmp_path / "one" / "best.pt", weights_only=True)["state_dict"]
    import json

    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world_size"] == 2  # rank 0 wrote the outputs of the 2-process run
    assert start  # a best.pt exists in both
    assert (tmp_path / "two" / "metrics.csv").read_text().count("\n") == 3
