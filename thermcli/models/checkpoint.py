"""Checkpoints: a state dict plus the JSON config that rebuilds the model.

Saved with ``torch.save`` as a dict of tensors and plain values, loaded with
``torch.load(weights_only=True)``: nothing in a checkpoint is ever unpickled as code. The file
format itself (``save_checkpoint``, ``read_checkpoint``) is ``thermcli.io.checkpoint``'s; this
module rebuilds models from it.

Layout::

    {"format": "thermcli.checkpoint", "version": 1,
     "config": "<JSON: arch, model kwargs, task, class names, ... , provenance>",
     "state_dict": {...}, "extra": {...tensors/plain values: optimizer, epoch, rng...}}
"""

from __future__ import annotations

import os
from typing import Any

from thermcli.errors import DataError, ThermcliError
from thermcli.io.checkpoint import (  # noqa: F401 (the file format, re-exported for callers)
    FORMAT,
    VERSION,
    read_checkpoint,
    read_checkpoint_provenance,
    save_checkpoint,
)


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
    problem = model_kwargs_problem(config.get("model_kwargs", {}))
    if problem is not None:
        raise DataError(f"impossible model config: {problem}", path=where)
    kwargs = dict(config.get("model_kwargs", {}))
    if kwargs.get("weights") not in (None, "none"):
        kwargs["weights"] = "none"  # initial weights were for training: the state dict holds every value
    try:
        model = create_model(config["arch"], **kwargs)
    except (TypeError, ValueError, RuntimeError, ThermcliError) as exc:  # kwargs of another architecture, unknown name
        reason = exc.one_line() if isinstance(exc, ThermcliError) else " ".join(str(exc).split())[:160]
        raise DataError(f"cannot rebuild architecture {config['arch']!r} from this checkpoint ({reason})", path=where) from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:160]
        raise DataError(f"weights do not fit architecture {config['arch']!r} ({first})", path=where) from None
    return model, config, payload.get("extra", {})


MAX_MODEL_SIZE = 1 << 20  # no width, channel or class count of a model thermcli builds comes near
_SIZE_KEY = __import__("re").compile(r"width|chans|channels|classes|size|depth|frames|heads|dim|keypoints|num_|stride")


def model_kwargs_problem(kwargs: Any) -> str | None:
    """What makes a checkpoint's recorded model arguments impossible (a negative width, a NaN
    rate, an absurd size), or None. Checked before anything is built: a negative width made
    torch fail with "Trying to create tensor with negative dimension"."""
    import math

    if not isinstance(kwargs, dict):
        return f"model_kwargs is a {type(kwargs).__name__}, not an object"
    for key, value in kwargs.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if isinstance(item, float) and not math.isfinite(item):
                return f"{key} = {item!r} is not finite"
            if isinstance(item, int) and _SIZE_KEY.search(key):  # a count of something: widths, classes, ...
                if item < 0:
                    return f"{key} = {item} is negative"
                if item > MAX_MODEL_SIZE:
                    return f"{key} = {item} is absurdly large"
    return None


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

