"""``--device auto|cpu|cuda[:N]`` → a torch.device, with a clear error when it is not there."""

from __future__ import annotations

import re

from thermcli.errors import UsageError


def resolve_device(text: str = "auto"):
    import torch

    text = (text or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise UsageError(f"{text!r}: expected auto, cpu, cuda or cuda:N", param="--device")
    if not torch.cuda.is_available():
        raise UsageError(f"{text!r} asked for, but no CUDA GPU is available here", param="--device")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise UsageError(f"{text!r}: only {torch.cuda.device_count()} GPU(s) here", param="--device")
    return torch.device(f"cuda:{index}")


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA). NumPy code takes an explicit ``np.random.default_rng(seed)``."""
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
