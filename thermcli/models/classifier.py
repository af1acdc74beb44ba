"""Image classifiers: a backbone (torchvision by name, or a small CNN for tiny inputs) and the
breathing paper's head — global average pooling → dense 128 → ReLU → dropout 0.5 → classes.

``create_model("resnet18", in_chans=1, num_classes=2)``. ``in_chans`` > 1 is how ``--frames K``
feeds K consecutive frames. Every model exposes:

- ``forward(x)`` → logits (B, classes); ``forward(x, return_embedding=True)`` → (logits, embedding)
- ``stages``: the backbone's blocks from input to output (for freezing / gradual unfreezing)
- ``first_conv_name``: the state-dict key of the first convolution's weight (1-channel adaptation)

Pretrained weights are loaded separately (:func:`load_pretrained`), never at construction, so a
checkpoint rebuilds its model from its config alone and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from thermcli.errors import DataError, UsageError
from thermcli.models.registry import register

# arch → (torchvision builder, weights enum name, stage attribute names, first conv key)
_TORCHVISION = {
    "resnet18": ("resnet18", "ResNet18_Weights", ["conv1", "layer1", "layer2", "layer3", "layer4"], "conv1.weight"),
    "resnet34": ("resnet34", "ResNet34_Weights", ["conv1", "layer1", "layer2", "layer3", "layer4"], "conv1.weight"),
    "resnet50": ("resnet50", "ResNet50_Weights", ["conv1", "layer1", "layer2", "layer3", "layer4"], "conv1.weight"),
    "mobilenet_v3_small": ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", None, "features.0.0.weight"),
    "mobilenet_v3_large": ("mobilenet_v3_large", "MobileNet_V3_Large_Weights", None, "features.0.0.weight"),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", None, "features.0.0.weight"),
}


def _torch():
    import torch
    from torch import nn

    return torch, nn


def _build_classes():
    torch, nn = _torch()

    class Head(nn.Module):
        """GAP → dense(embed_dim) → ReLU → dropout → classes (the breathing paper's head)."""

        def __init__(self, channels: int, num_classes: int, embed_dim: int, dropout: float):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.dense = nn.Linear(channels, embed_dim)
            self.dropout = nn.Dropout(dropout)
            self.out = nn.Linear(embed_dim, num_classes)

        def forward(self, features):
            embedding = torch.relu(self.dense(self.pool(features).flatten(1)))
            return self.out(self.dropout(embedding)), embedding

    class Classifier(nn.Module):
        def __init__(self, backbone, stages, channels, num_classes, embed_dim, dropout, first_conv_name):
            super().__init__()
            self.backbone = backbone
            self.head = Head(channels, num_classes, embed_dim, dropout)
            self._stage_names = stages
            self.first_conv_name = "backbone." + first_conv_name

        @property
        def stages(self) -> list:
            return [self.backbone.get_submodule(name) for name in self._stage_names]

        def forward(self, x, return_embedding: bool = False):
            logits, embedding = self.head(self.backbone(x))
            return (logits, embedding) if return_embedding else logits

    return Head, Classifier


def _small_cnn(in_chans: int, width: int, norm: str):
    _, nn = _torch()

    def norm_layer(c):
        if norm == "batch":
            return nn.BatchNorm2d(c)
        if norm == "group":
            return nn.GroupNorm(4, c)
        if norm == "none":
            return nn.Identity()
        raise UsageError(f"norm {norm!r}: expected batch, group or none", param="--norm")

    def block(cin, cout, pool):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"), norm_layer(cout), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(cout, cout, 3, padding=1, bias=norm == "none"), norm_layer(cout), nn.ReLU(inplace=True)]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

    w = width
    body = nn.Sequential()
    body.add_module("block1", block(in_chans, w, True))
    body.add_module("block2", block(w, 2 * w, True))
    body.add_module("block3", block(2 * w, 4 * w, False))
    return body, ["block1", "block2", "block3"], 4 * w, "block1.0.weight"


@register("small_cnn")
def small_cnn(*, in_chans: int = 1, num_classes: int = 2, embed_dim: int = 128, dropout: float = 0.5,
              width: int = 16, norm: str = "batch"):
    """A 6-convolution CNN for tiny thermal crops (20×24 … 64×64): 3 stages, 2 poolings."""
    _, Classifier = _build_classes()
    body, stages, channels, first = _small_cnn(in_chans, width, norm)
    return Classifier(body, stages, channels, num_classes, embed_dim, dropout, first)


def _torchvision_backbone(arch: str, in_chans: int):
    torch, nn = _torch()
    import torchvision

    builder, _, stages, first = _TORCHVISION[arch]
    net = getattr(torchvision.models, builder)(weights=None)
    if arch.startswith("resnet"):
        channels = net.fc.in_features
        body = nn.Sequential()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            body.add_module(name, getattr(net, name))
    else:
        body = nn.Sequential()
        body.add_module("features", net.features)
        channels = net.features[-1].out_channels if hasattr(net.features[-1], "out_channels") else None
        if channels is None:  # a Conv2dNormActivation block
            channels = [m for m in net.features[-1].modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        stages = [f"features.{i}" for i in range(len(net.features))]
        first = "features.0.0.weight"
    conv = body.get_submodule(first.rsplit(".", 1)[0])
    if in_chans != conv.in_channels:
        new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        parent_name, _, leaf = first.rsplit(".", 1)[0].rpartition(".")
        parent = body.get_submodule(parent_name) if parent_name else body
        setattr(parent, leaf, new)
    return body, stages, channels, first


def _make_torchvision_factory(arch: str):
    def factory(*, in_chans: int = 1, num_classes: int = 2, embed_dim: int = 128, dropout: float = 0.5):
        _, Classifier = _build_classes()
        body, stages, channels, first = _torchvision_backbone(arch, in_chans)
        return Classifier(body, stages, channels, num_classes, embed_dim, dropout, first)

    factory.__name__ = arch
    factory.__doc__ = f"torchvision {arch} backbone + GAP → 128 → dropout → classes head."
    return factory


for _arch in _TORCHVISION:
    register(_arch)(_make_torchvision_factory(_arch))


# ---- pretrained weights -----------------------------------------------------------------------

def imagenet_file(arch: str) -> tuple[Path, str]:
    """(where torch.hub looks for ``arch``'s ImageNet weights, the URL they come from)."""
    import torch
    import torchvision

    if arch not in _TORCHVISION:
        raise UsageError(f"no ImageNet weights for {arch!r} (only torchvision backbones have them)", param="--weights")
    enum = getattr(torchvision.models, _TORCHVISION[arch][1])
    url = enum.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name, url


def adapt_first_conv(weight, in_chans: int):
    """RGB first-convolution weights (O, 3, k, k) → (O, in_chans, k, k).

    Summing over RGB keeps the filter's response to a grey image equal to its response to the
    same image replicated on three channels; for K stacked frames the sum is shared out as /K,
    so a static scene still gives the pretrained response.
    """
    summed = weight.sum(dim=1, keepdim=True)
    return summed.repeat(1, in_chans, 1, 1) / in_chans


def load_pretrained(model, arch: str, weights: str, *, in_chans: int) -> dict[str, Any]:
    """Load ``weights`` (``none``, ``imagenet`` or a file) into ``model``'s backbone; returns a record.

    A file may be a thermcli checkpoint of the same architecture (its backbone is reused, the
    head too when the classes match) or a plain torchvision state dict (``*.pth``).
    """
    import torch

    if weights == "none":
        return {"weights": "none"}
    if weights == "imagenet":
        path, url = imagenet_file(arch)
        if not path.is_file():
            raise DataError(
                f"ImageNet weights for {arch} are not in the local torch cache: download {url} and place it "
                f"at {path} (nothing is downloaded at run time)",
                path=str(path),
            )
        source = _read_state_dict(path)
        return _load_torchvision_state(model, arch, source, in_chans, f"imagenet:{path.name}")
    path = Path(weights)
    if not path.is_file():
        raise DataError("no such weights file (expected none, imagenet or a .pt/.pth path)", path=str(path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"not a loadable weights file ({' '.join(str(exc).split())[:100]})", path=str(path)) from None
    if isinstance(payload, dict) and payload.get("format") == "thermcli.checkpoint":
        from thermcli.models.checkpoint import read_checkpoint

        config = read_checkpoint(path)["config"]
        if config.get("arch") != arch:
            raise DataError(f"checkpoint is a {config.get('arch')!r} model, not {arch!r}", path=str(path))
        state = payload["state_dict"]
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not any(k.startswith("backbone.") for k in usable):
            raise DataError("no backbone weights in this checkpoint fit the model", path=str(path))
        model.load_state_dict(usable, strict=False)
        return {"weights": str(path), "loaded_tensors": len(usable), "of": len(own)}
    if isinstance(payload, dict):
        return _load_torchvision_state(model, arch, payload, in_chans, str(path))
    raise DataError("not a state dict or thermcli checkpoint", path=str(path))


def _read_state_dict(path: Path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"unreadable weights ({' '.join(str(exc).split())[:100]})", path=str(path)) from None


def _load_torchvision_state(model, arch: str, source: dict, in_chans: int, label: str) -> dict[str, Any]:
    if arch not in _TORCHVISION:
        raise DataError(f"a torchvision state dict cannot initialise {arch!r}", path=label)
    first = _TORCHVISION[arch][3]
    mapped = {}
    for key, value in source.items():
        target = "backbone." + key
        if key == first and value.ndim == 4 and value.shape[1] == 3:
            value = adapt_first_conv(value, in_chans)
        mapped[target] = value
    own = model.state_dict()
    usable = {k: v for k, v in mapped.items() if k in own and own[k].shape == v.shape}
    backbone_keys = [k for k in own if k.startswith("backbone.")]
    missing = [k for k in backbone_keys if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise DataError(f"weights do not fit {arch}: {len(missing)} backbone tensors missing (e.g. {missing[0]})", path=label)
    model.load_state_dict(usable, strict=False)
    return {"weights": label, "loaded_tensors": len(usable)}
