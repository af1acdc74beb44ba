"""ViTPose teachers as published, loaded onto ``topdown_pose(encoder="vit")``.

Two layouts are known, both for ViT-S/B/L/H (only the widths, depth and heads differ):

- **ViTPose repo / MMPose 0.x**: ``backbone.patch_embed.proj``, ``backbone.blocks.N.{norm1,
  attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``backbone.last_norm``, ``backbone.pos_embed``
  (1, 1 + h·w, D: the extra slot is *added* to every patch), ``keypoint_head.deconv_layers.*`` /
  ``keypoint_head.final_layer.*``; this module's own names follow it.
- **MMPose 1.x** (``mmpretrain.VisionTransformer`` + ``HeatmapHead``):
  ``backbone.patch_embed.projection``, ``backbone.layers.N.{ln1, attn.qkv, attn.proj, ln2,
  ffn.layers.0.0, ffn.layers.1}``, ``backbone.ln1`` (the final norm), ``backbone.pos_embed``
  (1, h·w, D with ``with_cls_token=False``; a leading class-token slot, if any, is dropped as
  mmpretrain drops it), ``head.deconv_layers.*`` / ``head.final_layer.*``.

Files are read with ``torch.load(weights_only=True)`` plus an allow-list of the NumPy types
mmengine stores in ``meta``: no pickled code runs. Anything else — another decoder (ViTPose's
"simple" head), layer scale, a CLIP pre-norm, a foreign model — is refused by name.

:func:`published_teacher` builds a frozen teacher from such a file alone: widths, depth and
keypoints from the tensors, heads / input size / normalisation / keypoint names from the
checkpoint's stored config (mmengine ``meta``) or from arguments.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from thermcli.errors import DataError, UsageError

# heads of the published ViTPose sizes by width (ViTPose-S: 384 wide, 12 heads; B 768/12; L 1024/16; H 1280/16)
HEADS_BY_WIDTH = {384: 12, 768: 12, 1024: 16, 1280: 16}
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)

_SKIP = ("data_preprocessor.", "target_generator.", "loss_module.", "head.loss_module.", "keypoint_head.loss.")


def _strip(name: str) -> str:
    for prefix in ("module.", "model."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def detect_layout(state: Mapping[str, Any]) -> str:
    """``mmpose0`` (ViTPose repo / MMPose 0.x), ``mmpose1`` (MMPose 1.x) or a DataError naming what
    the file looks like instead."""
    keys = [_strip(k) for k in state]
    if any(k.startswith("backbone.blocks.") for k in keys):
        return "mmpose0"
    if any(k.startswith("backbone.layers.") and ".ln1." in k for k in keys):
        return "mmpose1"
    sample = ", ".join(keys[:3])
    raise DataError(f"not a ViTPose checkpoint (neither the ViTPose/MMPose 0.x 'backbone.blocks.N' nor the MMPose 1.x "
                    f"'backbone.layers.N.ln1' layout; first tensors: {sample})")


_MMPOSE1_BLOCK = [
    (r"ln1\.", "norm1."), (r"ln2\.", "norm2."), (r"attn\.qkv\.", "attn.qkv."), (r"attn\.proj\.", "attn.proj."),
    (r"ffn\.layers\.0\.0\.", "mlp.fc1."), (r"ffn\.layers\.1\.", "mlp.fc2."),
]


def _refuse(name: str, why: str):
    raise DataError(f"tensor {name!r} {why}; only the ViTPose backbone + classic heatmap head (two deconvolutions, "
                    "1×1 final layer) load")


def map_state_dict(state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Published ViTPose state dict (either layout) → (this module's ``encoder.*``/``decoder.*``
    names, layout). ``encoder.pos_embed`` keeps the file's own length (see :func:`fit_pos_embed`)."""
    layout = detect_layout(state)
    mapped: dict[str, Any] = {}
    for raw, tensor in state.items():
        key = _strip(raw)
        if key.startswith(_SKIP):
            continue
        if key.startswith("backbone."):
            rest = key[len("backbone."):]
            if rest == "cls_token":
                continue  # ViTPose never reads it; mmpretrain drops it with with_cls_token=False
            if layout == "mmpose0":
                mapped["encoder." + rest] = tensor
                continue
            if rest.startswith("patch_embed.projection."):
                mapped["encoder.patch_embed.proj." + rest.split(".")[-1]] = tensor
            elif rest == "pos_embed":
                mapped["encoder.pos_embed"] = tensor
            elif rest.startswith("ln1."):
                mapped["encoder.last_norm." + rest[len("ln1."):]] = tensor
            elif m := re.match(r"layers\.(\d+)\.(.*)$", rest):
                index, tail = m.groups()
                for pattern, ours in _MMPOSE1_BLOCK:
                    if found := re.match(pattern, tail):
                        mapped[f"encoder.blocks.{index}.{ours}{tail[found.end():]}"] = tensor
                        break
                else:
                    _refuse(raw, "is not part of a ViTPose encoder block (layer scale? another FFN?)")
            else:
                _refuse(raw, "is not part of the ViTPose backbone (pre_norm? avg-pool norm?)")
            continue
        head = "keypoint_head." if key.startswith("keypoint_head.") else "head." if key.startswith("head.") else None
        if head is None:
            _refuse(raw, "belongs to neither the backbone nor the keypoint head")
        rest = key[len(head):]
        if re.match(r"(deconv_layers\.[0134]\.|final_layer\.(weight|bias)$)", rest):
            mapped["decoder." + rest] = tensor
        else:
            _refuse(raw, "belongs to another head (ViTPose's 'simple' decoder or extra conv layers)")
    return mapped, layout


def resize_pos_embed(pos, grid: tuple[int, int]):
    """(1, 1 + h·w, D) → (1, 1 + H·W, D), bicubic over the patch grid (the extra slot kept)."""
    import torch

    extra, patches = pos[:, :1], pos[:, 1:]
    n = patches.shape[1]
    # official ViTPose-B: 16×12 patches for 256×192 crops; assume the 4:3 aspect when square fails
    side = int(math.isqrt(n))
    if side * side == n:
        old = (side, side)
    else:
        h = int(round(math.sqrt(n * 4 / 3)))
        old = (h, n // h)
    grid_pos = patches.reshape(1, old[0], old[1], -1).permute(0, 3, 1, 2)
    grid_pos = torch.nn.functional.interpolate(grid_pos, size=grid, mode="bicubic", align_corners=False)
    return torch.cat([extra, grid_pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], 1)


def fit_pos_embed(pos, grid: tuple[int, int], layout: str, *, has_cls: bool):
    """The file's position embedding → this module's (1, 1 + H·W, D), whose slot 0 is added to
    every patch (ViTPose's rule). MMPose 1.x has no such slot: slot 0 is zero (a leading class-token
    slot in the file is dropped, as mmpretrain drops it). Resized bicubically over the patch grid
    when the crop size differs."""
    import torch

    n = grid[0] * grid[1]
    if layout == "mmpose1":
        if has_cls or pos.shape[1] == n + 1:
            pos = pos[:, 1:]
        pos = torch.cat([torch.zeros_like(pos[:, :1]), pos], 1)
    if pos.shape[1] != n + 1:
        pos = resize_pos_embed(pos, grid)
    return pos


# ---- the file's own config (mmengine / mmcv ``meta``) ------------------------------------------

def _config_text(payload: Any) -> str:
    meta = payload.get("meta") if isinstance(payload, dict) else None
    if not isinstance(meta, dict):
        return ""
    for key in ("cfg", "config"):
        if isinstance(meta.get(key), str):
            return meta[key]
    return ""


def _dataset_meta(payload: Any) -> dict[str, Any]:
    meta = payload.get("meta") if isinstance(payload, dict) else None
    found = meta.get("dataset_meta") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def config_hints(payload: Any) -> dict[str, Any]:
    """What the checkpoint's stored config says: heads, input size (H, W), mean/std (0–255)."""
    text = _config_text(payload)
    hints: dict[str, Any] = {}
    if not text:
        return hints
    if m := re.search(r"num_heads\s*[=:]\s*(\d+)", text):
        hints["heads"] = int(m.group(1))
    # MMPose 1.x codec input_size=(w, h); MMPose 0.x data_cfg image_size=[w, h]
    if m := re.search(r"(?:input_size|image_size)\s*[=:]\s*[\(\[]\s*(\d+)\s*,\s*(\d+)\s*[\)\]]", text):
        hints["input_size"] = (int(m.group(2)), int(m.group(1)))
    for name in ("mean", "std"):
        if m := re.search(rf"\b{name}\s*[=:]\s*\[([-\d.,\s]+)\]", text):
            values = [float(v) for v in m.group(1).split(",") if v.strip()]
            if len(values) == 3:
                hints[name] = tuple(values)
    if m := re.search(r"arch\s*[=:]\s*['\"](\w+)['\"]", text):
        hints["arch"] = m.group(1)
    return hints


def keypoint_meta_from_file(payload: Any, num_keypoints: int, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Keypoint names, flip pairs, sigmas, skeleton: arguments, else the file's ``dataset_meta``,
    else COCO-17 for 17 keypoints; another count without names is a DataError."""
    import numpy as np

    from thermcli.io import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON

    dm = _dataset_meta(payload)
    if names is None and isinstance(dm.get("keypoint_id2name"), dict):
        id2name = dm["keypoint_id2name"]
        names = [str(id2name[i]) for i in sorted(id2name, key=int)]
    coco = names is None and num_keypoints == 17 or names is not None and list(names) == list(COCO_KEYPOINT_NAMES)
    if names is None:
        if num_keypoints != 17:
            raise DataError(f"the checkpoint predicts {num_keypoints} keypoints but names none; give the keypoint names")
        names = list(COCO_KEYPOINT_NAMES)
    if len(names) != num_keypoints:
        raise UsageError(f"{len(names)} keypoint names for a head of {num_keypoints} keypoints", param="--keypoint-names")
    flip = dm.get("flip_indices")
    if flip is not None:
        flip = [int(v) for v in np.asarray(flip).ravel()]
        flip_pairs = sorted({tuple(sorted((i, j))) for i, j in enumerate(flip) if i != j})
        flip_pairs = [list(p) for p in flip_pairs]
    else:
        flip_pairs = [list(p) for p in COCO_FLIP_PAIRS] if coco else []
    sigmas = dm.get("sigmas")
    sigmas = [float(v) for v in np.asarray(sigmas).ravel()] if sigmas is not None else (
        list(COCO_SIGMAS) if coco else [0.05] * num_keypoints)
    skeleton = dm.get("skeleton_links")
    skeleton = [[int(a), int(b)] for a, b in skeleton] if skeleton is not None else (
        [list(p) for p in COCO_SKELETON] if coco else [])
    return {"keypoint_names": list(names), "flip_pairs": flip_pairs, "sigmas": sigmas, "skeleton": skeleton}


# ---- loading ---------------------------------------------------------------------------------

def read_published(path: str | Path) -> tuple[Any, dict[str, Any], str]:
    """(payload, mapped state dict, layout) of a published ViTPose file, read safely."""
    from thermcli.models.weights import extract_state_dict, safe_load

    where = str(path)
    payload = safe_load(path, allow_numpy=True, what="ViTPose checkpoint")
    state = extract_state_dict(payload, where=where)
    try:
        mapped, layout = map_state_dict(state)
    except DataError as exc:
        raise DataError(exc.message, path=where) from None
    if "cls_token" in {_strip(k).split(".", 1)[-1] for k in state}:
        mapped["__has_cls__"] = True
    return payload, mapped, layout


def is_published_pose_file(path: str | Path) -> bool:
    """True when ``path`` is not a thermcli checkpoint (then it is read as a published ViTPose file)."""
    from thermcli.models.weights import safe_load

    payload = safe_load(path, allow_numpy=True, what="teacher file")
    return not (isinstance(payload, dict) and payload.get("format") == "thermcli.checkpoint")


def load_into(model, mapped: dict[str, Any], layout: str, *, where: str) -> dict[str, int]:
    """Copy a mapped published state dict into ``model`` (every tensor checked by name and shape)."""
    mapped = dict(mapped)
    has_cls = bool(mapped.pop("__has_cls__", False))
    own = model.state_dict()
    if "encoder.pos_embed" in mapped:
        mapped["encoder.pos_embed"] = fit_pos_embed(mapped["encoder.pos_embed"], model.encoder.grid, layout,
                                                    has_cls=has_cls)
    missing = [k for k in own if k not in mapped and not k.startswith("projection.")]
    if missing:
        shown = ", ".join(missing[:3])
        raise DataError(f"{len(missing)} tensors of the ViTPose model are not in this {layout} checkpoint "
                        f"(e.g. {shown})", path=where)
    for key, value in mapped.items():
        if key not in own:
            raise DataError(f"checkpoint tensor {key!r} has no place in the model", path=where)
        if tuple(value.shape) != tuple(own[key].shape):
            raise DataError(f"{key}: checkpoint shape {tuple(value.shape)} ≠ model {tuple(own[key].shape)}", path=where)
    model.load_state_dict(mapped, strict=False)
    return {"loaded": len(mapped), "model_tensors": len(own)}


def architecture_of(mapped: Mapping[str, Any], hints: Mapping[str, Any], layout: str, *, heads: int | None = None,
                    input_size: Sequence[int] | None = None, where: str = "") -> dict[str, Any]:
    """``topdown_pose`` kwargs that rebuild the file's network."""
    try:
        proj = mapped["encoder.patch_embed.proj.weight"]
        final = mapped["decoder.final_layer.weight"]
        deconv = mapped["decoder.deconv_layers.0.weight"]
        fc1 = mapped["encoder.blocks.0.mlp.fc1.weight"]
    except KeyError as exc:
        raise DataError(f"the ViTPose checkpoint lacks {exc.args[0]!r}", path=where) from None
    has_cls = bool(mapped.get("__has_cls__"))
    dim = int(proj.shape[0])
    depth = 1 + max(int(k.split(".")[2]) for k in mapped if k.startswith("encoder.blocks."))
    heads = heads or hints.get("heads") or HEADS_BY_WIDTH.get(dim)
    if not heads:
        raise UsageError(f"cannot tell the attention heads of a {dim}-wide ViT from the file; give them", param="--teacher")
    if input_size is None:
        input_size = hints.get("input_size")
    if input_size is None:  # from the position grid (ViTPose's 4:3 crops when not square)
        n = int(mapped["encoder.pos_embed"].shape[1]) - (1 if layout == "mmpose0" or has_cls else 0)
        side = math.isqrt(n)
        if side * side == n:
            input_size = (16 * side, 16 * side)
        else:
            h = int(round(math.sqrt(n * 4 / 3)))
            if h * (n // h) != n:
                raise UsageError(f"cannot tell the crop size from {n} position embeddings; give it", param="--input-size")
            input_size = (16 * h, 16 * (n // h))
    return {
        "encoder": "vit", "num_keypoints": int(final.shape[0]), "in_chans": int(proj.shape[1]),
        "input_size": [int(v) for v in input_size], "decoder_channels": int(deconv.shape[1]),
        "vit_dim": dim, "vit_depth": depth, "vit_heads": int(heads), "vit_mlp_ratio": float(fc1.shape[0]) / dim,
    }


def published_teacher(path: str | Path, *, heads: int | None = None, input_size: Sequence[int] | None = None,
                      mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                      keypoint_names: Sequence[str] | None = None):
    """A frozen ``topdown_pose`` teacher built from a published ViTPose file alone (no training, no
    labels) → (model in eval mode, config like a keypoints checkpoint's).

    The model takes crops normalised by the ImageNet mean/std (thermcli's RGB input); when the file
    was trained with another mean/std (0–255, from its config or ``mean``/``std``) the model
    re-normalises its input to match.
    """
    from thermcli.models.registry import create_model
    from thermcli.models.weights import sha256_file

    where = str(path)
    payload, mapped, layout = read_published(path)
    hints = config_hints(payload)
    kwargs = architecture_of(mapped, hints, layout, heads=heads, input_size=input_size, where=where)
    mean = tuple(mean or hints.get("mean") or IMAGENET_MEAN_255)
    std = tuple(std or hints.get("std") or IMAGENET_STD_255)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise UsageError("mean and std need three values each, std > 0", param="--teacher")
    if mean != IMAGENET_MEAN_255 or std != IMAGENET_STD_255:
        kwargs["input_mean"] = [float(v) for v in mean]
        kwargs["input_std"] = [float(v) for v in std]
    model = create_model("topdown_pose", **kwargs)
    load_into(model, mapped, layout, where=where)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    config = {
        "arch": "topdown_pose", "task": "keypoints", "model_kwargs": kwargs, "input_size": kwargs["input_size"],
        **keypoint_meta_from_file(payload, kwargs["num_keypoints"], keypoint_names),
        "teacher_file": {"path": where, "sha256": sha256_file(path), "layout": layout, "mean": list(mean),
                         "std": list(std)},
    }
    return model, config


def make_published_state(kwargs: Mapping[str, Any], model, layout: str) -> dict[str, Any]:
    """The inverse of :func:`map_state_dict` for a ``topdown_pose`` ViT: ``model``'s tensors under
    the published names of ``layout`` (for tests and for handing weights back to MMPose)."""
    state = model.state_dict()
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("projection."):
            continue
        if key.startswith("decoder."):
            out[("keypoint_head." if layout == "mmpose0" else "head.") + key[len("decoder."):]] = value.clone()
            continue
        rest = key[len("encoder."):]
        if layout == "mmpose0":
            out["backbone." + rest] = value.clone()
            continue
        if rest == "pos_embed":
            out["backbone.pos_embed"] = (value[:, 1:] + value[:, :1]).clone()  # 1.x: the slot folded in
        elif rest.startswith("patch_embed.proj."):
            out["backbone.patch_embed.projection." + rest.split(".")[-1]] = value.clone()
        elif rest.startswith("last_norm."):
            out["backbone.ln1." + rest.split(".")[-1]] = value.clone()
        else:
            m = re.match(r"blocks\.(\d+)\.(.*)$", rest)
            index, tail = m.groups()
            for theirs, ours in (("ln1.", "norm1."), ("ln2.", "norm2."), ("ffn.layers.0.0.", "mlp.fc1."),
                                 ("ffn.layers.1.", "mlp.fc2."), ("attn.", "attn.")):
                if tail.startswith(ours):
                    out[f"backbone.layers.{index}.{theirs}{tail[len(ours):]}"] = value.clone()
                    break
    return out
