"""Published ViTPose files (ViTPose repo / MMPose 0.x and MMPose 1.x layouts) → topdown_pose:
every tensor lands where it should (values), foreign layouts are refused by name, mmengine's
NumPy ``meta`` is allowed and nothing else is unpickled."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thermcli.errors import DataError  # noqa: E402
from thermcli.models import vitpose as V  # noqa: E402
from thermcli.models.pose import load_vitpose_checkpoint  # noqa: E402
from thermcli.models.registry import create_model  # noqa: E402

DIM, DEPTH, HEADS, K = 48, 2, 4, 17


def mmpose1_state(grid=(4, 3), dim=DIM, depth=DEPTH, k=K, hidden=None, seed=0) -> dict:
    """An MMPose 1.x ViTPose state dict, names as ``mmpretrain.VisionTransformer`` (arch dict,
    ``with_cls_token=False``, ``out_type='featmap'``, ``patch_cfg=dict(padding=2)``) and
    ``HeatmapHead(deconv_out_channels=(256, 256), deconv_kernel_sizes=(4, 4))`` name them."""
    gen = torch.Generator().manual_seed(seed)
    hidden = hidden or 4 * dim

    def r(*shape):
        return torch.randn(shape, generator=gen)

    s = {"backbone.patch_embed.projection.weight": r(dim, 3, 16, 16), "backbone.patch_embed.projection.bias": r(dim),
         "backbone.pos_embed": r(1, grid[0] * grid[1], dim)}
    for i in range(depth):
        b = f"backbone.layers.{i}."
        s.update({b + "ln1.weight": r(dim), b + "ln1.bias": r(dim), b + "attn.qkv.weight": r(3 * dim, dim),
                  b + "attn.qkv.bias": r(3 * dim), b + "attn.proj.weight": r(dim, dim), b + "attn.proj.bias": r(dim),
                  b + "ln2.weight": r(dim), b + "ln2.bias": r(dim), b + "ffn.layers.0.0.weight": r(hidden, dim),
                  b + "ffn.layers.0.0.bias": r(hidden), b + "ffn.layers.1.weight": r(dim, hidden),
                  b + "ffn.layers.1.bias": r(dim)})
    s.update({"backbone.ln1.weight": r(dim), "backbone.ln1.bias": r(dim)})
    for idx, cin in ((0, dim), (3, 256)):
        s[f"head.deconv_layers.{idx}.weight"] = r(cin, 256, 4, 4)
        bn = f"head.deconv_layers.{idx + 1}."
        s.update({bn + "weight": r(256), bn + "bias": r(256), bn + "running_mean": r(256),
                  bn + "running_var": r(256).abs() + 0.5, bn + "num_batches_tracked": torch.tensor(1000)})
    s.update({"head.final_layer.weight": r(k, 256, 1, 1), "head.final_layer.bias": r(k)})
    return s


# where each MMPose 1.x tensor must land (written out, not derived from the loader)
def expected_name(name: str) -> str:
    name = name.replace("head.", "decoder.", 1) if name.startswith("head.") else name
    for theirs, ours in (("backbone.patch_embed.projection.", "encoder.patch_embed.proj."),
                         ("backbone.ln1.", "encoder.last_norm."), (".ln1.", ".norm1."), (".ln2.", ".norm2."),
                         (".ffn.layers.0.0.", ".mlp.fc1."), (".ffn.layers.1.", ".mlp.fc2."),
                         ("backbone.layers.", "encoder.blocks."), ("backbone.", "encoder.")):
        name = name.replace(theirs, ours)
    return name


MMENGINE_CFG = """model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(type='mmpretrain.VisionTransformer', arch=dict(embed_dims=48, num_layers=2, num_heads=4,
        feedforward_channels=192), img_size=(64, 48), patch_size=16, with_cls_token=False, out_type='featmap',
        patch_cfg=dict(padding=2)),
    head=dict(type='HeatmapHead', in_channels=48, out_channels=17, deconv_out_channels=(256, 256)))
codec = dict(type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
"""


def mmengine_file(path, state, *, cfg=MMENGINE_CFG, numpy_meta=True):
    """As mmengine's CheckpointHook writes it: meta with the config text and NumPy values."""
    from thermcli.io import COCO_KEYPOINT_NAMES

    meta = {"cfg": cfg, "epoch": 210}
    if numpy_meta:
        meta["seed"] = np.int64(21)
        meta["dataset_meta"] = {
            "keypoint_id2name": dict(enumerate(COCO_KEYPOINT_NAMES)),
            "flip_indices": [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15],
            "sigmas": np.full(17, 0.05, np.float32),
        }
    torch.save({"meta": meta, "state_dict": state, "message_hub": {"log_scalars": {}}}, path)
    return path


def test_mmpose1_tensors_land_where_they_should(tmp_path):
    state = mmpose1_state()
    path = mmengine_file(tmp_path / "vitpose_mmpose1.pth", state)
    model = create_model("topdown_pose", encoder="vit", vit_dim=DIM, vit_depth=DEPTH, vit_heads=HEADS,
                         input_size=(64, 48))
    counts = load_vitpose_checkpoint(model, path)
    own = model.state_dict()
    assert counts["loaded"] == len(own) == len(state)
    for name, value in state.items():
        if name == "backbone.pos_embed":
            assert torch.equal(own["encoder.pos_embed"][:, 1:], value)
            assert torch.equal(own["encoder.pos_embed"][:, :1], torch.zeros(1, 1, DIM))  # no class-token slot in 1.x
        else:
            assert torch.equal(own[expected_name(name)], value), name


def test_mmpose1_and_mmpose0_files_of_one_network_give_the_same_heatmaps(tmp_path):
    """The 0.x file adds pos_embed[:, 0] to every patch; the 1.x file has it folded in: equal outputs."""
    torch.manual_seed(0)
    net = create_model("topdown_pose", encoder="vit", vit_dim=DIM, vit_depth=DEPTH, vit_heads=HEADS,
                       input_size=(64, 48)).eval()
    old = {("backbone." + k[8:] if k.startswith("encoder.") else "keypoint_head." + k[8:]): v
           for k, v in net.state_dict().items()}
    torch.save({"state_dict": old, "meta": {"config": "backbone=dict(type='ViT', num_heads=4)"}}, tmp_path / "v0.pth")
    new = V.make_published_state({}, net, "mmpose1")
    assert set(new) == set(mmpose1_state())  # the published 1.x names, no more, no less
    mmengine_file(tmp_path / "v1.pth", new)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        want = net(x)
        for name in ("v0.pth", "v1.pth"):
            teacher, config = V.published_teacher(tmp_path / name)
            assert config["teacher_file"]["layout"] == ("mmpose0" if name == "v0.pth" else "mmpose1")
            assert torch.allclose(teacher(x), want, atol=1e-5), name


def test_published_teacher_takes_size_heads_and_keypoints_from_the_file(tmp_path):
    path = mmengine_file(tmp_path / "vitpose_mmpose1.pth", mmpose1_state())
    teacher, config = V.published_teacher(path)
    kw = config["model_kwargs"]
    assert (kw["vit_dim"], kw["vit_depth"], kw["vit_heads"], kw["num_keypoints"]) == (48, 2, 4, 17)
    assert config["input_size"] == [64, 48] and kw["vit_mlp_ratio"] == 4.0
    assert config["keypoint_names"][1] == "left_eye" and [1, 2] in config["flip_pairs"]
    assert config["sigmas"] == pytest.approx([0.05] * 17)
    assert config["teacher_file"]["sha256"] and "input_mean" not in kw  # ImageNet mean/std: nothing to redo
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_another_normalisation_is_applied_inside_the_teacher(tmp_path):
    cfg = MMENGINE_CFG.replace("mean=[123.675, 116.28, 103.53]", "mean=[127.5, 127.5, 127.5]").replace(
        "std=[58.395, 57.12, 57.375]", "std=[127.5, 127.5, 127.5]")
    path = mmengine_file(tmp_path / "v.pth", mmpose1_state(), cfg=cfg)
    teacher, config = V.published_teacher(path)
    reference, _ = V.published_teacher(mmengine_file(tmp_path / "ref.pth", mmpose1_state()))
    rgb01 = torch.rand(1, 3, 64, 48)
    imagenet = (rgb01 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():  # the teacher given ImageNet-normalised input sees (255·x − 127.5) / 127.5
        assert torch.allclose(teacher(imagenet), reference(rgb01 * 2 - 1), rtol=1e-4, atol=1e-2)


def test_cls_token_slot_of_an_mmpretrain_file_is_dropped(tmp_path):
    state = mmpose1_state()
    pos = state["backbone.pos_embed"]
    state["backbone.pos_embed"] = torch.cat([torch.full((1, 1, DIM), 9.0), pos], 1)
    state["backbone.cls_token"] = torch.zeros(1, 1, DIM)
    teacher, _ = V.published_teacher(mmengine_file(tmp_path / "cls.pth", state))
    assert torch.equal(teacher.encoder.pos_embed[:, 1:], pos)
    assert torch.equal(teacher.encoder.pos_embed[:, :1], torch.zeros(1, 1, DIM))


@pytest.mark.parametrize("dim, depth, heads", [(384, 12, 12), (768, 12, 12), (1024, 24, 16)])
def test_vitpose_s_b_l_shapes(dim, depth, heads):
    """ViTPose-S/B/L share the layout: the architecture read from the names and shapes alone."""
    state = {k: torch.empty(0) for k in mmpose1_state(dim=8, depth=1)}
    state["backbone.patch_embed.projection.weight"] = torch.empty(dim, 3, 16, 16)
    state["backbone.pos_embed"] = torch.empty(1, 192, dim)
    state["backbone.layers.0.ffn.layers.0.0.weight"] = torch.empty(4 * dim, dim)
    for i in range(1, depth):
        state[f"backbone.layers.{i}.ln1.weight"] = torch.empty(0)
    state["head.deconv_layers.0.weight"] = torch.empty(dim, 256, 4, 4)
    mapped, layout = V.map_state_dict(state)
    kw = V.architecture_of(mapped, {}, layout)
    assert (kw["vit_dim"], kw["vit_depth"], kw["vit_heads"], kw["input_size"]) == (dim, depth, heads, [256, 192])


def test_foreign_layouts_are_refused_by_name(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(DataError, match="not a ViTPose checkpoint.*conv1.weight"):
        V.published_teacher(tmp_path / "resnet.pth")
    simple = mmpose1_state()  # ViTPose's "simple" decoder: no deconvolutions, a 3×3 final layer
    for key in [k for k in simple if k.startswith("head.")]:
        del simple[key]
    simple["head.final_layer.0.weight"] = torch.zeros(17, DIM, 3, 3)
    torch.save({"state_dict": simple}, tmp_path / "simple.pth")
    with pytest.raises(DataError, match="head.final_layer.0.weight"):
        V.published_teacher(tmp_path / "simple.pth")
    scaled = mmpose1_state()
    scaled["backbone.layers.0.attn.gamma1.weight"] = torch.ones(DIM)
    torch.save({"state_dict": scaled}, tmp_path / "scaled.pth")
    with pytest.raises(DataError, match="gamma1"):
        V.published_teacher(tmp_path / "scaled.pth")


def test_missing_tensors_are_listed(tmp_path):
    state = mmpose1_state()
    del state["backbone.layers.1.ln2.weight"], state["head.deconv_layers.4.running_var"]
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    model = create_model("topdown_pose", encoder="vit", vit_dim=DIM, vit_depth=DEPTH, vit_heads=HEADS,
                         input_size=(64, 48))
    with pytest.raises(DataError) as info:
        load_vitpose_checkpoint(model, tmp_path / "partial.pth")
    line = info.value.one_line()
    assert "2 tensors" in line and "encoder.blocks.1.norm2.weight" in line and "partial.pth" in line


def test_pickled_code_in_a_vitpose_file_is_refused_and_never_runs(tmp_path):
    from tests.models.test_weights import malicious_file

    marker = tmp_path / "pwned"
    path = malicious_file(tmp_path / "vitpose_evil.pth", marker)
    with pytest.raises(DataError, match="not loaded"):
        V.published_teacher(path)
    model = create_model("topdown_pose", encoder="vit", vit_dim=DIM, vit_depth=DEPTH, vit_heads=HEADS,
                         input_size=(64, 48))
    with pytest.raises(DataError):
        load_vitpose_checkpoint(model, path)
    assert not marker.exists()
