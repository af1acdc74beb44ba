"""``distill --task keypoints --teacher FILE`` with a published ViTPose file (MMPose 1.x or 0.x
layout) as a frozen teacher: no training, and no keypoint labels anywhere."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_clean_error
from tests.stages.pose_data import make_pose_dataset

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def unlabelled_pairs(tmp_path_factory):
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("pairs")
    ds = make_pose_dataset(9, seed=3)
    ds = ds.replace(keypoints=None)  # zero labels: boxes (from a person finder) and the RGB frames only
    write_dataset(root / "pairs.h5", ds)
    return root / "pairs.h5"


def vitpose_files(root):
    """The same small ViT network as an MMPose 1.x file (mmengine meta with NumPy values) and as a
    ViTPose-repo / MMPose 0.x file."""
    from tests.models.test_vitpose import mmengine_file
    from thermcli.models.registry import create_model
    from thermcli.models.vitpose import make_published_state

    torch.manual_seed(1)
    net = create_model("topdown_pose", encoder="vit", vit_dim=48, vit_depth=2, vit_heads=4, input_size=(64, 48))
    one = mmengine_file(root / "vitpose_b_mmpose1.pth", make_published_state({}, net, "mmpose1"))
    zero = root / "vitpose_b_mmpose0.pth"
    torch.save({"state_dict": make_published_state({}, net, "mmpose0"),
                "meta": {"config": "backbone=dict(type='ViT', embed_dim=48, depth=2, num_heads=4)\n"
                                   "data_cfg=dict(image_size=[48, 64], heatmap_size=[12, 16])"}}, zero)
    return net, one, zero


@pytest.mark.parametrize("layout", ["mmpose1", "mmpose0"])
def test_distill_from_a_published_vitpose_with_zero_labels(cli, unlabelled_pairs, tmp_path, layout):
    from thermcli.io import read_dataset
    from thermcli.models.checkpoint import load_checkpoint

    assert read_dataset(unlabelled_pairs).keypoints is None
    net, one, zero = vitpose_files(tmp_path)
    teacher = one if layout == "mmpose1" else zero
    before = teacher.read_bytes()
    out = tmp_path / "student"
    result = cli("distill", unlabelled_pairs, "--task", "keypoints", "--teacher", teacher, "--student",
                 "mobilenet_v3_small", "--beta", "0.4", "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                 "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert teacher.read_bytes() == before
    summary = json.loads(result.stdout)
    assert summary["runs"][0]["beta"] == 0.4
    student, config, _ = load_checkpoint(out / "best.pt")
    assert config["input_size"] == [64, 48]
    # the student carries the published teacher's decoder, frozen and unchanged
    for key, value in net.decoder.state_dict().items():
        assert torch.equal(student.decoder.state_dict()[key], value), key
    assert config["distill"]["target"] == "teacher"


def test_distill_refuses_a_teacher_file_that_pickles_code(cli, unlabelled_pairs, tmp_path):
    from tests.models.test_weights import malicious_file

    marker = tmp_path / "pwned"
    path = malicious_file(tmp_path / "vitpose_evil.pth", marker)
    result = cli("distill", unlabelled_pairs, "--task", "keypoints", "--teacher", path, "--student",
                 "mobilenet_v3_small", "--out", tmp_path / "x", "--device", "cpu")
    assert_clean_error(result, 1, "vitpose_evil.pth", "not loaded")
    assert not marker.exists() and not (tmp_path / "x").exists()
