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
        def __init__(self, backbone, stages, channels, num_classes, embed_dim, dropout, first_conv_name, *,
                     stem=None, input_size=None):
            super().__init__()
            self.backbone = backbone
            self.head = Head(channels, num_classes, embed_dim, dropout)
            self._stage_names = stages
            self.first_conv_name = "backbone." + first_conv_name
            # the input front end, part of the model so predict/eval/export do what training did
            self.input_size = tuple(int(v) for v in input_size) if input_size else None
            self.stem = stem  # None, or the conv2x3 front end (trains with the head)

        @property
        def stages(self) -> list:
            return [self.backbone.get_submodule(name) for name in self._stage_names]

        def prepare(self, x):
            """Network input → what the backbone sees: resized to ``input_size``, through the stem."""
            if self.input_size is not None and tuple(x.shape[-2:]) != self.input_size:
                x = resize_input(x, self.input_size)
            return self.stem(x) if self.stem is not None else x

        def forward(self, x, return_embedding: bool = False):
            logits, embedding = self.head(self.backbone(self.prepare(x)))
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


STEMS = ("sum", "conv2x3")


def parse_input_size(text) -> tuple[int, int] | None:
    """``"256x256"`` / ``(256, 256)`` / None → (H, W) or None (strings: ``parsing.parse_size``)."""
    from thermcli.parsing import parse_size

    if text in (None, "", "none"):
        return None
    if isinstance(text, str):
        return parse_size(text, "--input-size")
    h, w = (int(v) for v in text)
    if h < 1 or w < 1:
        raise UsageError(f"{h}x{w}: both sides must be ≥ 1", param="--input-size")
    return h, w


def resize_input(x, size):
    """(B, C, h, w) → (B, C, H, W), bilinear (half-pixel centres, as OpenCV's INTER_LINEAR), with
    antialiasing when shrinking (as PIL): the one resize of training, predict and eval."""
    import torch.nn.functional as F

    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)


def conv2x3_stem(in_chans: int):
    """BreathAI's front end: two 3×3 convolutions in_chans → 3 → 3 (bias, 'same' padding, linear as
    Keras' Conv2D default) before the ImageNet stem: 27·in_chans + 3 and 84 parameters (30 + 84 for
    grey input). Initialised as a pass-through (every output channel = the mean of the input
    channels), so at the start the ImageNet backbone sees the grey image on R, G and B."""
    torch, nn = _torch()
    stem = nn.Sequential(nn.Conv2d(in_chans, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1))
    with torch.no_grad():
        for conv, fan in ((stem[0], in_chans), (stem[1], None)):
            conv.weight.zero_()
            conv.bias.zero_()
            if fan is None:  # identity on the 3 channels
                for c in range(3):
                    conv.weight[c, c, 1, 1] = 1.0
            else:
                conv.weight[:, :, 1, 1] = 1.0 / fan
    return stem


@register("small_cnn")
def small_cnn(*, in_chans: int = 1, num_classes: int = 2, embed_dim: int = 128, dropout: float = 0.5,
              width: int = 16, norm: str = "batch", input_size=None):
    """A 6-convolution CNN for tiny thermal crops (20×24 … 64×64): 3 stages, 2 poolings."""
    _, Classifier = _build_classes()
    body, stages, channels, first = _small_cnn(in_chans, width, norm)
    return Classifier(body, stages, channels, num_classes, embed_dim, dropout, first,
                      input_size=parse_input_size(input_size))


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
    def factory(*, in_chans: int = 1, num_classes: int = 2, embed_dim: int = 128, dropout: float = 0.5,
                stem: str = "sum", input_size=None):
        _, Classifier = _build_classes()
        if stem not in STEMS:
            raise UsageError(f"{stem!r}: expected {' or '.join(STEMS)}", param="--stem")
        # sum: the first convolution takes in_chans directly (its RGB filters summed when loading
        # ImageNet weights); conv2x3: a learned in_chans → 3 front end keeps the RGB convolution
        body, stages, channels, first = _torchvision_backbone(arch, 3 if stem == "conv2x3" else in_chans)
        front = conv2x3_stem(in_chans) if stem == "conv2x3" else None
        return Classifier(body, stages, channels, num_classes, embed_dim, dropout, first, stem=front,
                          input_size=parse_input_size(input_size))

    factory.__name__ = arch
    factory.__doc__ = f"torchvision {arch} backbone + GAP → 128 → dropout → classes head."
    return factory


for _arch in _TORCHVISION:
    register(_arch)(_make_torchvision_factory(_arch))


# ---- pretrained weights -----------------------------------------------------------------------

def imagenet_file(arch: str, name: str = "DEFAULT") -> tuple[Path, str]:
    """(where torch.hub caches ``arch``'s torchvision weights ``name``, the URL they come from)."""
    from thermcli.models.weights import resolve_torchvision, torchvision_file

    if arch not in _TORCHVISION:
        raise UsageError(f"no ImageNet weights for {arch!r} (only torchvision backbones have them)", param="--weights")
    return torchvision_file(resolve_torchvision(arch, name))


def adapt_first_conv(weight, in_chans: int):
    """RGB first-convolution weights (O, 3, k, k) → (O, in_chans, k, k).

    Summing over RGB keeps the filter's response to a grey image equal to its response to the
    same image replicated on three channels; for K stacked frames the sum is shared out as /K,
    so a static scene still gives the pretrained response.
    """
    summed = weight.sum(dim=1, keepdim=True)
    return summed.repeat(1, in_chans, 1, 1) / in_chans


def load_pretrained(model, arch: str, weights: str, *, in_chans: int) -> dict[str, Any]:
    """Load ``weights`` into ``model``'s backbone; returns the provenance record (name, file, SHA-256).

    ``weights``: ``none``; a torchvision weights name (``IMAGENET1K_V1``, ``IMAGENET1K_V2``,
    ``DEFAULT``, ``ResNet50_Weights.IMAGENET1K_V1``; ``imagenet`` = ``DEFAULT``) read from the torch
    hub cache; or a file: a thermcli checkpoint of the same architecture (its backbone is reused,
    the head too when the classes match) or a plain torchvision state dict (``*.pth``).
    """
    from thermcli.models.weights import extract_state_dict, is_weight_name, locate_torchvision, safe_load, weights_record

    if weights in ("none", "", None):
        return {"weights": "none"}
    path = Path(weights)
    if not path.is_file() and is_weight_name(weights):
        path, full, _ = locate_torchvision(arch, weights)
        source = extract_state_dict(safe_load(path), where=str(path))
        loaded = _load_torchvision_state(model, arch, source, in_chans, str(path))
        return weights_record(full, path, **loaded)
    if not path.is_file():
        raise DataError("no such weights file (expected none, a torchvision weights name such as IMAGENET1K_V1, "
                        "or a .pt/.pth path)", path=str(path))
    payload = safe_load(path)
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
        return weights_record(str(path), path, loaded_tensors=len(usable), of=len(own))
    source = extract_state_dict(payload, where=str(path))
    return weights_record(str(path), path, **_load_torchvision_state(model, arch, source, in_chans, str(path)))


def _load_torchvision_state(model, arch: str, source: dict, in_chans: int, label: str) -> dict[str, Any]:
    if arch not in _TORCHVISION:
        raise DataError(f"a torchvision state dict cannot initialise {arch!r}", path=label)
    first = _TORCHVISION[arch][3]
    own = model.state_dict()
    mapped = {}
    for key, value in source.items():
        target = "backbone." + key
        own_first = own.get(target)
        if key == first and value.ndim == 4 and value.shape[1] == 3 and own_first is not None \
                and own_first.shape[1] != 3:  # grey / K-frame input straight into the first conv
            value = adapt_first_conv(value, own_first.shape[1])
        mapped[target] = value
    usable = {k: v for k, v in mapped.items() if k in own and own[k].shape == v.shape}
    backbone_keys = [k for k in own if k.startswith("backbone.")]
    missing = [k for k in backbone_keys if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise DataError(f"weights do not fit {arch}: {len(missing)} backbone tensors missing (e.g. {missing[0]})", path=label)
    model.load_state_dict(usable, strict=False)
    return {"loaded_tensors": len(usable)}


def load_backbone_pretrained(trunk, arch: str, weights: str, *, in_chans: int) -> dict[str, Any]:
    """:func:`load_pretrained` for a registry classifier's ``.backbone`` used on its own (an
    encoder's trunk, e.g. adapt's ``backbone_encoder``): same names, same sources, same record."""
    _, nn = _torch()
    holder = nn.Module()
    holder.backbone = trunk
    return load_pretrained(holder, arch, weights, in_chans=in_chans)


def load_adapt_encoder_pretrained(model, model_kwargs: dict[str, Any], weights: str) -> dict[str, Any]:
    """Pretrained weights (a torchvision name such as ``IMAGENET1K_V1``, or a file) into the trunk
    of an ``adapt_classifier`` whose encoder is ``backbone_encoder`` (``adapt --weights``)."""
    encoder_kwargs = model_kwargs.get("encoder_kwargs") or {}
    if model_kwargs.get("encoder") != "backbone_encoder":
        raise UsageError(f"pretrained weights need --encoder backbone_encoder (a registry backbone), not "
                         f"{model_kwargs.get('encoder')!r}", param="--weights")
    arch = encoder_kwargs.get("backbone", "small_cnn")
    in_chans = int(encoder_kwargs.get("in_chans", 1))
    return load_backbone_pretrained(model.encoder[0], arch, weights, in_chans=in_chans)
