"""Object detectors: torchvision's detection models behind one registry name, ``detector``.

``create_model("detector", arch="ssdlite320_mobilenet_v3_large", num_classes=2, min_size=320)``
builds torchvision's model with ``num_classes + 1`` outputs (index 0 is the background, as
torchvision's COCO models count it) and no pretrained weights. The wrapper's only parameters
are the torchvision model's (``net.``), so a thermcli checkpoint's state dict is torchvision's
layout with a ``net.`` prefix.

Inputs are float images in 0..1, 3 channels (torchvision's transform applies the ImageNet mean
and std itself); :func:`frames_to_images` turns °C / 8-bit / pseudo-colour frames into them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.models.registry import register

DETECTORS = (
    "ssdlite320_mobilenet_v3_large",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fcos_resnet50_fpn",
    "retinanet_resnet50_fpn",
    "fasterrcnn_resnet50_fpn",
    "fcos_mobilenet_v3_small_fpn",
    "fcos_small",  # torchvision's FCOS on a small backbone (thermcli.models.detection_small)
)

# Compact detectors built here from torchvision's parts (not in torchvision's model zoo, so no
# published weights): small enough to train from scratch on a CPU in minutes.
COMPACT = {"fcos_mobilenet_v3_small_fpn": {"fpn_channels": 64, "head_convs": 2}}


def _torchvision_detector(arch: str, num_classes: int, min_size: int, max_size: int, size=None, **extra: Any):
    import torchvision

    if arch not in DETECTORS:
        raise UsageError(f"unknown detector {arch!r}; choose from {', '.join(DETECTORS)}", param="--arch")
    if arch in COMPACT:
        return _compact_fcos(arch, int(num_classes) + 1, min_size, max_size, **extra)
    if arch == "fcos_small":
        from thermcli.models.detection_small import fcos_small

        return fcos_small(int(num_classes) + 1, int(min_size), int(max_size), **extra)
    builder = getattr(torchvision.models.detection, arch)
    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": int(num_classes) + 1}
    if not arch.startswith("ssdlite"):
        kwargs["min_size"], kwargs["max_size"] = int(min_size), int(max_size)
    kwargs.update(extra)
    net = builder(**kwargs)
    if arch.startswith("ssdlite"):  # SSD resizes to a fixed HxW (its builder fixes 320x320: set it after)
        h, w = (int(v) for v in (size or (min_size, min_size)))
        net.transform.min_size, net.transform.max_size, net.transform.fixed_size = (min(h, w),), max(h, w), (h, w)
    return net


def _compact_fcos(arch: str, num_classes: int, min_size: int, max_size: int, **extra: Any):
    """FCOS (torchvision's, anchor-free) on MobileNetV3-Small (trainable BatchNorm, from scratch)
    with a narrow FPN over its stride-8/16/32 stages plus a stride-64 level, and a 2-conv head."""
    import torch
    from torchvision.models import mobilenet_v3_small
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    spec = COMPACT[arch]
    features = mobilenet_v3_small(weights=None, norm_layer=torch.nn.BatchNorm2d).features
    # the last block of each stride (8, 16, 32) of MobileNetV3-Small's 13 feature blocks
    ends = {"3": "0", "8": "1", "12": "2"}
    chans = [features[int(k)].out_channels for k in ends]
    backbone = BackboneWithFPN(features, ends, chans, spec["fpn_channels"], extra_blocks=LastLevelMaxPool())
    sizes = ((16,), (32,), (64,), (128,))
    anchors = AnchorGenerator(sizes, ((1.0,),) * len(sizes))
    head = FCOSHead(spec["fpn_channels"], 1, num_classes, num_convs=spec["head_convs"])
    # torchvision's zero bias leaves the ReLU'd box distances at the edge of dying: from scratch they
    # went all ≤ 0 in the first epoch (GIoU loss stuck at 1). Start them at one anchor size.
    torch.nn.init.constant_(head.regression_head.bbox_reg.bias, 1.0)
    return FCOS(backbone, num_classes, min_size=min_size, max_size=max_size, anchor_generator=anchors, head=head,
                **extra)


def _module():
    import torch

    class Detector(torch.nn.Module):
        """A torchvision detector: ``forward(images, targets=None)`` (losses in train mode with
        targets, detections in eval mode)."""

        def __init__(self, arch: str, num_classes: int, min_size: int = 320, max_size: int = 640,
                     size=None, score_thresh: float = 0.001, detections_per_img: int = 100):
            super().__init__()
            extra: dict[str, Any] = {}
            if arch.startswith(("ssdlite", "retinanet", "fcos")):
                extra = {"score_thresh": score_thresh, "detections_per_img": detections_per_img}
            else:
                extra = {"box_score_thresh": score_thresh, "box_detections_per_img": detections_per_img}
            self.net = _torchvision_detector(arch, num_classes, min_size, max_size, size, **extra)
            self.config = {"arch": arch, "num_classes": int(num_classes), "min_size": int(min_size),
                           "max_size": int(max_size)}

        def forward(self, images, targets=None):
            return self.net(images, targets)

    return Detector


@register("detector")
def detector(arch: str = "ssdlite320_mobilenet_v3_large", num_classes: int = 1, min_size: int = 320,
             max_size: int = 640, size=None, weights: str = "none"):
    if int(num_classes) < 1:
        raise UsageError("a detector needs at least one class", param="--arch")
    return _module()(arch, int(num_classes), int(min_size), int(max_size), size)


def load_detection_weights(model, path: str) -> dict[str, Any]:
    """Start ``model`` (a Detector) from a weights file: a torchvision detection state dict in its
    published layout (e.g. COCO ``fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth``), or a
    thermcli detect checkpoint. Every tensor whose name and shape fit is copied; the class
    layers of another class count are left as built. Returns what was loaded (counts, file)."""
    import torch

    from thermcli.models.weights import safe_load

    payload = safe_load(path)
    where = str(path)
    if isinstance(payload, dict) and payload.get("format") == "thermcli.checkpoint":
        state = payload.get("state_dict", {})
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    elif isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        state = payload["model"]
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        state = payload["state_dict"]
    else:
        state = payload
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise DataError("is not a detection state dict (tensors by name)", path=where)
    own = model.net.state_dict()
    fit = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if len(fit) < len(own) // 2:
        raise DataError(f"only {len(fit)} of the {model.config['arch']}'s {len(own)} tensors are in this file: "
                        "weights of another architecture?", path=where)
    model.net.load_state_dict(fit, strict=False)
    return {"loaded": len(fit), "kept": len(own) - len(fit)}


def published_file(arch: str, spec: str):
    """The file ``--weights`` names: a path as given, or a torchvision weights name (``COCO_V1``,
    ``DEFAULT``, ``FasterRCNN_..._Weights.COCO_V1``) → the file torch.hub caches it as (never
    downloaded: a missing file is a one-line error with the URL to fetch it from)."""
    from pathlib import Path

    from thermcli.models.weights import hub_checkpoints_dir, is_weight_name

    if not is_weight_name(spec) or Path(spec).exists():
        return Path(spec)
    if arch == "fcos_small":
        raise UsageError(f"{spec!r}: fcos_small has no published weights (give none or a weights file)", param="--weights")
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    name = spec.split(".")[-1]
    try:
        entry = enum.DEFAULT if name in ("DEFAULT", "imagenet") else enum[name]
    except KeyError:
        known = ", ".join(["DEFAULT", *(m.name for m in enum)])
        raise UsageError(f"{spec!r}: {enum.__name__} has {known}", param="--weights") from None
    import os

    path = hub_checkpoints_dir() / os.path.basename(entry.url)
    if not path.is_file():
        raise DataError(f"not in the torch cache; nothing is downloaded: fetch {entry.url} on a connected machine "
                        f"into {path.parent}", path=str(path))
    return path


def frames_to_images(frames: np.ndarray, unit: str) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) frames → (N, 3, H, W) float32 in 0..1.

    8-bit intensity: /255 (pseudo-colour keeps its 3 channels); °C / K / counts: each frame
    scaled from its 1st to its 99th percentile (NaN → 0), the same frame normalisation
    classification uses; one channel is repeated to 3 for torchvision's backbones."""
    x = np.asarray(frames)
    if x.ndim == 3:
        x = x[..., None]
    if unit == "intensity":
        out = x.astype(np.float32) / 255.0
    else:
        v = x.astype(np.float32)
        flat = v.reshape(len(v), -1)
        lo = np.nanpercentile(flat, 1, axis=1).reshape(-1, 1, 1, 1) if flat.size else 0.0
        hi = np.nanpercentile(flat, 99, axis=1).reshape(-1, 1, 1, 1) if flat.size else 1.0
        out = np.clip((v - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)
        out = np.nan_to_num(out, nan=0.0).astype(np.float32)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    elif out.shape[-1] != 3:
        out = np.repeat(out[..., :1], 3, axis=-1)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
