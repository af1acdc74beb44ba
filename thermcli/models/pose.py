"""Top-down heatmap pose models: an encoder (``mobilenet_v3_small``, ``resnet50`` or a ViT in the
ViTPose layout) producing a stride-16 latent, and the "classic" decoder (two 4×4 stride-2
deconvolutions + BN + ReLU, then a 1×1 convolution to K heatmaps): input 256×192 → heatmaps
64×48. Built by name: ``create_model("topdown_pose", encoder="mobilenet_v3_small", in_chans=1)``.

A student may carry a 1×1 ``projection`` from its own latent to a teacher's latent width, so the
teacher's decoder can be shared (distillation, ``latent_channels`` ≠ ``decoder_in``).

Losses: :func:`heatmap_mse` and :func:`adaptive_wing` (Wang et al., ICCV 2019).
Official ViTPose-B / MMPose checkpoints load through :func:`map_vitpose_state_dict`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from thermcli.errors import DataError, UsageError
from thermcli.models.registry import register

ENCODERS = ("mobilenet_v3_small", "resnet18", "resnet34", "resnet50", "vit")
# ViT-B/16 as in ViTPose-B; tests and CPU demos shrink depth/width.
VIT_BASE = {"vit_dim": 768, "vit_depth": 12, "vit_heads": 12}


def _torch():
    import torch
    import torch.nn as nn

    return torch, nn


def _build_vit(in_chans: int, input_size: Sequence[int], dim: int, depth: int, heads: int, mlp_ratio: float,
               drop_path: float):
    torch, nn = _torch()

    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            # ViTPose's PatchEmbed with ratio 1: kernel 16, stride 16, padding 2
            self.proj = nn.Conv2d(in_chans, dim, kernel_size=16, stride=16, padding=2)

        def forward(self, x):
            return self.proj(x)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.num_heads = heads
            self.qkv = nn.Linear(dim, dim * 3, bias=True)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
            out = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            return self.proj(out.transpose(1, 2).reshape(b, n, c))

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
            self.act = nn.GELU()
            self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self, drop: float):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp()
            self.drop = drop

        def _path(self, y):
            if not self.training or self.drop == 0:
                return y
            keep = (torch.rand(y.shape[0], 1, 1, device=y.device) >= self.drop).to(y.dtype)
            return y * keep / (1 - self.drop)

        def forward(self, x):
            x = x + self._path(self.attn(self.norm1(x)))
            return x + self._path(self.mlp(self.norm2(x)))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = PatchEmbed()
            h, w = input_size
            self.grid = ((h + 4 - 16) // 16 + 1, (w + 4 - 16) // 16 + 1)
            # one extra slot, as ViTPose stores it (a class-token position added to every patch)
            self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1] + 1, dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
            self.blocks = nn.ModuleList([Block(r) for r in rates])
            self.last_norm = nn.LayerNorm(dim, eps=1e-6)
            self.out_channels = dim

        def forward(self, x):
            x = self.patch_embed(x)
            b, c, hp, wp = x.shape
            x = x.flatten(2).transpose(1, 2)
            x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
            for block in self.blocks:
                x = block(x)
            x = self.last_norm(x)
            return x.transpose(1, 2).reshape(b, c, hp, wp)

    return ViT()


def _build_encoder(name: str, in_chans: int, input_size: Sequence[int], weights: str, vit: Mapping[str, Any]):
    torch, nn = _torch()
    import torchvision

    if name == "vit":
        if weights not in ("none", "", None):
            raise UsageError("a ViT encoder takes published ViTPose weights through --teacher-weights / --teacher, "
                             "not --weights", param="--weights")
        return _build_vit(in_chans, input_size, vit["vit_dim"], vit["vit_depth"], vit["vit_heads"],
                          vit.get("vit_mlp_ratio", 4.0), vit.get("vit_drop_path", 0.0))
    if name == "mobilenet_v3_small":
        # dilated last stage: stride 16 (not 32), so the classic two-deconv decoder gives 1/4 heatmaps
        net = torchvision.models.mobilenet_v3_small(weights=None, dilated=True)
        body = net.features
        first = body[0][0]
        out_channels = 576
    elif name == "resnet50":
        net = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, False, True])
        body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
        first = net.conv1
        out_channels = 2048
    elif name in ("resnet18", "resnet34"):
        # SimpleBaseline-style ResNet; BasicBlocks cannot dilate, so the last stage keeps stride 1
        # (stride 16 overall, like the other encoders: the classic decoder gives 1/4 heatmaps)
        net = getattr(torchvision.models, name)(weights=None)
        net.layer4[0].conv1.stride = (1, 1)
        net.layer4[0].downsample[0].stride = (1, 1)
        body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
        first = net.conv1
        out_channels = 512
    else:
        raise UsageError(f"unknown pose encoder {name!r}; choose from {', '.join(ENCODERS)}", param="--arch")
    if weights not in ("none", "", None):
        body.weights_record = _load_imagenet(net, name, weights)
    if in_chans != 3:
        # grey thermal input: average the RGB filters (keeps pretrained responses meaningful)
        conv = first if isinstance(first, nn.Conv2d) else first
        new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        with torch.no_grad():
            new.weight.copy_(conv.weight.mean(1, keepdim=True).repeat(1, in_chans, 1, 1))
        if name == "mobilenet_v3_small":
            body[0][0] = new
        else:
            body[0] = new
    for module in body.modules():
        # torchvision's MobileNetV3 uses BN momentum 0.01: after the few hundred steps of a small
        # thermal dataset its running statistics are still near their initial values
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    body.out_channels = out_channels
    return body


def _load_imagenet(net, name: str, weights: str) -> dict[str, Any]:
    """torchvision weights (``imagenet``, ``IMAGENET1K_V1``, ``DEFAULT``, ``ResNet50_Weights.…``)
    from the torch hub cache, or a state-dict file, into the torchvision ``net``; returns the record."""
    from pathlib import Path

    from thermcli.models.weights import extract_state_dict, is_weight_name, locate_torchvision, safe_load, weights_record

    path, label = Path(weights), str(weights)
    if not path.is_file() and is_weight_name(weights):
        path, label, _ = locate_torchvision(name, weights)
    state = extract_state_dict(safe_load(path), where=str(path))
    missing, unexpected = net.load_state_dict(state, strict=False)
    if len(missing) > len(state) // 2:
        raise DataError(f"weights do not fit {name} ({len(missing)} tensors missing)", path=str(path))
    return weights_record(label, path, loaded_tensors=len(state) - len(unexpected))


def _build_decoder(in_channels: int, num_keypoints: int, channels: int = 256):
    torch, nn = _torch()

    class ClassicDecoder(nn.Module):
        """ViTPose's TopdownHeatmapSimpleHead: deconv 4×4/2 + BN + ReLU (×2), then 1×1 → K."""

        def __init__(self):
            super().__init__()
            self.deconv_layers = nn.Sequential(
                nn.ConvTranspose2d(in_channels, channels, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            self.final_layer = nn.Conv2d(channels, num_keypoints, 1)
            nn.init.normal_(self.final_layer.weight, std=0.001)
            nn.init.zeros_(self.final_layer.bias)

        def forward(self, x):
            return self.final_layer(self.deconv_layers(x))

    return ClassicDecoder()


def _pose_class():
    torch, nn = _torch()

    class TopDownPose(nn.Module):
        """encoder → (projection) → decoder. ``forward`` returns heatmaps (B, K, H/4, W/4)."""

        def __init__(self, encoder, decoder, projection, config: dict[str, Any]):
            super().__init__()
            self.encoder = encoder
            self.projection = projection
            self.decoder = decoder
            self.config = config
            self.input_affine = None
            mean, std = config.get("input_mean"), config.get("input_std")
            if mean is not None:
                # x' = (255·(x·σ_in + μ_in) − mean) / std per channel, with μ_in, σ_in ImageNet's (0–1)
                imean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
                istd = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
                m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
                sd = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
                self.register_buffer("_in_scale", 255 * istd / sd, persistent=False)
                self.register_buffer("_in_shift", (255 * imean - m) / sd, persistent=False)
                self.input_affine = (self._in_scale, self._in_shift)

        @property
        def input_size(self) -> tuple[int, int]:
            return tuple(self.config["input_size"])

        @property
        def heatmap_size(self) -> tuple[int, int]:
            h, w = self.input_size
            return (h // 4, w // 4)

        def encode(self, x):
            """The latent the decoder reads (after the projection, when there is one)."""
            if self.input_affine is not None:  # ImageNet-normalised input → the file's own mean/std
                scale, shift = self.input_affine
                x = x * scale.to(x.dtype) + shift.to(x.dtype)
            z = self.encoder(x)
            return self.projection(z) if self.projection is not None else z

        def forward(self, x):
            return self.decoder(self.encode(x))

    return TopDownPose


@register("topdown_pose")
def topdown_pose(
    encoder: str = "mobilenet_v3_small",
    num_keypoints: int = 17,
    in_chans: int = 3,
    input_size: Sequence[int] = (256, 192),
    decoder_channels: int = 256,
    decoder_in: int | None = None,
    projection: bool = False,
    weights: str = "none",
    vit_dim: int = 768,
    vit_depth: int = 12,
    vit_heads: int = 12,
    vit_mlp_ratio: float = 4.0,
    vit_drop_path: float = 0.0,
    input_mean: Sequence[float] | None = None,
    input_std: Sequence[float] | None = None,
):
    """A top-down heatmap pose model.

    ``input_size`` (H, W) of the person crops, multiples of 16 (paper: 256×192; CPU demos:
    128×96); ``decoder_in``: the decoder's input width when it differs from the encoder's
    latent (a student sharing a teacher's decoder): a 1×1 projection is inserted; ``projection``
    inserts it also when the widths agree (a learned adapter from the student's latent space to
    the teacher's).
    """
    torch, nn = _torch()
    h, w = (int(v) for v in input_size)
    if h % 16 or w % 16:
        raise UsageError(f"input size {h}x{w} must be multiples of 16", param="--input-size")
    vit = {"vit_dim": vit_dim, "vit_depth": vit_depth, "vit_heads": vit_heads, "vit_mlp_ratio": vit_mlp_ratio,
           "vit_drop_path": vit_drop_path}
    if encoder == "vit" and vit_dim % vit_heads:
        raise UsageError(f"ViT width {vit_dim} is not a multiple of {vit_heads} heads", param="--arch")
    enc = _build_encoder(encoder, in_chans, (h, w), weights, vit)
    latent = enc.out_channels
    dec_in = decoder_in or latent
    projection = nn.Conv2d(latent, dec_in, 1) if (dec_in != latent or projection) else None
    config = {"encoder": encoder, "num_keypoints": num_keypoints, "in_chans": in_chans, "input_size": [h, w],
              "latent_channels": latent, "decoder_in": dec_in}
    if input_mean is not None or input_std is not None:
        # the mean/std (0–255 RGB) a published teacher was trained with; inputs arrive ImageNet-normalised
        if input_mean is None or input_std is None or len(input_mean) != 3 or len(input_std) != 3 or in_chans != 3:
            raise UsageError("input_mean and input_std need three values each (RGB input)", param="--teacher")
        config["input_mean"], config["input_std"] = list(input_mean), list(input_std)
    return _pose_class()(enc, _build_decoder(dec_in, num_keypoints, decoder_channels), projection, config)


def pose_kwargs(encoder: str, **overrides: Any) -> dict[str, Any]:
    """Model kwargs for a named encoder; ``vit_b`` is ViT-B/16 (ViTPose-B), ``vit_tiny`` a CPU toy."""
    if encoder in ("vit_b", "vitpose_b", "vit"):
        base = {"encoder": "vit", **VIT_BASE}
    elif encoder == "vit_tiny":
        base = {"encoder": "vit", "vit_dim": 96, "vit_depth": 2, "vit_heads": 4}
    elif encoder in ENCODERS:
        base = {"encoder": encoder}
    else:
        raise UsageError(
            f"unknown pose encoder {encoder!r}; choose from mobilenet_v3_small, resnet18, resnet34, resnet50, vit_b, "
            "vit_tiny", param="--arch"
        )
    base.update({k: v for k, v in overrides.items() if v is not None})
    return base


# ---- losses ----------------------------------------------------------------------------------


def heatmap_mse(pred, target, weights=None):
    """Mean squared error over heatmaps (B, K, h, w), keypoints weighted by ``weights`` (B, K)."""
    err = (pred - target) ** 2
    if weights is not None:
        err = err * weights[:, :, None, None]
    return err.mean()


def adaptive_wing(pred, target, weights=None, *, alpha: float = 2.1, omega: float = 14.0, epsilon: float = 1.0,
                  theta: float = 0.5, map_weight: float = 0.0):
    """Adaptive Wing loss (Wang, Bo, Fuxin, ICCV 2019), mean over pixels:

    AWing(y, ŷ) = ω ln(1 + |y − ŷ|/ε ^ (α − y))        if |y − ŷ| < θ
                  A |y − ŷ| − C                         otherwise
    A = ω (1 / (1 + (θ/ε)^(α − y))) (α − y) (θ/ε)^(α − y − 1) / ε,  C = θA − ω ln(1 + (θ/ε)^(α − y)).

    ``map_weight`` W > 0: the paper's weighted loss map, each pixel's loss × (W·M + 1) with M the
    3×3 grey dilation of the target thresholded at 0.2 (the foreground around each keypoint); the
    paper uses W = 10.
    """
    import torch

    delta = (target - pred).abs()
    power = alpha - target
    ratio = theta / epsilon
    a = omega * (1 / (1 + torch.pow(ratio, power))) * power * torch.pow(ratio, power - 1) / epsilon
    c = theta * a - omega * torch.log1p(torch.pow(ratio, power))
    loss = torch.where(delta < theta, omega * torch.log1p(torch.pow(delta / epsilon, power)), a * delta - c)
    if map_weight:
        loss = loss * (map_weight * loss_map(target) + 1)
    if weights is not None:
        loss = loss * weights[:, :, None, None]
    return loss.mean()


def loss_map(target, threshold: float = 0.2):
    """The Adaptive Wing paper's foreground mask: 3×3 grey dilation of the heatmaps ≥ ``threshold``."""
    import torch

    dilated = torch.nn.functional.max_pool2d(target.reshape(-1, 1, *target.shape[-2:]), 3, stride=1, padding=1)
    return (dilated.reshape(target.shape) >= threshold).to(target.dtype)


HEATMAP_LOSSES = {"mse": heatmap_mse, "adaptive_wing": adaptive_wing, "awing": adaptive_wing}


# ---- official ViTPose / MMPose checkpoints ---------------------------------------------------

def map_vitpose_state_dict(official: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a published ViTPose state dict (ViTPose repo / MMPose 0.x or MMPose 1.x layout, see
    :mod:`thermcli.models.vitpose`) onto this module's ``encoder.*``/``decoder.*`` names.

    Raises :class:`DataError` naming the first tensor that has no place here.
    """
    from thermcli.models.vitpose import map_state_dict

    if "state_dict" in official and isinstance(official["state_dict"], Mapping):
        official = official["state_dict"]
    return map_state_dict(official)[0]


def load_vitpose_checkpoint(model, path) -> dict[str, int]:
    """Load a published ViTPose ``.pth`` (either layout; NumPy values in mmengine's ``meta`` are
    allowed, nothing else is unpickled) into a ``topdown_pose(encoder='vit')`` model.

    Positional embeddings are resized (bicubic) when the crop size differs from the checkpoint's.
    Returns counts of loaded tensors; a missing or misshapen tensor is a :class:`DataError`.
    """
    from thermcli.models.vitpose import load_into, read_published

    _, mapped, layout = read_published(path)
    return load_into(model, mapped, layout, where=str(path))


def official_vitpose_shapes(num_keypoints: int = 17, *, dim: int = 768, depth: int = 12, grid=(16, 12),
                            mlp_ratio: float = 4.0, channels: int = 256) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the official ViTPose-B checkpoint (MMPose 0.x layout)."""
    shapes: dict[str, tuple[int, ...]] = {
        "backbone.pos_embed": (1, grid[0] * grid[1] + 1, dim),
        "backbone.patch_embed.proj.weight": (dim, 3, 16, 16),
        "backbone.patch_embed.proj.bias": (dim,),
    }
    hidden = int(dim * mlp_ratio)
    for i in range(depth):
        b = f"backbone.blocks.{i}."
        shapes.update({
            b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
            b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
            b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
            b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
            b + "mlp.fc1.weight": (hidden, dim), b + "mlp.fc1.bias": (hidden,),
            b + "mlp.fc2.weight": (dim, hidden), b + "mlp.fc2.bias": (dim,),
        })  # fmt: skip
    shapes["backbone.last_norm.weight"] = (dim,)
    shapes["backbone.last_norm.bias"] = (dim,)
    for idx, cin in ((0, dim), (3, channels)):
        shapes[f"keypoint_head.deconv_layers.{idx}.weight"] = (cin, channels, 4, 4)
        bn = f"keypoint_head.deconv_layers.{idx + 1}."
        shapes.update({bn + "weight": (channels,), bn + "bias": (channels,), bn + "running_mean": (channels,),
                       bn + "running_var": (channels,), bn + "num_batches_tracked": ()})
    shapes["keypoint_head.final_layer.weight"] = (num_keypoints, channels, 1, 1)
    shapes["keypoint_head.final_layer.bias"] = (num_keypoints,)
    return shapes
