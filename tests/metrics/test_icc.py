"""ICC: the Shrout & Fleiss (1979) textbook example and a direct ANOVA by least squares."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.metrics.icc import FORMS, icc, mean_squares, normalize_form, ratings_matrix

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
TABLE2 = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float
)


def test_shrout_fleiss_published_values():
    # The paper's ANOVA (BMS 11.24, JMS 32.49, WMS 6.26, EMS 1.02) and its six ICCs, two decimals.
    ms = mean_squares(TABLE2)
    assert round(ms["BMS"], 2) == 11.24 and round(ms["JMS"], 2) == 32.49
    assert round(ms["WMS"], 2) == 6.26 and round(ms["EMS"], 2) == 1.02
    published = {"1,1": 0.17, "2,1": 0.29, "3,1": 0.71, "1,k": 0.44, "2,k": 0.62, "3,k": 0.91}
    for form, value in published.items():
        assert round(icc(TABLE2, form)["icc"], 2) == value, form


def test_hand_computation_from_mean_squares():
    # the formulas written out with the rounded published mean squares, n=6, k=4
    bms, jms, wms, ems, n, k = 11.24, 32.49, 6.26, 1.02, 6, 4
    assert icc(TABLE2, "1,1")["icc"] == pytest.approx((bms - wms) / (bms + (k - 1) * wms), abs=2e-3)
    assert icc(TABLE2, "2,1")["icc"] == pytest.approx((bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n), abs=2e-3)
    assert icc(TABLE2, "3,1")["icc"] == pytest.approx((bms - ems) / (bms + (k - 1) * ems), abs=2e-3)


def _anova_by_least_squares(y: np.ndarray) -> dict[str, float]:
    """Two-way ANOVA without interaction from residual sums of squares of nested linear models."""
    n, k = y.shape
    values = y.ravel()
    rows = np.repeat(np.arange(n), k)
    cols = np.tile(np.arange(k), n)
    intercept = np.ones((n * k, 1))
    row_dummies = np.eye(n)[rows][:, 1:]
    col_dummies = np.eye(k)[cols][:, 1:]

    def rss(design):
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)
        return float(((values - design @ coef) ** 2).sum())

    rss_null = rss(intercept)
    rss_rows = rss(np.hstack([intercept, row_dummies]))
    rss_both = rss(np.hstack([intercept, row_dummies, col_dummies]))
    return {
        "BMS": (rss_null - rss_rows) / (n - 1),
        "WMS": rss_rows / (n * (k - 1)),
        "JMS": (rss_rows - rss_both) / (k - 1),
        "EMS": rss_both / ((n - 1) * (k - 1)),
    }


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), k=st.integers(2, 6))
def test_mean_squares_equal_least_squares_anova(seed, n, k):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, 1)) * 2 + rng.normal(size=(1, k)) + rng.normal(size=(n, k))
    ours = mean_squares(y)
    ref = _anova_by_least_squares(y)
    for key in ("BMS", "WMS", "JMS", "EMS"):
        assert ours[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12)


def test_perfect_agreement_and_rater_offset():
    y = np.array([[1.0, 1.0], [2.0, 2.0], [5.0, 5.0]])
    assert icc(y, "2,1")["icc"] == pytest.approx(1.0)
    shifted = y + np.array([[0.0, 3.0]])  # the second session reads 3 units higher
    assert icc(shifted, "3,1")["icc"] == pytest.approx(1.0)  # consistency ignores the offset
    assert icc(shifted, "2,1")["icc"] < 0.7  # absolute agreement does not


def test_form_names_and_output():
    assert normalize_form("ICC(2,1)") == "2,1" and normalize_form("3k") == "3,k" and normalize_form("1") == "1,1"
    with pytest.raises(ValueError, match="unknown ICC form"):
        normalize_form("4,1")
    result = icc(TABLE2, "ICC(3,k)")
    assert result["form"] == "ICC(3,k)" and "consistency" in result["description"]
    assert set(FORMS) == {"1,1", "2,1", "3,1", "1,k", "2,k", "3,k"}


def test_ratings_matrix_listwise_deletion():
    matrix, kept, raters, dropped = ratings_matrix(
        ["a", "a", "b", "b", "c"], ["s1", "s2", "s1", "s2", "s1"], [1.0, 2.0, 3.0, np.nan, 5.0]
    )
    assert kept == ["a"] and dropped == ["b", "c"] and raters == ["s1", "s2"]
    np.testing.assert_array_equal(matrix, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="two values"):
        ratings_matrix(["a", "a"], ["s1", "s1"], [1, 2])


def test_too_small_matrix():
    with pytest.raises(ValueError, match="at least 2 targets"):
        icc(np.ones((1, 3)))
