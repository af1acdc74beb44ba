"""``thermcli eval TABLE --metric bland-altman``: bias, limits of agreement, MAE and the plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.metrics.bland_altman import bland_altman


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.uniform(10, 30, 20)
    est = ref + rng.normal(0.5, 1.0, 20)
    accepted = np.ones(20, int)
    accepted[3] = 0
    est[3] = 80.0  # a window flagged unreadable: must not count
    rows = ["recording,start_s,rate_bpm,quality,accepted,reference_bpm"]
    rows += [f"all,{5 * i},{e:.4f},0.9,{a},{r:.4f}" for i, (e, a, r) in enumerate(zip(est, accepted, ref))]
    path = tmp_path / "respiration.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, np.round(est, 4), np.round(ref, 4), accepted.astype(bool)


def test_bland_altman_of_a_rate_table_prints_writes_and_plots(cli, tmp_path, table):
    path, est, ref, ok = table
    plot, out = tmp_path / "ba.png", tmp_path / "m.json"
    result = cli("eval", path, "--metric", "bland-altman", "--plot", plot, "--output", out, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["metrics"]["bland-altman"]
    want = bland_altman(est[ok], ref[ok])
    for key in ("n", "bias", "sd", "mae", "rmse"):
        assert got[key] == pytest.approx(want[key])
    np.testing.assert_allclose(got["loa"], want["loa"])
    assert got["rejected"] == 1 and got["n"] == 19
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(out.read_text())["metrics"]["bland-altman"]["bias"] == pytest.approx(want["bias"])
    text = cli("eval", tmp_path, "--metric", "bland-altman")  # a roi output folder: its respiration.csv
    assert text.exit_code == 0, text.output
    assert "limit of agreement" in text.stdout and "MAE" in text.stdout


def test_reference_from_a_second_table(cli, tmp_path, table):
    path, est, ref, ok = table
    other = tmp_path / "spiro_rates.csv"
    other.write_text("true_bpm\n" + "\n".join(f"{r + 1:.4f}" for r in ref) + "\n")
    result = cli("eval", path, other, "--metric", "bland-altman", "--reference-column", "true_bpm", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["metrics"]["bland-altman"]
    assert got["bias"] == pytest.approx(bland_altman(est[ok], ref[ok] + 1)["bias"])


def test_bland_altman_bad_usage(cli, tmp_path, table):
    path, *_ = table
    assert_clean_error(cli("eval", path, "--metric", "bland-altman", "--estimate-column", "nope"), 2, "--estimate-column")
    assert_clean_error(cli("eval", path, "--metric", "f1", "--plot", tmp_path / "x.png"), 2, "--plot")
    (tmp_path / "x.png").write_bytes(b"old")
    assert_clean_error(cli("eval", path, "--metric", "bland-altman", "--plot", tmp_path / "x.png"), 2, "--force")
    assert (tmp_path / "x.png").read_bytes() == b"old"
    one = tmp_path / "one.csv"
    one.write_text("rate_bpm,reference_bpm\n12,11\n")
    assert_clean_error(cli("eval", one, "--metric", "bland-altman"), 1, "at least 2")
