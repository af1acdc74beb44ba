"""The smallest frames a model takes: its convolutions and poolings shrink the input, and a frame
smaller than they allow failed deep in torch ("RuntimeError: Given input size: (16x1x1).
Calculated output size: (16x0x0)"). Probed with a forward pass on zeros, before any training."""

from __future__ import annotations

from typing import Any

PROBE_BELOW = 64  # frames at least this large in both sides are not probed (no model here needs more)
LARGEST = 1024

_TOO_SMALL = ("Output size is too small", "Given input size", "Kernel size can't be greater", "input image (",
              "Expected more than 1 value per channel", "negative dimension", "non-positive")


def minimum_side(model: Any, in_chans: int, frame_shape: tuple[int, int]) -> int | None:
    """None when ``model`` takes ``frame_shape`` (H, W) frames (or they are not probed, being
    ≥ ``PROBE_BELOW`` px a side, or the probe fails for another reason); else the smallest side
    ``S`` whose ``S × S`` frames it takes (None if none up to ``LARGEST``)."""

    h, w = int(frame_shape[0]), int(frame_shape[1])
    if min(h, w) >= PROBE_BELOW:
        return None
    training = model.training
    model.eval()
    try:
        if _takes(model, in_chans, h, w) is not False:  # it works, or the probe cannot tell: do not judge
            return None
        lo, hi = 0, 1  # lo: a side known to fail (0: none yet); hi: the side tried next
        while True:
            verdict = _takes(model, in_chans, hi, hi)
            if verdict is None:
                return None
            if verdict:
                break
            lo, hi = hi, hi * 2
            if hi > LARGEST:
                return None
        while hi - lo > 1:  # lo fails, hi works
            mid = (lo + hi) // 2
            verdict = _takes(model, in_chans, mid, mid)
            if verdict is None:
                return None
            lo, hi = (lo, mid) if verdict else (mid, hi)
        return hi
    finally:
        model.train(training)


def _takes(model: Any, in_chans: int, h: int, w: int) -> bool | None:
    """True: a forward pass on (1, C, h, w) works; False: the input is too small; None: it fails
    for another reason (not this check's business)."""
    import torch

    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chans, h, w))
    except (RuntimeError, ValueError) as exc:
        text = str(exc)
        return False if any(marker in text for marker in _TOO_SMALL) else None
    except Exception:
        return None
    return True
