"""Pieces of train/distill --task keypoints: colour jitter, latent statistics, LR schedules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.errors import UsageError
from thermcli.stages import keypoints_data as KD

torch = pytest.importorskip("torch")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.integers(1, 5))
def test_color_jitter_keeps_shape_and_range(seed, b):
    rng = np.random.default_rng(seed)
    crops = rng.random((b, 6, 5, 3)).astype(np.float32)
    before = crops.copy()
    out = KD.color_jitter(crops, np.random.default_rng(seed + 1))
    assert np.array_equal(crops, before)  # the input is not modified
    assert out.shape == crops.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1


def test_color_jitter_identity_and_grey_limits():
    rng = np.random.default_rng(0)
    crops = rng.random((4, 6, 5, 3)).astype(np.float32)
    same = KD.color_jitter(crops, np.random.default_rng(1), strength=0.0, grey_prob=0.0, shuffle_prob=0.0)
    np.testing.assert_allclose(same, crops, atol=1e-6)
    grey = KD.color_jitter(crops, np.random.default_rng(1), strength=0.0, grey_prob=1.0, shuffle_prob=0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)
    ref = crops @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(grey[..., 1], ref, atol=1e-6)


def test_latent_channel_stats_match_numpy():
    from thermcli.stages.distill_keypoints import latent_channel_stats

    rng = np.random.default_rng(0)
    latent = (rng.normal(0, 1, (37, 5, 4, 3)) * np.arange(1, 6)[None, :, None, None]).astype(np.float16)
    mean, std = latent_channel_stats(latent, chunk=8)
    ref = latent.astype(np.float64).transpose(1, 0, 2, 3).reshape(5, -1)
    np.testing.assert_allclose(mean.ravel(), ref.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.ravel(), ref.std(1), rtol=1e-5)
    assert mean.shape == std.shape == (1, 5, 1, 1)


def test_schedulers():
    from thermcli.stages.trainer import build_scheduler, step_scheduler

    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.Adam(params, lr=1.0)
    cosine = build_scheduler(opt, "cosine", 4)
    lrs = []
    for _ in range(4):
        opt.step()
        step_scheduler(cosine, 0.0)
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.5 + 0.5 * np.cos(np.pi * e / 4) for e in range(1, 5)], atol=1e-12)
    assert build_scheduler(opt, "none", 4) is None
    step_scheduler(None, 0.0)
    with pytest.raises(UsageError, match="plateau"):
        build_scheduler(opt, "step", 4)
