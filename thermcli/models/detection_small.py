"""``fcos_small``: torchvision's FCOS detector on a small convolutional backbone.

For small thermal frames (a 160×120 Lepton face, a 80×60 sensor) and a CPU budget of minutes,
without pretrained weights: torchvision's FCOS (anchor-free heads, focal + GIoU + centre-ness
losses, post-processing — nothing of the detector is written here) on a five-layer backbone
(conv-BN-ReLU, 16–32–32–64–64 channels) that gives two feature levels, stride 4 and stride 8,
both projected to 32 channels, and FCOS's head with two convolutions a branch (about 0.1 M
parameters in all). Level sizes 4 and 8 px: FCOS assigns a box to stride 4 while its largest
point-to-edge distance is under 32 px (boxes up to about 64 px at the model's input size),
larger ones to stride 8. Made for inputs of about 120×160 (``--input-size 120x160``).
"""

from __future__ import annotations

from typing import Any


def fcos_small(num_classes: int, min_size: int, max_size: int, **extra: Any):
    import torch
    from torch import nn
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Backbone(nn.Module):
        out_channels = 32

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1))
            self.down = nn.Sequential(block(32, 64, 2), block(64, 64, 1))
            self.lateral4 = nn.Conv2d(32, 32, 1)
            self.lateral8 = nn.Conv2d(64, 32, 1)

        def forward(self, x: torch.Tensor):
            c4 = self.stem(x)
            c8 = self.down(c4)
            p8 = self.lateral8(c8)
            p4 = self.lateral4(c4) + nn.functional.interpolate(p8, size=c4.shape[-2:], mode="nearest")
            return {"0": p4, "1": p8}

    backbone = Backbone()
    anchors = AnchorGenerator(sizes=((4,), (8,)), aspect_ratios=((1.0,), (1.0,)))
    head = FCOSHead(backbone.out_channels, 1, num_classes, num_convs=2)
    return FCOS(backbone, num_classes=num_classes, min_size=min_size, max_size=max_size,
                anchor_generator=anchors, head=head, **extra)
