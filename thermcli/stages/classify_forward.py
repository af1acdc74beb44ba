"""Forward passes of a classifier over a ``ClassifyData`` split: logits and embeddings.

Shared by training (validation each epoch), ``predict`` and the ``svm+rf`` ensemble (which
trains on the network's embeddings); it sits below all three so none imports another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError


def torch_from(array):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


def _predict(model, data, device, rows, batch_size: int, embedding: bool):
    """Logits (M, C), or with ``embedding`` (logits, embeddings (M, D)) from the same forward passes."""
    import torch

    if rows is None:
        rows = torch.arange(len(data))
    model.eval()
    logits, embeddings = [], []
    with torch.no_grad():
        for lo in range(0, len(rows), batch_size):
            x, _ = data.batch(rows[lo : lo + batch_size])
            if embedding:
                y, e = model(x.to(device), return_embedding=True)
                embeddings.append(e.float().cpu())
            else:
                y = model(x.to(device))
            logits.append(y.float().cpu())
    if not logits:
        empty = np.zeros((0, 0), np.float32)
        return (empty, empty) if embedding else empty
    return (torch.cat(logits).numpy(), torch.cat(embeddings).numpy()) if embedding else torch.cat(logits).numpy()


def predict_logits(model, data, device, *, rows=None, batch_size: int = 512) -> np.ndarray:
    """Logits (M, C) float32 for ``rows`` of ``data`` (all rows when None), in eval mode."""
    return _predict(model, data, device, rows, batch_size, embedding=False)


def predict_embeddings(model, data, device, *, rows=None, batch_size: int = 512) -> np.ndarray:
    """Embeddings (M, D) float32 for ``rows`` of ``data`` (all rows when None), in eval mode."""
    return _predict(model, data, device, rows, batch_size, embedding=True)[1]


def predict_logits_and_embeddings(model, data, device, *, rows=None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(logits (M, C), embeddings (M, D)) from one pass over ``rows`` of ``data``, in eval mode."""
    return _predict(model, data, device, rows, batch_size, embedding=True)


def check_frame_shape(config: dict[str, Any], shape: tuple[int, int], path: Path) -> None:
    want = config.get("frame_shape")
    if want and tuple(want) != tuple(shape):
        raise DataError(f"frames are {shape[0]}×{shape[1]} but the model was trained on {want[0]}×{want[1]}", path=str(path))


def check_channels(config: dict[str, Any], channels: int, path: Path) -> None:
    """The model's input channels = frames × channels of one frame (1 grey, 3 RGB / pseudo-colour)."""
    want = config.get("model_kwargs", {}).get("in_chans")
    frames = int(config.get("frames", 1))
    if want is not None and int(want) != frames * channels:
        per_frame = int(want) // max(frames, 1)
        raise DataError(f"frames have {channels} channel(s) but the model was trained on {per_frame}", path=str(path))
