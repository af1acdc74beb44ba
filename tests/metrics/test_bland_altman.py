"""Bland–Altman agreement against the closed form (NumPy + SciPy's t) and its invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from thermcli.metrics.bland_altman import bland_altman

values = st.lists(st.floats(0, 80, allow_nan=False), min_size=3, max_size=40)


def _reference(e, r):
    d = np.asarray(e) - np.asarray(r)
    n = len(d)
    bias, sd = d.mean(), d.std(ddof=1)
    z = stats.norm.ppf(0.975)
    t = stats.t.ppf(0.975, n - 1)
    se_limit = math.sqrt(sd**2 / n + z**2 * sd**2 / (2 * (n - 1)))  # Bland & Altman 1999, eq. for Var(limit)
    return bias, sd, (bias - z * sd, bias + z * sd), (bias - t * sd / math.sqrt(n), bias + t * sd / math.sqrt(n)), t * se_limit


def test_matches_the_closed_form_on_random_pairs():
    rng = np.random.default_rng(3)
    r = rng.uniform(8, 40, 57)
    e = r + rng.normal(0.7, 2.1, 57)
    got = bland_altman(e, r)
    bias, sd, loa, bias_ci, half = _reference(e, r)
    assert got["n"] == 57 and got["bias"] == pytest.approx(bias) and got["sd"] == pytest.approx(sd)
    np.testing.assert_allclose(got["loa"], loa)
    np.testing.assert_allclose(got["bias_ci"], bias_ci)
    np.testing.assert_allclose(got["loa_low_ci"], [loa[0] - half, loa[0] + half])
    np.testing.assert_allclose(got["loa_high_ci"], [loa[1] - half, loa[1] + half])
    assert got["mae"] == pytest.approx(np.mean(np.abs(e - r)))
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((e - r) ** 2)))
    assert got["proportional_slope"] == pytest.approx(stats.linregress((e + r) / 2, e - r).slope)


def test_nan_pairs_are_dropped_and_too_few_pairs_refused():
    got = bland_altman([1.0, np.nan, 3.0, 4.0], [1.5, 2.0, np.inf, 3.0])
    assert got["n"] == 2 and got["dropped"] == 2
    with pytest.raises(ValueError, match="at least 2"):
        bland_altman([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError):
        bland_altman([1.0, 2.0], [1.0])


@settings(max_examples=80, deadline=None)
@given(values, st.floats(-20, 20), st.randoms(use_true_random=False))
def test_shifts_and_swaps(r, c, rnd):
    r = np.asarray(r)
    e = r + np.array([rnd.uniform(-5, 5) for _ in r])
    base = bland_altman(e, r)
    shifted = bland_altman(e + c, r)  # a constant error moves bias and limits by it, spread unchanged
    assert shifted["bias"] == pytest.approx(base["bias"] + c, abs=1e-6)
    np.testing.assert_allclose(shifted["loa"], np.asarray(base["loa"]) + c, atol=1e-6)
    assert shifted["sd"] == pytest.approx(base["sd"], abs=1e-6)
    both = bland_altman(e + c, r + c)  # shifting both changes nothing
    assert both["bias"] == pytest.approx(base["bias"], abs=1e-6) and both["sd"] == pytest.approx(base["sd"], abs=1e-6)
    swapped = bland_altman(r, e)
    assert swapped["bias"] == pytest.approx(-base["bias"], abs=1e-9)
    np.testing.assert_allclose(swapped["loa"], [-base["loa"][1], -base["loa"][0]], atol=1e-9)
    assert base["loa"][0] <= base["bias"] <= base["loa"][1]
    assert base["bias_ci"][0] <= base["bias"] <= base["bias_ci"][1]
    assert base["mae"] >= abs(base["bias"]) - 1e-9 and base["rmse"] >= base["mae"] - 1e-9
