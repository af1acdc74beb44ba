"""Model cost: parameters (millions) and FLOPs (billions) for one input, as the pose paper's
Table I reports them. FLOPs are counted by ``torch.utils.flop_counter`` (a multiply-add = 2
FLOPs: convolutions, transposed convolutions, linear layers, attention matmuls)."""

from __future__ import annotations

from typing import Any, Sequence


def model_cost(model: Any, input_shape: Sequence[int]) -> dict[str, float]:
    """``input_shape`` (C, H, W) of one sample → {"params_m", "gflops", "gmacs"} (batch of 1)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    x = torch.zeros((1, *[int(v) for v in input_shape]), device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    model.train(was_training)
    flops = counter.get_total_flops()
    return {"params_m": params / 1e6, "gflops": flops / 1e9, "gmacs": flops / 2e9,
            "input_shape": [int(v) for v in input_shape]}
