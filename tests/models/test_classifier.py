"""Classifier registry: names, 1-channel adaptation of pretrained weights, the paper's head."""

from __future__ import annotations

import pytest
import torch

from thermcli.errors import DataError, UsageError
from thermcli.models.classifier import adapt_first_conv, imagenet_file, load_pretrained
from thermcli.models.registry import create_model, list_models


def test_registry_names_and_suggestions():
    assert {"small_cnn", "resnet18", "resnet50", "mobilenet_v3_small"} <= set(list_models())
    with pytest.raises(UsageError, match="did you mean resnet18"):
        create_model("resnet81")


@pytest.mark.parametrize("arch", ["small_cnn", "mobilenet_v3_small"])
def test_head_and_shapes(arch):
    model = create_model(arch, in_chans=3, num_classes=2).eval()
    logits, embedding = model(torch.zeros(2, 3, 40, 48), return_embedding=True)
    assert logits.shape == (2, 2) and embedding.shape == (2, 128)
    assert model.head.dropout.p == 0.5 and model.head.dense.out_features == 128
    assert len(model.stages) >= 3


def test_adapt_first_conv_keeps_grey_response():
    w = torch.randn(8, 3, 3, 3)
    grey = torch.randn(1, 1, 6, 6)
    rgb_response = torch.nn.functional.conv2d(grey.repeat(1, 3, 1, 1), w)
    assert torch.allclose(torch.nn.functional.conv2d(grey, adapt_first_conv(w, 1)), rgb_response, atol=1e-5)
    # K identical stacked frames give the same response too
    assert torch.allclose(torch.nn.functional.conv2d(grey.repeat(1, 4, 1, 1), adapt_first_conv(w, 4)), rgb_response, atol=1e-5)


def test_torchvision_state_dict_loads_with_summed_first_conv(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-test.pth"
    torch.save(source, path)
    model = create_model("resnet18", in_chans=1, num_classes=2)
    record = load_pretrained(model, "resnet18", str(path), in_chans=1)
    assert record["loaded_tensors"] > 100
    assert torch.allclose(model.state_dict()["backbone.conv1.weight"], source["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.state_dict()["backbone.layer4.1.conv2.weight"], source["layer4.1.conv2.weight"])


def test_imagenet_missing_says_where(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.hub.set_dir(str(tmp_path / "hub"))
    path, url = imagenet_file("resnet18")
    model = create_model("resnet18", in_chans=1, num_classes=2)
    with pytest.raises(DataError) as info:
        load_pretrained(model, "resnet18", "imagenet", in_chans=1)
    message = info.value.one_line()
    assert str(path) in message and url in message and path.name.startswith("resnet18-")
    # and once the file is there, it loads
    path.parent.mkdir(parents=True)
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    assert load_pretrained(model, "resnet18", "imagenet", in_chans=1)["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
