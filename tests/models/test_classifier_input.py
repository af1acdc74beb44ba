"""Classification input as the papers feed it: an in-model resize (OpenCV / PIL references), the
BreathAI conv2x3 front end (30 + 84 parameters), 3-channel and --grey frames, and predict/eval
doing what training did."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import assert_clean_error, make_dataset  # noqa: E402
from thermcli.models.classifier import conv2x3_stem, resize_input  # noqa: E402
from thermcli.models.registry import create_model  # noqa: E402


def test_conv2x3_stem_has_the_papers_parameter_counts():
    model = create_model("resnet50", in_chans=1, num_classes=2, stem="conv2x3")
    assert [sum(p.numel() for p in conv.parameters()) for conv in model.stem] == [30, 84]
    plain = create_model("resnet50", in_chans=3, num_classes=2)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == count(plain) + 30 + 84
    assert model.backbone.conv1.in_channels == 3  # the ImageNet stem keeps its RGB filters
    assert [sum(p.numel() for p in conv.parameters()) for conv in conv2x3_stem(4)] == [27 * 4 + 3, 84]


def test_conv2x3_starts_as_the_grey_image_on_rgb():
    torch.manual_seed(0)
    model = create_model("resnet18", in_chans=1, num_classes=2, stem="conv2x3").eval()
    x = torch.randn(2, 1, 32, 40)
    with torch.no_grad():
        assert torch.allclose(model.stem(x), x.repeat(1, 3, 1, 1), atol=1e-6)


def test_imagenet_weights_under_a_conv2x3_stem_stay_rgb(tmp_path):
    import torchvision

    from thermcli.models.classifier import load_pretrained

    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "r18.pth")
    model = create_model("resnet18", in_chans=1, num_classes=2, stem="conv2x3")
    load_pretrained(model, "resnet18", str(tmp_path / "r18.pth"), in_chans=1)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])


def test_resize_matches_opencv_upscaling_and_pil_downscaling():
    import cv2
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.random((20, 24)).astype(np.float32)
    up = resize_input(torch.from_numpy(small)[None, None], (48, 40))[0, 0].numpy()
    assert np.allclose(up, cv2.resize(small, (40, 48), interpolation=cv2.INTER_LINEAR), atol=1e-5)
    big = rng.random((96, 80)).astype(np.float32)
    down = resize_input(torch.from_numpy(big)[None, None], (24, 20))[0, 0].numpy()
    pil = np.asarray(Image.fromarray(big, mode="F").resize((20, 24), Image.BILINEAR))
    assert np.abs(down - pil).max() < 2e-3


def test_model_resizes_any_frame_size_to_its_input_size():
    model = create_model("small_cnn", in_chans=3, num_classes=2, input_size="32x32").eval()
    seen = []
    model.backbone.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        model(torch.zeros(2, 3, 20, 24))
    assert seen == [(2, 3, 32, 32)]


# ---- end to end: train / predict / eval -------------------------------------------------------

@pytest.fixture
def colour(tmp_path):
    """Pseudo-colour frames (N, H, W, 3) 8-bit whose class shows in the red channel."""
    from thermcli.io import write_dataset

    ds = make_dataset(24, h=20, w=24, unit="intensity", channels=3, seed=4)
    frames = ds.frames.copy()
    frames[ds.labels == 1, 5:15, 5:15, 0] = 255
    write_dataset(tmp_path / "colour.h5", ds.replace(frames=frames))
    return tmp_path / "colour.h5"


def predict_matches_opencv_resize(cli, run, data, tmp_path, size):
    """predict's probabilities = the checkpoint's model on frames resized by OpenCV outside it."""
    import cv2

    from thermcli.io import read_dataset
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.classify_data import Normalization, apply_normalization

    model, config, _ = load_checkpoint(run / "best.pt")
    result = cli("predict", run / "best.pt", data, tmp_path / "pred.h5", "--device", "cpu")
    assert result.exit_code == 0, result.output
    probs = read_dataset(tmp_path / "pred.h5").columns["probabilities"]
    frames = np.moveaxis(read_dataset(data).frames.astype(np.float32), 3, 1)
    x = apply_normalization(frames, Normalization(**config["normalization"]))
    resized = np.stack([np.stack([cv2.resize(c, size[::-1], interpolation=cv2.INTER_LINEAR) for c in f]) for f in x])
    model.eval().input_size = None  # the resize done outside, by OpenCV
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(resized)), 1).numpy()
    assert np.allclose(probs, want, atol=1e-4)
    result = cli("eval", run / "best.pt", data, "--json")
    assert result.exit_code == 0, result.output
    return config


@pytest.mark.slow
def test_train_classify_resnet18_imagenet_v1_conv2x3_on_3_channel_frames(cli, colour, tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    old, torch.hub._hub_dir = torch.hub._hub_dir, None
    try:
        cache = tmp_path / "torch" / "hub" / "checkpoints"
        cache.mkdir(parents=True)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), cache / "resnet18-f37072fd.pth")
        out = tmp_path / "run"
        result = cli("train", colour, "--arch", "resnet18", "--weights", "IMAGENET1K_V1", "--stem", "conv2x3",
                     "--input-size", "32x32", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", out)
        assert result.exit_code == 0, result.output
    finally:
        torch.hub._hub_dir = old
    config = predict_matches_opencv_resize(cli, out, colour, tmp_path, (32, 32))
    assert config["model_kwargs"]["in_chans"] == 3 and config["model_kwargs"]["stem"] == "conv2x3"
    run_config = json.loads((out / "config.json").read_text())
    assert run_config["weights"]["weights"] == "ResNet18_Weights.IMAGENET1K_V1" and len(run_config["weights"]["sha256"]) == 64
    assert config["weights"] == run_config["weights"]


def test_3_channel_frames_resized_in_training_predict_and_eval(cli, colour, tmp_path):
    out = tmp_path / "rgb"
    result = cli("train", colour, "--arch", "small_cnn", "--width", "4", "--input-size", "32x32", "--epochs", "1",
                 "--batch-size", "8", "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    config = predict_matches_opencv_resize(cli, out, colour, tmp_path, (32, 32))
    assert config["model_kwargs"]["in_chans"] == 3 and config["model_kwargs"]["input_size"] == [32, 32]
    assert config["frame_shape"] == [20, 24]
    # a 3-channel model given single-channel frames is refused in one line
    from thermcli.io import write_dataset

    write_dataset(tmp_path / "thermal.h5", make_dataset(6, h=20, w=24))
    result = cli("predict", out / "best.pt", tmp_path / "thermal.h5", tmp_path / "q.h5", "--device", "cpu")
    assert_clean_error(result, 1, "thermal.h5", "1 channel(s)", "trained on 3")
    # fine-tuning from that run: the new checkpoint names its initial weights with their SHA-256
    from thermcli.models.checkpoint import read_checkpoint
    from thermcli.models.weights import sha256_file

    again = tmp_path / "again"
    result = cli("train", colour, "--arch", "small_cnn", "--width", "4", "--input-size", "32x32", "--epochs", "1",
                 "--weights", out / "best.pt", "--device", "cpu", "--out", again)
    assert result.exit_code == 0, result.output
    weights = read_checkpoint(again / "best.pt")["config"]["weights"]
    assert weights["weights"] == str(out / "best.pt") and weights["sha256"] == sha256_file(out / "best.pt")


def test_grey_converts_and_predict_converts_the_same(cli, colour, tmp_path):
    from thermcli.io import read_dataset
    from thermcli.models.checkpoint import read_checkpoint

    out = tmp_path / "grey"
    result = cli("train", colour, "--arch", "small_cnn", "--width", "4", "--grey", "--epochs", "1", "--batch-size", "8",
                 "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    config = read_checkpoint(out / "best.pt")["config"]
    assert config["model_kwargs"]["in_chans"] == 1 and config["grey"] is True
    result = cli("predict", out / "best.pt", colour, tmp_path / "p.h5", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert read_dataset(tmp_path / "p.h5").columns["probabilities"].shape == (24, 2)


def test_grey_is_opencvs_conversion(tmp_path):
    import cv2

    from thermcli.io import write_dataset
    from thermcli.stages.classify_data import read_frames_labels

    ds = make_dataset(3, h=8, w=6, unit="intensity", channels=3, seed=1)
    write_dataset(tmp_path / "c.h5", ds)
    _, grey = read_frames_labels(tmp_path / "c.h5", grey=True)
    want = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in ds.frames]).astype(np.float32)
    assert np.abs(grey - want).max() <= 0.5  # OpenCV rounds to 8 bits


@pytest.mark.parametrize("arch, size, stem", [
    ("small_cnn", [16, 16], None),
    pytest.param("mobilenet_v3_small", [40, 40], "conv2x3", marks=pytest.mark.slow),
])
def test_export_model_keeps_the_resize_and_stem(cli, tmp_path, arch, size, stem):
    """export-model traces the model's own resize (antialiased when shrinking) and stem: the ONNX
    file takes the recorded frames (3 channels, 32×32) and matches torch."""
    pytest.importorskip("onnxruntime")
    from thermcli.models.checkpoint import save_checkpoint

    kw = {"in_chans": 3, "num_classes": 2, "input_size": size, **({"stem": stem} if stem else {})}
    model = create_model(arch, **kw)
    save_checkpoint(tmp_path / "m.pt", state_dict=model.state_dict(), config={
        "arch": arch, "model_kwargs": kw, "task": "classify", "frame_shape": [32, 32], "frames": 1,
        "normalization": {"mode": "frame", "mean": 0.0, "std": 1.0}, "class_names": ["a", "b"]})
    result = cli("export-model", tmp_path / "m.pt", tmp_path / "m.onnx", "--json")
    assert result.exit_code == 0, result.output
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, 32, 32]
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(x)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.allclose(got, want, atol=1e-4)
