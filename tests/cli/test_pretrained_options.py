"""Every option that loads weights refuses a pickle that would run code (and runs nothing);
``adapt --weights`` starts the source stage from a pretrained registry backbone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_dataset

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    old = torch.hub._hub_dir
    torch.hub._hub_dir = None
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    yield folder
    torch.hub._hub_dir = old


def test_adapt_encoder_takes_torchvision_weights(hub):
    from thermcli.models.classifier import load_adapt_encoder_pretrained
    from thermcli.models.registry import create_model

    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, hub / "resnet18-f37072fd.pth")
    kwargs = {"encoder": "backbone_encoder", "num_classes": 2,
              "encoder_kwargs": {"backbone": "resnet18", "in_chans": 1, "input_size": [32, 32], "feature_dim": 16}}
    model = create_model("adapt_classifier", **kwargs)
    record = load_adapt_encoder_pretrained(model, kwargs, "IMAGENET1K_V1")
    trunk = model.encoder[0].state_dict()
    assert torch.allclose(trunk["conv1.weight"], state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(trunk["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])
    assert record["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    from thermcli.errors import UsageError

    lenet = {"encoder": "lenet_encoder", "num_classes": 2, "encoder_kwargs": {"in_chans": 1}}
    with pytest.raises(UsageError, match="backbone_encoder"):
        load_adapt_encoder_pretrained(create_model("adapt_classifier", **lenet), lenet, "IMAGENET1K_V1")


def test_adapt_weights_end_to_end_records_them(cli, hub, tmp_path):
    from thermcli.io import write_dataset
    from thermcli.models.checkpoint import read_checkpoint

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), hub / "resnet18-f37072fd.pth")
    write_dataset(tmp_path / "s.h5", make_dataset(16, h=32, w=32, seed=1))
    write_dataset(tmp_path / "t.h5", make_dataset(16, h=32, w=32, seed=2, labels=False))
    result = cli("adapt", tmp_path / "s.h5", tmp_path / "t.h5", "--encoder", "backbone_encoder", "--backbone", "resnet18",
                 "--weights", "IMAGENET1K_V1", "--source-epochs", "1", "--epochs", "1", "--steps-per-epoch", "1",
                 "--batch-size", "8", "--feature-dim", "16", "--disc-hidden", "16", "--threads", "1",
                 "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    weights = read_checkpoint(tmp_path / "run" / "source.pt")["config"]["weights"]
    assert weights["weights"] == "ResNet18_Weights.IMAGENET1K_V1" and len(weights["sha256"]) == 64


# ---- a checkpoint whose pickle would run code ------------------------------------------------

def evil(tmp_path, name="evil.pt"):
    from tests.models.test_weights import malicious_file

    marker = tmp_path / "pwned"
    return malicious_file(tmp_path / name, marker), marker


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tests.stages.pose_data import make_pose_dataset
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("d")
    write_dataset(root / "cls.h5", make_dataset(12, h=16, w=16))
    write_dataset(root / "pairs.h5", make_pose_dataset(4, seed=0))
    return root


def commands(d, path, out):
    return {
        "train --weights": ["train", d / "cls.h5", "--arch", "resnet18", "--weights", path, "--out", out],
        "train keypoints --weights": ["train", d / "pairs.h5", "--task", "keypoints", "--arch", "resnet18",
                                      "--weights", path, "--out", out],
        "train --teacher-weights": ["train", d / "pairs.h5", "--task", "keypoints", "--arch", "vit_tiny",
                                    "--teacher-weights", path, "--out", out],
        "distill keypoints --teacher": ["distill", d / "pairs.h5", "--task", "keypoints", "--teacher", path,
                                        "--out", out],
        "distill classify --teacher": ["distill", d / "cls.h5", "--teacher", path, "--student", "small_cnn",
                                       "--out", out],
        "distill --weights": ["distill", d / "cls.h5", "--teacher", path, "--student", "resnet18", "--weights", path,
                              "--out", out],
        "adapt --source-model": ["adapt", d / "cls.h5", d / "cls.h5", "--source-model", path, "--source-epochs", "0",
                                 "--out", out],
        "adapt --weights": ["adapt", d / "cls.h5", d / "cls.h5", "--encoder", "backbone_encoder", "--backbone",
                            "resnet18", "--weights", path, "--out", out],
        "eval MODEL": ["eval", path, d / "cls.h5"],
        "predict MODEL": ["predict", path, d / "cls.h5", out],
        "export-model MODEL": ["export-model", path, out.with_suffix(".onnx")],
    }


@pytest.mark.parametrize("option", list(commands(Path("d"), "p", Path("o"))))
def test_malicious_checkpoint_is_refused_and_runs_nothing(cli, data, tmp_path, option):
    path, marker = evil(tmp_path)
    out = tmp_path / "out"
    result = cli(*commands(data, path, out)[option], "--device", "cpu") if option != "export-model MODEL" else \
        cli(*commands(data, path, out)[option])
    assert result.exit_code in (1, 2), (option, result.output)
    assert "Traceback" not in result.output
    assert "evil.pt" in result.output
    assert not marker.exists(), option
    assert not out.exists() and not out.with_suffix(".onnx").exists(), option
