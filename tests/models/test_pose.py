"""thermcli.models.pose: shapes, losses against the paper's formula, ViTPose checkpoint mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thermcli.errors import DataError  # noqa: E402
from thermcli.models import pose as P  # noqa: E402
from thermcli.models.registry import create_model  # noqa: E402


def tiny_vit(**kw):
    return create_model("topdown_pose", encoder="vit", vit_dim=48, vit_depth=2, vit_heads=4, **kw)


@pytest.mark.parametrize("encoder", ["mobilenet_v3_small", "vit"])
def test_heatmaps_are_a_quarter_of_the_input(encoder):
    torch.manual_seed(0)
    kw = {"vit_dim": 48, "vit_depth": 1, "vit_heads": 4} if encoder == "vit" else {}
    model = create_model("topdown_pose", encoder=encoder, in_chans=1, input_size=(128, 96), **kw).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 128, 96))
    assert out.shape == (2, 17, 32, 24)
    assert model.heatmap_size == (32, 24)


def test_student_projection_feeds_a_teacher_sized_decoder():
    model = create_model("topdown_pose", encoder="mobilenet_v3_small", in_chans=1, input_size=(64, 48), decoder_in=48)
    assert model.projection.in_channels == 576 and model.projection.out_channels == 48
    assert model.encode(torch.zeros(1, 1, 64, 48)).shape == (1, 48, 4, 3)


def test_bad_input_size_is_a_usage_error():
    from thermcli.errors import UsageError

    with pytest.raises(UsageError, match="multiples of 16"):
        create_model("topdown_pose", input_size=(100, 96))


def awing_reference(y: float, yhat: float, alpha=2.1, omega=14.0, eps=1.0, theta=0.5) -> float:
    """The paper's equation, one pixel at a time, in plain floats."""
    d = abs(y - yhat)
    if d < theta:
        return omega * math.log(1 + (d / eps) ** (alpha - y))
    a = omega * (1 / (1 + (theta / eps) ** (alpha - y))) * (alpha - y) * (theta / eps) ** (alpha - y - 1) * (1 / eps)
    c = theta * a - omega * math.log(1 + (theta / eps) ** (alpha - y))
    return a * d - c


def test_adaptive_wing_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    target = rng.random((2, 3, 5, 4))
    target[0, 0] = 0
    pred = target + rng.normal(0, 0.6, target.shape)
    got = P.adaptive_wing(torch.tensor(pred), torch.tensor(target)).item()
    ref = np.mean([awing_reference(y, p) for y, p in zip(target.ravel(), pred.ravel())])
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
    # continuous at theta and zero at a perfect prediction
    assert P.adaptive_wing(torch.tensor(target), torch.tensor(target)).item() == 0
    lo = awing_reference(0.3, 0.3 + 0.5 - 1e-9)
    hi = awing_reference(0.3, 0.3 + 0.5 + 1e-9)
    assert lo == pytest.approx(hi, abs=1e-6)


def test_weighted_mse_ignores_zero_weight_keypoints():
    pred = torch.ones(1, 2, 3, 3)
    target = torch.zeros(1, 2, 3, 3)
    weights = torch.tensor([[1.0, 0.0]])
    assert P.heatmap_mse(pred, target, weights).item() == pytest.approx(0.5)


def official_state(num_keypoints=17, **kw):
    gen = torch.Generator().manual_seed(0)
    return {
        name: (torch.tensor(7) if shape == () else torch.randn(shape, generator=gen))
        for name, shape in P.official_vitpose_shapes(num_keypoints, **kw).items()
    }


def test_official_vitpose_names_map_and_load_every_tensor(tmp_path):
    state = official_state(dim=48, depth=2, grid=(16, 12))
    path = tmp_path / "vitpose_base.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 210}}, path)
    model = tiny_vit(input_size=(256, 192))
    counts = P.load_vitpose_checkpoint(model, path)
    assert counts["loaded"] == len(state) == counts["model_tensors"]
    own = model.state_dict()
    for name, value in state.items():
        mapped = name.replace("backbone.", "encoder.").replace("keypoint_head.", "decoder.")
        assert torch.equal(own[mapped], value), name


def test_full_size_vitpose_b_shapes_match_the_model():
    shapes = P.official_vitpose_shapes(17)
    mapped = P.map_vitpose_state_dict({k: torch.empty(0) for k in shapes})
    model = create_model("topdown_pose", encoder="vit")
    own = model.state_dict()
    assert set(mapped) == set(own)
    for name, shape in shapes.items():
        key = name.replace("backbone.", "encoder.").replace("keypoint_head.", "decoder.")
        assert tuple(own[key].shape) == shape, name


def test_vitpose_checkpoint_at_another_crop_size_resizes_positions(tmp_path):
    path = tmp_path / "vitpose.pth"
    torch.save({"state_dict": official_state(dim=48, depth=2, grid=(16, 12))}, path)
    model = tiny_vit(input_size=(128, 96))
    P.load_vitpose_checkpoint(model, path)
    assert model.encoder.pos_embed.shape == (1, 8 * 6 + 1, 48)


def test_foreign_tensor_in_checkpoint_is_named(tmp_path):
    state = official_state(dim=48, depth=2)
    state["neck.fpn.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(DataError, match="neck.fpn.weight"):
        P.load_vitpose_checkpoint(tiny_vit(), path)


def test_cost_counts_parameters_and_flops():
    from thermcli.metrics.cost import count_flops, count_parameters

    model = create_model("topdown_pose", encoder="mobilenet_v3_small", in_chans=1, input_size=(64, 48))
    params = count_parameters(model)
    assert params["total"] == sum(p.numel() for p in model.parameters())
    # the last 1x1 layer alone: 2 * 256 * 17 * 16 * 12 FLOPs
    assert count_flops(model, torch.zeros(1, 1, 64, 48)) > 2 * 256 * 17 * 16 * 12


def test_adaptive_wing_weighted_loss_map_matches_the_paper():
    """Each pixel's loss × (W·M + 1), M = 3×3 grey dilation of the target ≥ 0.2 (scipy reference)."""
    from scipy.ndimage import grey_dilation

    rng = np.random.default_rng(1)
    target = np.zeros((2, 3, 7, 6))
    target[:, :, 2:4, 2:4] = rng.random((2, 3, 2, 2))
    pred = target + rng.normal(0, 0.4, target.shape)
    mask = (grey_dilation(target, size=(1, 1, 3, 3)) >= 0.2).astype(float)
    per_pixel = np.array([awing_reference(y, p) for y, p in zip(target.ravel(), pred.ravel())]).reshape(target.shape)
    ref = np.mean(per_pixel * (10 * mask + 1))
    got = P.adaptive_wing(torch.tensor(pred), torch.tensor(target), map_weight=10).item()
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert torch.equal(P.loss_map(torch.tensor(target)), torch.tensor(mask))


@pytest.mark.parametrize("encoder", ["resnet18", "resnet34"])
def test_simplebaseline_resnets_give_stride_16_latents(encoder):
    model = create_model("topdown_pose", encoder=encoder, in_chans=3, input_size=(64, 48)).eval()
    with torch.no_grad():
        assert model.encode(torch.zeros(1, 3, 64, 48)).shape == (1, 512, 4, 3)
        assert model(torch.zeros(1, 3, 64, 48)).shape == (1, 17, 16, 12)


def test_adapter_at_equal_widths_only_when_asked():
    plain = create_model("topdown_pose", encoder="mobilenet_v3_small", in_chans=1, input_size=(64, 48), decoder_in=576)
    assert plain.projection is None
    adapted = create_model("topdown_pose", encoder="mobilenet_v3_small", in_chans=1, input_size=(64, 48),
                           decoder_in=576, projection=True)
    assert adapted.projection.in_channels == adapted.projection.out_channels == 576
