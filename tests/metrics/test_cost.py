"""Cost: parameter and FLOP counts against hand-computed values."""

from __future__ import annotations

import torch

from thermcli.metrics.cost import count_flops, count_parameters, measure_cost


def test_counts_of_a_known_network():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 6, 3))
    assert count_parameters(net)["total"] == 4 * 9 + 4 * 30 * 3 + 3
    # conv: 2 FLOPs per multiply-add, 9 taps, 4 outputs at each of 30 pixels; linear: 2·120·3
    assert count_flops(net, torch.zeros(1, 1, 5, 6)) == 2 * 9 * 4 * 30 + 2 * 120 * 3
    cost = measure_cost(net, (1, 5, 6), torch.device("cpu"), batch_size=8, repeats=3, warmup=1)
    assert cost["latency_ms"] > 0 and cost["throughput_fps"] > 0 and cost["flops"] == 2 * 9 * 4 * 30 + 720
