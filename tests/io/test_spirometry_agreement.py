"""flow_volume_agreement: the spirometer checked against itself (flow vs its volume channel)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.io.spirometry import flow_volume_agreement


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_equals_numpy_corrcoef_without_resets(seed):
    rng = np.random.default_rng(seed)
    flow = rng.normal(size=200)
    volume = np.cumsum(0.01 * rng.normal(size=200))  # steps well below the reset threshold
    expected = np.corrcoef(flow[1:], np.diff(volume))[0, 1]
    assert math.isclose(flow_volume_agreement(flow, volume), expected, abs_tol=1e-12)


def test_volume_is_the_integral_of_flow_despite_resets_and_nan():
    fs = 20.0
    t = np.arange(0, 20, 1 / fs)
    flow = 0.4 + 0.2 * np.sin(2 * np.pi * 0.3 * t)  # min-max style: zero not stored
    volume = np.cumsum(flow - 0.4) / fs
    volume[150:] += 0.5  # the device resets its volume now and then
    volume[250:] -= 0.8
    flow_nan = flow.copy()
    flow_nan[-1] = np.nan
    # volume[i] − volume[i−1] = flow[i] − 0.4: a perfect spirometer scores 1
    assert flow_volume_agreement(flow_nan, volume) > 0.99
    # a flow channel that does not follow the volume (another rhythm) scores near 0
    other = 0.4 + 0.2 * np.sin(2 * np.pi * 0.77 * t)
    assert abs(flow_volume_agreement(other, volume)) < 0.3
    assert math.isnan(flow_volume_agreement(np.full(50, 0.4), np.arange(50) * 0.01))
