"""``roi --region auto-airway`` end to end: the airway found from the video alone."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_roi import breathing_dataset, read_csv
from tests.conftest import assert_clean_error
from thermcli.io import write_dataset


@pytest.fixture(scope="module")
def breath_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("airway") / "breath.h5"
    write_dataset(path, breathing_dataset(rates=(15.0,), seconds=30.0, keypoints=False))
    return path


def test_auto_airway_finds_the_nostril_and_its_rate(cli, breath_h5, tmp_path):
    out = tmp_path / "out"
    result = cli("roi", breath_h5, out, "--region", "auto-airway", "--airway-radius", "2", "--signal", "breathing",
                 "--window", "all", "--reference", "rate:true_rate_bpm", "--no-plots", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    overall = next(r for r in doc["respiration"] if r["recording"] == "ALL")
    assert overall["rate_mae_bpm"] < 1.0
    series = read_csv(out / "series.csv")
    # the nostril's mean (33 °C ± 0.6) is not the face's (34 °C) nor the background's (25 °C)
    means = [float(r["airway.mean"]) for r in series]
    assert 31.5 < sum(means) / len(means) < 34.0


def test_unknown_region_and_orphan_radius_are_usage_errors(cli, breath_h5, tmp_path):
    result = cli("roi", breath_h5, tmp_path / "o1", "--region", "nose")
    assert_clean_error(result, 2, "--region")
    assert not (tmp_path / "o1").exists()
    result = cli("roi", breath_h5, tmp_path / "o2", "--band", "30:37", "--airway-radius", "3")
    assert_clean_error(result, 2, "--airway-radius")
