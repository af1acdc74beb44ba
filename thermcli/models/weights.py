"""Pretrained weights as users have them: torchvision's published files in the torch hub cache,
named as torchvision names them, and files read without unpickling code.

- :func:`resolve_torchvision` turns ``IMAGENET1K_V1`` / ``IMAGENET1K_V2`` / ``DEFAULT`` /
  ``ResNet50_Weights.IMAGENET1K_V1`` (or the historical ``imagenet``, = ``DEFAULT``) into the
  torchvision weights entry of an architecture, through torchvision's own weight registry
  (``torchvision.models.get_model_weights``); the file is the one torch.hub would cache:
  ``torch.hub.get_dir()/checkpoints/<basename of the entry's url>`` (``$TORCH_HOME``). Nothing is
  ever downloaded: a missing file is a one-line :class:`DataError` naming the file, the cache
  folder and the URL to fetch it from on a connected machine.
- :func:`safe_load` reads a ``.pt``/``.pth`` with ``torch.load(weights_only=True)``: tensors and
  plain containers only, plus (``allow_numpy=True``) the NumPy array/scalar types mmengine stores in
  a checkpoint's ``meta``; any other pickled object (code) is refused before it is built.
- :func:`weights_record` is what a checkpoint's provenance records: the name used, the file and its
  SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from thermcli.errors import DataError, UsageError

# registry architecture (classifier backbones, pose encoders) → torchvision builder name
TORCHVISION_BUILDERS = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "mobilenet_v3_small": "mobilenet_v3_small",
    "mobilenet_v3_large": "mobilenet_v3_large",
    "efficientnet_b0": "efficientnet_b0",
}

_NAME = re.compile(r"^(?:(?P<enum>[A-Za-z0-9_]+_Weights)\.)?(?P<member>[A-Z][A-Z0-9_]*)$")


def is_weight_name(spec: str) -> bool:
    """True for ``imagenet`` and torchvision weight names (``IMAGENET1K_V1``, ``DEFAULT``,
    ``ResNet50_Weights.IMAGENET1K_V2``): not a path."""
    return spec == "imagenet" or bool(_NAME.match(spec))


def resolve_torchvision(arch: str, spec: str, *, param: str = "--weights"):
    """The torchvision weights entry (a ``WeightsEnum`` member) ``spec`` names for ``arch``."""
    import torchvision

    builder = TORCHVISION_BUILDERS.get(arch)
    if builder is None:
        raise UsageError(f"torchvision publishes no weights for {arch!r} (only for "
                         f"{', '.join(TORCHVISION_BUILDERS)}); give a weights file instead", param=param)
    enum = torchvision.models.get_model_weights(builder)
    name = "DEFAULT" if spec == "imagenet" else spec
    match = _NAME.match(name)
    if not match:
        raise UsageError(f"{spec!r} is not a torchvision weights name", param=param)
    if match.group("enum") and match.group("enum") != enum.__name__:
        raise UsageError(f"{spec!r} are weights of another architecture; {arch} takes {enum.__name__}.*", param=param)
    member = match.group("member")
    try:
        return enum[member] if member != "DEFAULT" else enum.DEFAULT
    except KeyError:
        known = ", ".join(["DEFAULT", *(m.name for m in enum)])
        raise UsageError(f"{spec!r}: {enum.__name__} has {known}", param=param) from None


def hub_checkpoints_dir() -> Path:
    """Where torch.hub caches downloaded weights (``$TORCH_HOME/hub/checkpoints`` by default)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_file(weight) -> tuple[Path, str]:
    """(the cached file torch.hub would use for ``weight``, its URL)."""
    url = weight.url
    return hub_checkpoints_dir() / os.path.basename(url), url


def locate_torchvision(arch: str, spec: str, *, param: str = "--weights") -> tuple[Path, str, Any]:
    """(cached file, full weights name ``Enum.MEMBER``, weights entry); DataError when not cached."""
    weight = resolve_torchvision(arch, spec, param=param)
    path, url = torchvision_file(weight)
    full = f"{type(weight).__name__}.{weight.name}"
    if not path.is_file():
        raise DataError(
            f"{full} ({arch}) is not in the torch cache: {path.name} is missing in {path.parent}; fetch {url} "
            "on a connected machine and place it there (nothing is downloaded at run time)",
            path=str(path),
        )
    return path, full, weight


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_record(name: str, path: str | os.PathLike | None, **extra: Any) -> dict[str, Any]:
    """Provenance of initial weights: the name given, the file and its SHA-256."""
    if path is None:
        return {"weights": name, **extra}
    path = Path(path)
    sha = sha256_file(path)
    record = {"weights": name, "file": str(path), "sha256": sha, **extra}
    # torchvision file names carry the first hex digits of the file's SHA-256 (torch.hub's check)
    prefix = re.search(r"-([0-9a-f]{8,})\.", path.name)
    if prefix:
        record["published_hash_prefix_matches"] = sha.startswith(prefix.group(1))
    return record


# ---- safe loading ----------------------------------------------------------------------------

def _numpy_globals() -> list:
    """The NumPy reconstructors and types a pickled ndarray / NumPy scalar refers to (mmengine
    stores ``meta`` values such as ``dataset_meta['sigmas']`` and the seed as NumPy objects)."""
    import numpy as np

    found: list = [np.ndarray, np.dtype]
    try:  # NumPy 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    found += [_reconstruct, scalar]
    # ``numpy.core.multiarray`` is what NumPy-1 pickles name; NumPy 2 resolves it to ``_core``
    found += [(_reconstruct, "numpy.core.multiarray._reconstruct"), (scalar, "numpy.core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return found


class _Ignored:
    """Stands in for an OpenMMLab bookkeeping object (mmengine's ``HistoryBuffer`` in
    ``message_hub``, ...): built empty, its state dropped, none of its code imported or run."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


# the packages whose objects a training checkpoint's bookkeeping may hold (never their weights)
_OPENMMLAB = ("mmengine.", "mmcv.", "mmpose.", "mmpretrain.", "mmcls.", "mmdet.")


def safe_load(path: str | os.PathLike, *, allow_numpy: bool = False, what: str = "weights file") -> Any:
    """``torch.load(weights_only=True)`` of ``path`` on the CPU. With ``allow_numpy`` (published
    OpenMMLab files): NumPy arrays/scalars are allowed, and OpenMMLab bookkeeping objects (named
    ``mmengine.*``, ``mmcv.*``, ...) are read as empty placeholders — only the state dict is used.
    Anything else that would need a global (a class, a function: code) is a :class:`DataError`
    naming the file; nothing is built from it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such {what}", path=str(path))
    allowed = _numpy_globals() if allow_numpy else []
    for _ in range(32):  # each round admits one more OpenMMLab name
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            text = " ".join(str(exc).split())
            unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
            if allow_numpy and unsafe and unsafe.group(1).startswith(_OPENMMLAB) \
                    and (_Ignored, unsafe.group(1)) not in allowed:
                allowed.append((_Ignored, unsafe.group(1)))
                continue
            if unsafe:
                reason = f"it pickles {unsafe.group(1)}, which is not loaded (only tensors and plain values are)"
            else:
                reason = text[:120]
            raise DataError(f"not a loadable {what} ({reason})", path=str(path)) from None
    raise DataError(f"not a loadable {what} (too many foreign objects)", path=str(path))


def extract_state_dict(payload: Any, *, where: str) -> dict[str, Any]:
    """The tensors of a loaded ``.pth``: itself, or its ``state_dict`` / ``model`` entry."""
    import torch

    if isinstance(payload, dict) and payload.get("format") == "thermcli.checkpoint":
        _check_thermcli_config(payload.get("config"), where)
    if isinstance(payload, dict):
        for key in ("state_dict", "model", "module"):
            inner = payload.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        tensors = {k: v for k, v in payload.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(payload):
            return dict(payload)
    raise DataError("holds no state dict (a mapping of tensor names to tensors)", path=where)


def _check_thermcli_config(config: Any, where: str) -> None:
    """A thermcli checkpoint used as --weights: its recorded model config must be possible (a
    negative width there was accepted silently: the file is not what it says it is)."""
    import json

    from thermcli.models.checkpoint import model_kwargs_problem

    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            raise DataError("checkpoint config is not readable JSON", path=where) from None
    if not isinstance(config, dict):
        raise DataError("checkpoint config is not an object", path=where)
    problem = model_kwargs_problem(config.get("model_kwargs", {}))
    if problem is not None:
        raise DataError(f"impossible model config: {problem}", path=where)


def check_weights(arch: str, spec: str | None, *, param: str = "--weights") -> None:
    """Refuse unusable initial weights before anything is written: a torchvision name that is not
    cached, a file that is missing or pickles code. (The full load happens when the model is built.)"""
    if spec in (None, "", "none"):
        return
    path = Path(spec)
    if not path.is_file() and is_weight_name(spec):
        locate_torchvision(arch, spec, param=param)
        return
    payload = safe_load(path)
    if isinstance(payload, dict) and payload.get("format") == "thermcli.checkpoint":
        _check_thermcli_config(payload.get("config"), str(path))
