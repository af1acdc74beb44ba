"""``--metric cost``: parameters, FLOPs, latency per frame at batch 1, throughput at a batch size.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass at batch 1
(a multiply-add counts as 2 FLOPs, as the counter does). Timings are medians over repeated runs
after warm-up, on the chosen device (CUDA synchronised around each run).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

FAMILY = "cost"
METRICS = ("cost", "params", "flops", "latency", "throughput")
GATES = ()


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": int(total), "trainable": int(trainable)}


def count_flops(model, example) -> int:
    """FLOPs of one forward pass on ``example`` (a tensor)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    return int(counter.get_total_flops())


def _timed(model, x, device, repeats: int, warmup: int) -> list[float]:
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            sync()
            t0 = time.perf_counter()
            model(x)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def measure_cost(model, input_shape: tuple[int, ...], device, *, batch_size: int = 64, repeats: int = 20,
                 warmup: int = 5) -> dict[str, Any]:
    """input_shape = (C, H, W) of one sample."""
    import torch

    model = model.to(device).eval()
    one = torch.zeros((1, *input_shape), device=device)
    many = torch.zeros((batch_size, *input_shape), device=device)
    latency = statistics.median(_timed(model, one, device, repeats, warmup))
    batch_time = statistics.median(_timed(model, many, device, max(3, repeats // 4), max(1, warmup // 2)))
    params, flops = count_parameters(model), count_flops(model, one)
    return {
        "params": params,
        "flops": flops,
        "params_m": params["total"] / 1e6,  # the pose paper's Table I units
        "gflops": flops / 1e9,
        "input_shape": list(input_shape),
        "device": str(device),
        "latency_ms": latency * 1e3,
        "throughput_fps": batch_size / batch_time,
        "throughput_batch": batch_size,
        "repeats": repeats,
        "warmup": warmup,
    }


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    model, input_shape = context.model_for_cost()
    return measure_cost(model, input_shape, context.device(), batch_size=context.batch_size,
                        repeats=context.options.get("repeats", 20), warmup=context.options.get("warmup", 5))


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    table = Table(title=f"cost on {result['device']} (input {result['input_shape']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("parameters", f"{result['params']['total']:,}")
    table.add_row("FLOPs / frame", f"{result['flops']:,}")
    table.add_row("latency (batch 1, median)", f"{result['latency_ms']:.3f} ms")
    table.add_row(f"throughput (batch {result['throughput_batch']})", f"{result['throughput_fps']:.1f} frames/s")
    return [table]
