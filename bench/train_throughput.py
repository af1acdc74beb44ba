"""Training throughput: thermcli's training loop and data pipeline vs a bare PyTorch loop.

Both train the same model (small_cnn) with the same optimiser, batch size and in-memory tensors
for the same number of epochs; thermcli's side is the real ``fit`` (epoch order, K-frame windows,
class weights, per-epoch checkpoints, metrics.csv, curves.png). Prints frames/s and the ratio
(goal ≥ 0.9).

    python bench/train_throughput.py [--frames 8192] [--epochs 3] [--batch-size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's thermcli


def main(argv: list[str] | None = None) -> float:
    import numpy as np
    import torch

    from thermcli.models.registry import create_model
    from thermcli.runs import RunDir
    from thermcli.stages.classify_data import ClassifyData, Normalization
    from thermcli.stages.train_classify import ClassifyConfig, ClassifyTask
    from thermcli.stages.trainer import LoopConfig, fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    inputs = torch.from_numpy(rng.normal(size=(args.frames, 20, 24)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 2, args.frames).astype(np.int64))
    n_steps = args.epochs * (args.frames // args.batch_size)

    def model():
        torch.manual_seed(0)
        return create_model("small_cnn", in_chans=1, num_classes=2, width=16)

    # warm-up (first-call allocations, kernels) so neither side pays it inside the timing
    net = model()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(net(inputs[: args.batch_size].unsqueeze(1)), labels[: args.batch_size])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def bare_loop() -> float:
        """Bare PyTorch: index the tensors, forward, loss, backward, step."""
        net = model()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        net.train()
        t0 = time.perf_counter()
        for epoch in range(args.epochs):
            order = torch.randperm(args.frames, generator=torch.Generator().manual_seed(epoch))
            for i in range(0, args.frames - args.batch_size + 1, args.batch_size):
                rows = order[i : i + args.batch_size]
                x, y = inputs[rows].unsqueeze(1), labels[rows]
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return n_steps * args.batch_size / (time.perf_counter() - t0)

    def thermcli_fit() -> float:
        """The same tensors through ClassifyData / ClassifyTask / fit (run folder and all)."""
        data = ClassifyData(inputs, labels, torch.arange(args.frames)[:, None], ["a", "b"], (20, 24), "memory")
        cfg = ClassifyConfig(arch="small_cnn", balance="weights", model_kwargs=(("width", 16),))
        loop = LoopConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, patience=0, monitor="train_loss",
                          mode="min", device="cpu", scheduler="none")
        net = model()
        task = ClassifyTask(cfg, loop, data, None, 2, Normalization(), model_kwargs={"width": 16})
        with tempfile.TemporaryDirectory() as tmp:
            run = RunDir(tmp + "/run")
            t0 = time.perf_counter()
            fit(net, task, loop, run, show_progress=False)
            return n_steps * args.batch_size / (time.perf_counter() - t0)

    # interleaved rounds, medians: a shared machine's load drifts during the run
    bares, ours_all = [], []
    for _ in range(args.rounds):
        bares.append(bare_loop())
        ours_all.append(thermcli_fit())
    bare, ours = statistics.median(bares), statistics.median(ours_all)
    ratio = ours / bare
    print(f"bare PyTorch loop : {bare:9.1f} frames/s")
    print(f"thermcli fit      : {ours:9.1f} frames/s")
    print(f"ratio thermcli / bare = {ratio:.3f} (goal >= 0.9; {args.frames} frames 20x24, small_cnn, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.threads} thread, median of {args.rounds} interleaved rounds)")
    return ratio


if __name__ == "__main__":
    main()
