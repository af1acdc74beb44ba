"""``fcos_small``: torchvision's FCOS on a small backbone — builds through the registry, trains
(finite losses, gradients everywhere), detects, and its two levels take the boxes FCOS assigns."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def test_fcos_small_trains_and_detects():
    from thermcli.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("detector", arch="fcos_small", num_classes=2, min_size=120, max_size=160)
    images = [torch.rand(3, 120, 160) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[40.0, 30.0, 60.0, 55.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[10.0, 10.0, 100.0, 110.0]]), "labels": torch.tensor([2])}]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"classification", "bbox_regression", "bbox_ctrness"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    features = model.net.backbone(torch.rand(1, 3, 120, 160))
    assert [tuple(f.shape[-2:]) for f in features.values()] == [(30, 40), (15, 20)]
    model.eval()
    with torch.no_grad():
        out = model(images)
    # index 0 is the background slot (never a target: a trained model learns not to use it)
    assert len(out) == 2 and out[0]["boxes"].shape[1] == 4 and (out[0]["labels"] <= 2).all()


def test_fcos_small_has_no_published_weights():
    from thermcli.errors import UsageError
    from thermcli.models.detection import published_file

    with pytest.raises(UsageError, match="no published weights"):
        published_file("fcos_small", "COCO_V1")
