"""Streamed training data: peak memory flat in N, throughput against the in-memory path.

Generates (in a temporary folder, deleted afterwards) HDF5 datasets of 240×320 float32 °C frames
with two classes, written block by block, then runs ``thermcli train`` / ``predict`` / ``eval`` as
subprocesses and reads each one's peak resident memory (``VmHWM`` of the child's own address space,
written by a small wrapper as it exits — not ``ru_maxrss`` from ``os.wait4``: Python spawns children
with vfork, and the kernel carries the *parent's* high-water mark into the child's ``ru_maxrss``
at exec, so it would count this script's dataset generation):

1. one epoch with ``--cache none`` on the big set (default 6,000 frames = 1.8 GB) and on a
   quarter of it (1,500 frames): both peaks < 1.5 GB and their difference < 100 MB;
2. throughput on the small set (fits in memory) with ``--cache memory`` vs ``--cache none``
   (same model, same batches: the block plan is shared), interleaved over ``--rounds`` rounds
   because the machine is shared; the ratio of the medians, goal ≥ 0.9;
3. ``predict`` and ``eval`` of the trained model on the big set: peak < 1 GB.

    python bench/train_stream.py [--frames 6000] [--small 1500] [--rounds 3] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's thermcli
H, W = 240, 320


def make_dataset(path: Path, n: int, seed: int = 0) -> None:
    """n frames of 240×320 °C (a warm blob whose size is the class), written 250 rows at a time."""
    import numpy as np

    from thermcli.io import Dataset, Meta, create_writer

    meta = Meta(unit="celsius", modality="thermal", class_names=["small", "large"], label_kind="multiclass")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    with create_writer(path, meta) as writer:
        for lo in range(0, n, 250):
            m = min(250, n - lo)
            labels = rng.integers(0, 2, m)
            frames = (22 + rng.normal(0, 0.5, (m, H, W))).astype(np.float32)
            for i, label in enumerate(labels):
                r = 20 + 30 * label
                cy, cx = rng.integers(60, 180), rng.integers(80, 240)
                frames[i][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 8.0
            sequence = np.array([f"rec{(lo + i) // 1000}" for i in range(m)], dtype=object)
            writer.append(Dataset(frames=frames, meta=meta, labels=labels.astype(np.int64), sequence=sequence,
                                  timestamp=np.arange(lo, lo + m, dtype=np.float64) / 20.0))


# runs thermcli in this process and, as it exits, writes the peak resident memory of this
# process's own address space (VmHWM, kB) to argv[1]
WRAPPER = """
import runpy, sys
out = sys.argv[1]
sys.argv = ["thermcli", *sys.argv[2:]]
try:
    runpy.run_module("thermcli", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as fh:
        hwm = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(out, "w") as fh:
        fh.write(hwm)
"""


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of ``python -m thermcli ARGS`` run as a child."""
    with tempfile.NamedTemporaryFile("r", suffix=".hwm") as hwm:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", WRAPPER, hwm.name, *args], cwd=REPO, env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed: thermcli {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
        return seconds, int(hwm.read()) / 1024


def train_seconds(run: Path) -> float:
    """The epoch's own time from metrics.csv (without start-up and the first pass)."""
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    return float(lines[1].split(",")[header.index("seconds")])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--small", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tmp", default=None, help="Folder for the generated datasets (default: the system's).")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="thermcli-stream-", dir=args.tmp) as tmp:
        root = Path(tmp)
        big, small = root / "big.h5", root / "small.h5"
        make_dataset(big, args.frames, seed=0)
        make_dataset(small, args.small, seed=1)
        gb = args.frames * H * W * 4 / 1e9
        print(f"datasets: {args.frames} frames ({gb:.2f} GB), {args.small} frames ({args.small * H * W * 4 / 1e9:.2f} GB)")
        common = ["-q", "train", "--arch", "small_cnn", "--width", str(args.width), "--epochs", "1", "--batch-size",
                  str(args.batch_size), "--device", args.device, "--scheduler", "none", "--seed", "0"]

        def train(data: Path, cache: str, out: str) -> tuple[float, float, float]:
            seconds, peak = measure([*common[:2], str(data), *common[2:], "--cache", cache, "--out", str(root / out),
                                     "--force"], env)
            return seconds, peak, train_seconds(root / out)

        # 1. flat memory in N (streamed)
        _, peak_big, _ = train(big, "none", "big")
        _, peak_small, _ = train(small, "none", "small-none")
        results["peak_mb_big_stream"] = round(peak_big)
        results["peak_mb_small_stream"] = round(peak_small)
        results["peak_difference_mb"] = round(peak_big - peak_small)
        print(f"train --cache none: peak {peak_big:.0f} MB at {args.frames} frames, {peak_small:.0f} MB at "
              f"{args.small} (difference {peak_big - peak_small:.0f} MB; goals < 1536 MB and < 100 MB)")

        # 2. throughput: memory vs none on the small set, interleaved
        speeds: dict[str, list[float]] = {"memory": [], "none": []}
        for r in range(args.rounds):
            for cache in ("memory", "none") if r % 2 == 0 else ("none", "memory"):
                _, peak, epoch = train(small, cache, f"tp-{cache}")
                speeds[cache].append(args.small / epoch)
                results[f"peak_mb_small_{cache}"] = round(peak)
        memory, streamed = statistics.median(speeds["memory"]), statistics.median(speeds["none"])
        results["frames_per_s_memory"] = round(memory, 1)
        results["frames_per_s_stream"] = round(streamed, 1)
        results["throughput_ratio"] = round(streamed / memory, 3)
        print(f"throughput (median of {args.rounds}): memory {memory:.1f} frames/s, streamed {streamed:.1f} frames/s, "
              f"ratio {streamed / memory:.3f} (goal ≥ 0.9); rounds {speeds}")
        import torch

        a = torch.load(root / "tp-memory" / "last.pt", weights_only=True)["state_dict"]
        b = torch.load(root / "tp-none" / "last.pt", weights_only=True)["state_dict"]
        results["memory_none_identical"] = all(torch.equal(a[k], b[k]) for k in a)

        # 3. predict and eval on the big set
        model = root / "big" / "last.pt"
        _, peak_predict = measure(["-q", "predict", str(model), str(big), str(root / "pred.h5"), "--device", args.device,
                                   "--batch-size", "64"], env)
        _, peak_eval = measure(["-q", "eval", str(root / "pred.h5"), "--device", args.device], env)
        results["peak_mb_predict"] = round(peak_predict)
        results["peak_mb_eval"] = round(peak_eval)
        print(f"predict: peak {peak_predict:.0f} MB, eval: peak {peak_eval:.0f} MB (goal < 1024 MB)")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
