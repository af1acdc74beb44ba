"""export-model: ONNX equals PyTorch within 1e-4 (checked by onnxruntime here, independently)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import assert_clean_error
from thermcli.models.checkpoint import save_checkpoint
from thermcli.models.registry import register


class SmallNet(torch.nn.Module):
    def __init__(self, in_chans: int = 1, num_classes: int = 2):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(in_chans, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.head = torch.nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register("test_export_net")
def _small(in_chans: int = 1, num_classes: int = 2) -> SmallNet:
    return SmallNet(in_chans, num_classes)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = SmallNet()
    model.eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, state_dict=model.state_dict(), config={"arch": "test_export_net", "model_kwargs": {}, "input_shape": [1, 24, 32]})
    return path, model


def test_export_matches_torch(cli, tmp_path, checkpoint):
    import onnxruntime

    path, model = checkpoint
    result = cli("export-model", path, tmp_path / "m.onnx", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["max_abs_diff"] <= 1e-4
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 1, 24, 32)  # a batch size never seen at export: the batch axis is dynamic
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], expected, atol=1e-4)


def test_export_needs_onnx_suffix(cli, tmp_path, checkpoint):
    assert_clean_error(cli("export-model", checkpoint[0], tmp_path / "m.bin"), 2, "OUT")


def test_export_corrupted_checkpoint(cli, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert_clean_error(cli("export-model", bad, tmp_path / "m.onnx"), 1, "bad.pt")
    assert not (tmp_path / "m.onnx").exists()


def test_export_bad_input_shape(cli, tmp_path, checkpoint):
    assert_clean_error(cli("export-model", checkpoint[0], tmp_path / "m.onnx", "--input-shape", "1,x"), 2, "--input-shape")


def test_a_classifier_checkpoint_gives_its_input_shape_from_frames_and_frame_shape():
    from thermcli.stages.export_model import input_shape_of

    assert input_shape_of({"frames": 3, "frame_shape": [24, 32]}, None) == (3, 24, 32)
    assert input_shape_of({"frames": 3, "frame_shape": [24, 32]}, (1, 8, 8)) == (1, 8, 8)
    assert input_shape_of({"input_shape": [1, 60, 80], "frames": 3, "frame_shape": [24, 32]}, None) == (1, 60, 80)


def test_a_checkpoint_without_any_shape_asks_for_one(cli, tmp_path):
    model = SmallNet()
    path = tmp_path / "noshape.pt"
    save_checkpoint(path, state_dict=model.state_dict(), config={"arch": "test_export_net", "model_kwargs": {}})
    assert_clean_error(cli("export-model", path, tmp_path / "m.onnx"), 2, "--input-shape")
    assert not (tmp_path / "m.onnx").exists()
