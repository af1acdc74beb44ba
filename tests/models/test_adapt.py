"""The adaptation models: the paper's LeNet shapes, the gradient-reversal layer, the λ schedule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from thermcli.models.adapt import dann_lambda, grad_reverse  # noqa: E402
from thermcli.models.registry import create_model  # noqa: E402


def test_lenet_encoder_is_the_papers():
    enc = create_model("lenet_encoder", in_chans=1, input_size=[28, 28])
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(20, (5, 5)), (50, (5, 5))]
    assert enc(torch.zeros(3, 1, 28, 28)).shape == (3, 500)
    fc = [m for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    assert fc[-1].in_features == 50 * 4 * 4  # 28 → 24 → 12 → 8 → 4


def test_classifier_rejects_a_head_that_does_not_fit():
    with pytest.raises(ValueError, match="outputs 500 features but the classifier expects 128"):
        create_model("adapt_classifier", encoder="lenet_encoder", num_classes=3, head_in_features=128)


def test_classifier_and_discriminator_shapes():
    model = create_model("adapt_classifier", encoder_kwargs={"in_chans": 3, "input_size": [32, 32], "feature_dim": 64}, num_classes=6)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 6)
    assert model.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64)
    disc = create_model("domain_discriminator", in_features=64, hidden=500)
    assert disc(torch.zeros(5, 64)).shape == (5, 1)
    widths = [m.out_features for m in disc if isinstance(m, torch.nn.Linear)]
    assert widths == [500, 500, 1]


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 5.0), st.integers(1, 6))
def test_gradient_reversal_negates_and_scales_the_gradient(lambd, n):
    x = torch.randn(n, 4, requires_grad=True, generator=torch.Generator().manual_seed(n))
    weights = torch.arange(4.0)
    y = grad_reverse(x, lambd)
    assert torch.equal(y, x)  # identity forward
    (y * weights).sum().backward()
    assert torch.allclose(x.grad, -lambd * weights.expand(n, 4))


@given(st.floats(0.0, 1.0))
def test_dann_lambda_matches_ganin(p):
    assert dann_lambda(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert 0.0 <= dann_lambda(p) < 1.0


def test_dann_lambda_is_increasing():
    values = [dann_lambda(i / 10) for i in range(11)]
    assert values == sorted(values) and values[0] == 0.0


def _tiny_classifier(*, in_chans=1, num_classes=2):
    """A stand-in for the classify CNNs: a model exposing a ``.backbone`` feature-map trunk."""
    net = torch.nn.Module()
    net.backbone = torch.nn.Sequential(torch.nn.Conv2d(in_chans, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
    return net


def test_backbone_encoder_wraps_a_registered_trunk():
    from thermcli.models.registry import register

    register("_test_tiny_trunk")(_tiny_classifier)
    enc = create_model("backbone_encoder", backbone="_test_tiny_trunk", in_chans=3, input_size=[20, 24], feature_dim=16)
    assert enc(torch.zeros(4, 3, 20, 24)).shape == (4, 16)
    model = create_model(
        "adapt_classifier", encoder="backbone_encoder",
        encoder_kwargs={"backbone": "_test_tiny_trunk", "in_chans": 1, "input_size": [12, 12], "feature_dim": 16}, num_classes=3,
    )
    assert model(torch.zeros(2, 1, 12, 12)).shape == (2, 3)


def test_backbone_encoder_refuses_a_model_without_trunk():
    from thermcli.errors import UsageError

    with pytest.raises(UsageError, match="no .backbone"):
        create_model("backbone_encoder", backbone="lenet_encoder")
