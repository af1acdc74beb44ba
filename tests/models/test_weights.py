"""torchvision weights by their published names, from the torch hub cache only; safe loading."""

from __future__ import annotations

import pickle

import numpy as np

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from thermcli.errors import DataError, UsageError  # noqa: E402
from thermcli.models import weights as W  # noqa: E402
from thermcli.models.classifier import load_pretrained  # noqa: E402
from thermcli.models.registry import create_model  # noqa: E402


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """An empty torch cache under a tmp TORCH_HOME (torch.hub.get_dir() follows it)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    old = torch.hub._hub_dir
    torch.hub._hub_dir = None
    yield tmp_path / "torch" / "hub" / "checkpoints"
    torch.hub._hub_dir = old


def place(hub_dir, builder: str, weight, seed: int = 0) -> dict:
    """torchvision's own constructor (weights=None), saved under the name torch.hub would cache
    ``weight`` as; returns the state dict."""
    torch.manual_seed(seed)
    state = getattr(torchvision.models, builder)(weights=None).state_dict()
    hub_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state, hub_dir / weight.url.rsplit("/", 1)[1])
    return state


@pytest.mark.parametrize("spec, member", [
    ("IMAGENET1K_V1", "IMAGENET1K_V1"),
    ("IMAGENET1K_V2", "IMAGENET1K_V2"),
    ("DEFAULT", "IMAGENET1K_V2"),
    ("ResNet50_Weights.IMAGENET1K_V1", "IMAGENET1K_V1"),
    ("imagenet", "IMAGENET1K_V2"),
])
def test_resnet50_names_resolve_through_torchvision(spec, member):
    weight = W.resolve_torchvision("resnet50", spec)
    assert weight is torchvision.models.ResNet50_Weights[member]


def test_v1_file_is_the_papers_file_and_its_values_land(hub):
    weight = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    assert weight.url.endswith("resnet50-0676ba61.pth")
    state = place(hub, "resnet50", weight)
    model = create_model("resnet50", in_chans=3, num_classes=2)
    record = load_pretrained(model, "resnet50", "IMAGENET1K_V1", in_chans=3)
    own = model.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):  # torchvision's 1000-class layer: thermcli has its own head
            assert torch.equal(own["backbone." + key], value), key
    assert record["weights"] == "ResNet50_Weights.IMAGENET1K_V1"
    assert record["file"].endswith("resnet50-0676ba61.pth")
    assert record["sha256"] == W.sha256_file(hub / "resnet50-0676ba61.pth")
    assert record["published_hash_prefix_matches"] is False  # a stand-in, not the published file


@pytest.mark.parametrize("spec", ["IMAGENET1K_V2", "DEFAULT", "ResNet50_Weights.IMAGENET1K_V2"])
def test_v2_and_default_load_the_v2_file_summed_for_grey(hub, spec):
    weight = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    v2 = place(hub, "resnet50", weight, seed=2)
    place(hub, "resnet50", torchvision.models.ResNet50_Weights.IMAGENET1K_V1, seed=1)  # both cached: V2 is chosen
    model = create_model("resnet50", in_chans=1, num_classes=2)
    record = load_pretrained(model, "resnet50", spec, in_chans=1)
    own = model.state_dict()
    assert torch.allclose(own["backbone.conv1.weight"], v2["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(own["backbone.layer3.2.conv2.weight"], v2["layer3.2.conv2.weight"])
    assert record["weights"] == "ResNet50_Weights.IMAGENET1K_V2" and record["file"].endswith("resnet50-11ad3fa6.pth")


def test_another_architecture_efficientnet_b0(hub):
    weight = torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1
    state = place(hub, "efficientnet_b0", weight)
    model = create_model("efficientnet_b0", in_chans=3, num_classes=3)
    load_pretrained(model, "efficientnet_b0", "IMAGENET1K_V1", in_chans=3)
    own = model.state_dict()
    for key, value in state.items():
        if key.startswith("features."):
            assert torch.equal(own["backbone." + key], value), key


def test_missing_file_names_file_cache_and_url(hub):
    model = create_model("resnet50", in_chans=1, num_classes=2)
    with pytest.raises(DataError) as info:
        load_pretrained(model, "resnet50", "IMAGENET1K_V1", in_chans=1)
    line = info.value.one_line()
    assert "\n" not in line
    assert "resnet50-0676ba61.pth" in line and str(hub) in line
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in line
    assert not hub.exists() or not any(hub.iterdir())  # nothing downloaded


def test_wrong_names_are_usage_errors():
    with pytest.raises(UsageError, match="IMAGENET1K_V1"):
        W.resolve_torchvision("resnet18", "IMAGENET1K_V2")  # resnet18 has V1 only
    with pytest.raises(UsageError, match="another architecture"):
        W.resolve_torchvision("resnet50", "ResNet18_Weights.IMAGENET1K_V1")
    with pytest.raises(UsageError, match="publishes no weights"):
        W.resolve_torchvision("small_cnn", "DEFAULT")


def test_pose_encoder_takes_the_same_names(hub):
    from thermcli.models.pose import topdown_pose

    state = place(hub, "resnet18", torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    model = topdown_pose(encoder="resnet18", in_chans=3, input_size=(64, 48), weights="IMAGENET1K_V1")
    assert torch.equal(model.encoder[4][0].conv1.weight, state["layer1.0.conv1.weight"])
    assert model.encoder.weights_record["weights"] == "ResNet18_Weights.IMAGENET1K_V1"


class Boom:
    """Unpickling this would create a marker file (code execution)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious_file(path, marker):
    """A torch.save zip whose pickle calls open(marker, 'w') when loaded unsafely."""
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Boom(marker)}, path)
    return path


def test_safe_load_refuses_code_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = malicious_file(tmp_path / "evil.pth", marker)
    for allow_numpy in (False, True):
        with pytest.raises(DataError, match="not loaded"):
            W.safe_load(path, allow_numpy=allow_numpy)
    assert not marker.exists()
    # a raw (non-zip) pickle too
    raw = tmp_path / "evil_raw.pth"
    raw.write_bytes(pickle.dumps(Boom(marker)))
    with pytest.raises(DataError):
        W.safe_load(raw)
    assert not marker.exists()


def test_safe_load_allows_mmengine_numpy_meta(tmp_path):
    import numpy as np

    path = tmp_path / "mmengine.pth"
    torch.save({"state_dict": {"w": torch.ones(2)},
                "meta": {"seed": np.int64(3), "dataset_meta": {"sigmas": np.array([0.1, 0.2], np.float32)}}}, path)
    with pytest.raises(DataError):
        W.safe_load(path)  # NumPy needs the allow-list
    payload = W.safe_load(path, allow_numpy=True)
    assert payload["meta"]["dataset_meta"]["sigmas"].tolist() == pytest.approx([0.1, 0.2])


def test_openmmlab_bookkeeping_objects_are_read_as_placeholders(tmp_path):
    """mmengine's message_hub holds HistoryBuffer objects: skipped (never imported), the weights kept;
    the same trick is not extended to anything outside OpenMMLab's packages."""
    import sys
    import types

    names = ["mmengine", "mmengine.logging", "mmengine.logging.history_buffer"]
    saved = {n: sys.modules.get(n) for n in names}
    module = types.ModuleType(names[-1])

    class HistoryBuffer:
        def __init__(self):
            self._log_history = np.array([1.0, 2.0])

        def __setstate__(self, state):  # would run if this class were used when loading
            (tmp_path / "ran").write_text("x")

    HistoryBuffer.__module__ = names[-1]
    HistoryBuffer.__qualname__ = "HistoryBuffer"
    module.HistoryBuffer = HistoryBuffer
    for n in names:
        sys.modules[n] = module if n == names[-1] else types.ModuleType(n)
    try:
        torch.save({"state_dict": {"w": torch.ones(2)}, "message_hub": {"loss": HistoryBuffer()}}, tmp_path / "mm.pth")
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    with pytest.raises(DataError, match="HistoryBuffer"):
        W.safe_load(tmp_path / "mm.pth")
    payload = W.safe_load(tmp_path / "mm.pth", allow_numpy=True)
    assert torch.equal(payload["state_dict"]["w"], torch.ones(2))
    assert not (tmp_path / "ran").exists()


def test_checkpoint_rebuild_needs_no_cached_weights(hub, tmp_path):
    """A pose model trained from IMAGENET1K_V1 reloads (predict, eval) without the cache file."""
    from thermcli.models.checkpoint import load_checkpoint, save_checkpoint
    from thermcli.models.pose import topdown_pose

    place(hub, "resnet18", torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    kwargs = {"encoder": "resnet18", "in_chans": 1, "input_size": [64, 48], "weights": "IMAGENET1K_V1"}
    model = topdown_pose(**kwargs)
    save_checkpoint(tmp_path / "m.pt", state_dict=model.state_dict(),
                    config={"arch": "topdown_pose", "model_kwargs": kwargs, "task": "keypoints"})
    for file in hub.iterdir():
        file.unlink()
    again, _, _ = load_checkpoint(tmp_path / "m.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
