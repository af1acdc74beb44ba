"""The checkpoint file format: a state dict plus the JSON config that rebuilds the model.

Saved with ``torch.save`` as a dict of tensors and plain values, loaded with
``torch.load(weights_only=True)``: nothing in a checkpoint is ever unpickled as code. Reading
and writing the file lives here, below ``thermcli.models`` (which rebuilds models from it), so
``thermcli.io.provenance`` can read a checkpoint's provenance without importing models.

Layout::

    {"format": "thermcli.checkpoint", "version": 1,
     "config": "<JSON: arch, model kwargs, task, class names, ... , provenance>",
     "state_dict": {...}, "extra": {...tensors/plain values: optimizer, epoch, rng...}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from thermcli.errors import DataError
from thermcli.io.atomic import SPACE_MARGIN, atomic_path, check_space, free_bytes, is_no_space, no_space_error

FORMAT = "thermcli.checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | os.PathLike,
    *,
    state_dict: dict[str, Any],
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically. ``config`` must be JSON-able and hold ``arch`` and ``model_kwargs``."""
    import torch

    if "arch" not in config:
        raise ValueError("checkpoint config needs 'arch'")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(config, default=str),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "extra": extra or {},
    }
    with atomic_path(path, force=True) as tmp:
        check_space(tmp.parent, _tensor_bytes(payload), path)
        try:
            torch.save(payload, tmp)
        except (OSError, RuntimeError) as exc:
            # torch's zip writer reports a full disk as "[enforce fail at inline_container.cc]
            # ... file write failed", without the errno: a write that failed with the disk (near)
            # full is taken for what it is
            free = free_bytes(tmp.parent)
            if is_no_space(exc) or (free is not None and free < SPACE_MARGIN):
                raise no_space_error(path) from None
            raise


def _tensor_bytes(value: Any) -> int:
    """The bytes of the tensors in ``value`` (nested dicts/lists): what ``torch.save`` writes,
    less its small headers."""
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if isinstance(nbytes, int) else 0


def read_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint's payload safely; ``config`` comes back parsed."""
    import torch

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such checkpoint file", path=where)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupted zip, foreign pickle with code, truncated...
        reason = " ".join(str(exc).split())[:120]
        raise DataError(f"not a loadable thermcli checkpoint ({reason})", path=where) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError("not a thermcli checkpoint (a foreign .pt file?)", path=where)
    if payload.get("version") != VERSION:
        raise DataError(f"checkpoint version {payload.get('version')} is not known to this thermcli", path=where)
    try:
        payload["config"] = json.loads(payload["config"])
    except (KeyError, TypeError, ValueError):
        raise DataError("checkpoint config is unreadable", path=where) from None
    return payload


def read_checkpoint_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    return read_checkpoint(path)["config"].get("provenance")
