"""Checkpoints: a state dict plus the JSON config that rebuilds the model.

Saved with ``torch.save`` as a dict of tensors and plain values, loaded with
``torch.load(weights_only=True)``: nothing in a checkpoint is ever unpickled as code.

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

from thermcli.errors import DataError, ThermcliError
from thermcli.io.atomic import atomic_path

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
        torch.save(payload, tmp)


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


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu", expect_task: str | None = None):
    """Rebuild the model from the checkpoint's own config and load its weights (strict).

    Returns ``(model, config, extra)``.
    """
    from thermcli.models.registry import create_model

    payload = read_checkpoint(path, map_location=map_location)
    config = payload["config"]
    where = str(path)
    if expect_task is not None and config.get("task") not in (None, expect_task):
        raise DataError(f"checkpoint is a {config.get('task')} model, not {expect_task}", path=where)
    kwargs = dict(config.get("model_kwargs", {}))
    if kwargs.get("weights") not in (None, "none"):
        kwargs["weights"] = "none"  # initial weights were for training: the state dict holds every value
    try:
        model = create_model(config["arch"], **kwargs)
    except (TypeError, ValueError, ThermcliError) as exc:  # kwargs of another architecture, unknown name
        reason = exc.one_line() if isinstance(exc, ThermcliError) else " ".join(str(exc).split())[:160]
        raise DataError(f"cannot rebuild architecture {config['arch']!r} from this checkpoint ({reason})", path=where) from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:160]
        raise DataError(f"weights do not fit architecture {config['arch']!r} ({first})", path=where) from None
    return model, config, payload.get("extra", {})


def read_checkpoint_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    return read_checkpoint(path)["config"].get("provenance")


def describe_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    payload = read_checkpoint(path)
    config = payload["config"]
    params = sum(int(v.numel()) for v in payload["state_dict"].values() if hasattr(v, "numel"))
    return {
        "kind": "checkpoint",
        "path": str(path),
        "arch": config.get("arch"),
        "task": config.get("task"),
        "model_kwargs": config.get("model_kwargs"),
        "tensors": len(payload["state_dict"]),
        "parameters_and_buffers": params,
        "config_keys": sorted(k for k in config if k != "provenance"),
        "provenance": config.get("provenance"),
    }


def recorded_input_shape(config: dict[str, Any], frame_shape=None) -> tuple[int, ...] | None:
    """(C, H, W) of one model input as the checkpoint's config records it: ``input_shape``, else a
    classifier's ``frames`` (stacked as channels) × ``frame_shape`` (or the ``frame_shape`` given,
    e.g. the data's). None when neither is known."""
    shape = config.get("input_shape")
    if not shape:
        frame_shape = config.get("frame_shape") or frame_shape
        if not frame_shape:
            return None
        kwargs = config.get("model_kwargs") or {}
        # a classifier's input channels: frames × channels of a frame (3 for RGB / pseudo-colour)
        chans = kwargs.get("in_chans") or (kwargs.get("encoder_kwargs") or {}).get("in_chans") or config.get("frames", 1)
        shape = [chans, *list(frame_shape)[:2]]
    return tuple(int(s) for s in shape)

