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


# ---- `thermcli eval --metric icc` ----------------------------------------------------------------


def _textbook_csv(path):
    lines = ["subject,session,region,stat,mean"]
    for i, row in enumerate(TABLE2):
        for j, value in enumerate(row):
            lines.append(f"t{i},judge{j},r,mean,{value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eval_icc_textbook_through_cli(cli, tmp_path):
    import json

    csv_path = _textbook_csv(tmp_path / "summary.csv")
    published = {"icc1": 0.17, "icc2": 0.29, "icc3": 0.71, "icc1k": 0.44, "icc2k": 0.62, "icc3k": 0.91}
    for metric, value in published.items():
        result = cli("eval", csv_path, "--metric", metric, "--json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)["metrics"]["icc"]
        assert round(doc["icc"], 2) == value
        assert doc["raters"] == "session" and doc["form"].startswith("ICC(")
    table = cli("eval", csv_path, "--metric", "icc")
    assert table.exit_code == 0 and "ICC(2,1)" in table.stdout and "0.290" in table.stdout


def test_eval_icc_gate(cli, tmp_path):
    from tests.conftest import assert_clean_error

    csv_path = _textbook_csv(tmp_path / "summary.csv")
    assert_clean_error(cli("eval", csv_path, "--metric", "icc", "--fail-under", "icc=0.5"), 3, "icc")
    assert cli("eval", csv_path, "--metric", "icc3", "--fail-under", "icc.r.mean=0.7").exit_code == 0


def test_eval_icc_on_two_roi_sessions(cli, tmp_path):
    import csv
    import json

    from tests.cli.test_roi import breathing_dataset
    from thermcli.io import write_dataset

    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps([{"name": "nose", "disc": [16, 12, 3]}, {"name": "cheek", "box": [4, 8, 5, 4]}]))
    outs = []
    for day, seed in (("day1", 1), ("day2", 2)):
        ds = breathing_dataset(rates=(10.0, 14.0, 18.0), seconds=12, seed=seed, keypoints=False)
        # each subject has its own skin temperature offset, reproduced across days (+ noise)
        offsets = {"sub0": 0.0, "sub1": 1.0, "sub2": -0.7}
        rng = np.random.default_rng(seed)
        for subject, offset in offsets.items():
            ds.frames[ds.subject == subject] += np.float32(offset + rng.normal(0, 0.1))
        write_dataset(tmp_path / f"{day}.h5", ds)
        out = tmp_path / day
        result = cli("roi", tmp_path / f"{day}.h5", out, "--regions", regions, "--session", day, "--no-plots")
        assert result.exit_code == 0, result.stderr
        outs.append(out)
    result = cli("eval", outs[0], outs[1], "--metric", "icc", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)["metrics"]["icc"]
    assert doc["raters"] == "session"
    rows = []
    for out in outs:
        with open(out / "summary.csv", newline="") as fh:
            rows += list(csv.DictReader(fh))
    cheek = [r for r in rows if r["region"] == "cheek"]
    matrix = np.array([[float(r["mean"]) for r in cheek if r["session"] == day] for day in ("day1", "day2")]).T
    expected = icc(matrix, "2,1")["icc"]
    entry = next(e for e in doc["by_measure"] if e["region"] == "cheek" and e["measure"] == "mean")
    assert entry["icc"] == pytest.approx(expected) and entry["n_targets"] == 3
    assert expected > 0.9  # the offsets dominate the day-to-day noise


def test_eval_icc_bad_summary(cli, tmp_path):
    from tests.conftest import assert_clean_error

    bad = tmp_path / "s.csv"
    bad.write_text("recording,mean\na,1\n")
    assert_clean_error(cli("eval", bad, "--metric", "icc"), 1, "s.csv", "subject")
    assert_clean_error(cli("eval", tmp_path / "none.csv", "--metric", "icc"), 1, "none.csv")


@pytest.mark.parametrize(
    "form, rater_sd, truth",
    [
        ("1,1", 0.0, 1 / (1 + 0.5)),  # one-way model: target variance 1, error 0.5
        ("3,1", 0.7, 1 / (1 + 0.5)),  # consistency ignores the rater effect
        ("2,1", 0.7, 1 / (1 + 0.49 + 0.5)),  # absolute agreement counts it
        ("3,k", 0.7, 3 / (3 + 0.5)),
        ("2,k", 0.7, 3 / (3 + 0.49 + 0.5)),
    ],
)
def test_confidence_interval_coverage(form, rater_sd, truth):
    """The 95 % interval covers the population ICC in about 95 % of simulated studies."""
    rng = np.random.default_rng(7)
    hits = 0
    trials = 400
    for _ in range(trials):
        y = rng.normal(size=(12, 1)) + rater_sd * rng.normal(size=(1, 3)) + np.sqrt(0.5) * rng.normal(size=(12, 3))
        low, high = icc(y, form)["ci95"]
        hits += low <= truth <= high
    assert 0.90 <= hits / trials <= 0.99, hits / trials


def test_interval_contains_estimate():
    for form in FORMS:
        result = icc(TABLE2, form)
        low, high = result["ci95"]
        assert low < result["icc"] < high
