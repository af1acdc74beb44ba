"""The shared loss registry: each loss against a direct, loop-based reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.errors import UsageError
from thermcli.losses import get_loss, list_losses


def test_registry_lists_and_suggests():
    assert {"cross_entropy", "hinton_kd", "contrastive"} <= set(list_losses())
    with pytest.raises(UsageError, match="did you mean contrastive"):
        get_loss("contrastiv")


def test_hinton_kd_matches_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 1, 2, 1, 0])
    T, alpha = 3.0, 0.7
    got = get_loss("hinton_kd")(s, t, y, temperature=T, alpha=alpha)
    soft = 0.0
    for i in range(5):
        q = torch.softmax(t[i] / T, 0)
        p = torch.softmax(s[i] / T, 0)
        soft += float((q * (q.log() - p.log())).sum())
    soft = soft / 5 * T * T
    hard = float(torch.nn.functional.cross_entropy(s, y))
    assert float(got) == pytest.approx(alpha * soft + (1 - alpha) * hard, rel=1e-5)
    # a student equal to its teacher pays no soft loss
    assert float(get_loss("hinton_kd")(t, t, None, temperature=T)) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 7), st.floats(0.1, 2.0), st.integers(0, 10_000))
def test_contrastive_matches_pair_loop(b, margin, seed):
    rng = np.random.default_rng(seed)
    z = torch.tensor(rng.normal(size=(b, 4)), dtype=torch.float64)
    y = torch.tensor(rng.integers(0, 2, b))
    got = float(get_loss("contrastive")(z, y, margin=margin))
    zn = z / z.norm(dim=1, keepdim=True)
    terms = []
    for i in range(b):
        for j in range(i + 1, b):
            d = float((zn[i] - zn[j]).norm())
            terms.append(d * d if y[i] == y[j] else max(0.0, margin - d) ** 2)
    assert got == pytest.approx(sum(terms) / len(terms), rel=1e-6, abs=1e-9)


def test_contrastive_gradient_is_finite_for_identical_embeddings():
    z = torch.ones(4, 3, requires_grad=True)
    loss = get_loss("contrastive")(z, torch.tensor([0, 0, 1, 1]), margin=0.5)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and torch.isfinite(z.grad).all()
