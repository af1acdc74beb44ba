"""``thermcli tug`` and ``thermcli eval --metric tug`` end to end through the CLI."""

from __future__ import annotations

import csv
import json

import pytest

from tests.tug_tracks import BOUNDS, dataset, track
from thermcli.io import read_dataset, write_dataset


@pytest.fixture
def tug_h5(tmp_path):
    t1, kp1, l1 = track(8.0, seed=0)
    t2, kp2, l2 = track(8.0, seed=1, reverse=True, t0=300.0)
    t3, kp3, l3 = track(8.0, seed=2, stands=False, t0=600.0)
    path = tmp_path / "tug.h5"
    write_dataset(path, dataset([("a", t1, kp1, l1), ("b", t2, kp2, l2), ("seated", t3, kp3, l3)]))
    return path


def test_tug_writes_csv_json_and_plots(cli, tug_h5, tmp_path):
    before = tug_h5.read_bytes()
    out = tmp_path / "out"
    result = cli("tug", tug_h5, out, "--pixel-size", "0.02")
    assert result.exit_code == 0, result.output
    assert "seated: not found" in result.output
    rows = {r["sequence"]: r for r in csv.DictReader((out / "tug.csv").open())}
    assert set(rows) == {"a", "b", "seated"}
    for name in ("a", "b"):
        assert rows[name]["found"] == "True"
        assert float(rows[name]["total_s"]) == pytest.approx(BOUNDS[-1] - BOUNDS[0], abs=0.2)
        assert float(rows[name]["walking_speed_m_s"]) > 0
    assert rows["b"]["direction"] == "right-to-left"
    assert rows["seated"]["found"] == "False" and "no standing up" in rows["seated"]["reason"]
    doc = json.loads((out / "tug.json").read_text())
    assert doc["summary"] == {"sequences": 3, "found": 2, "mean_total_s": pytest.approx(10.0, abs=0.2)}
    assert doc["settings"]["pixel_size_m"] == 0.02
    assert doc["provenance"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["a.png", "b.png", "seated.png"]
    assert tug_h5.read_bytes() == before


def test_tug_json_stdout_and_no_plots(cli, tug_h5, tmp_path):
    result = cli("-q", "tug", tug_h5, tmp_path / "o", "--json", "--no-plots")
    assert result.exit_code == 0, result.output
    sequences = json.loads(result.stdout)
    assert [s["found"] for s in sequences] == [True, True, False]
    assert not (tmp_path / "o" / "plots").exists()


def test_min_score_drops_keypoints(cli, tug_h5, tmp_path):
    # every keypoint has visibility 2: a threshold at 2 leaves none, so nothing is found
    result = cli("tug", tug_h5, tmp_path / "o", "--min-score", "0.5")
    assert result.exit_code == 0
    result = cli("tug", tug_h5, tmp_path / "o2", "--min-score", "0.99")
    assert result.exit_code == 0
    ds = read_dataset(tug_h5)
    kp = ds.keypoints.copy()
    kp[..., 2] = 0.3  # scores of a weak model
    path = tmp_path / "weak.h5"
    write_dataset(path, ds.replace(keypoints=kp))
    result = cli("-q", "tug", path, tmp_path / "o3", "--min-score", "0.5", "--json")
    assert all("too few frames" in s["reason"] for s in json.loads(result.stdout))


def test_min_rise_and_person(cli, tug_h5, tmp_path):
    result = cli("-q", "tug", tug_h5, tmp_path / "o", "--min-rise", "5", "--json")
    assert all(not s["found"] for s in json.loads(result.stdout))
    result = cli("tug", tug_h5, tmp_path / "p", "--person", "1")
    assert result.exit_code == 2 and "--person" in result.output
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("option,value", [("--pixel-size", "-1"), ("--min-score", "1.5"), ("--min-rise", "0")])
def test_bad_options_exit_2(cli, tug_h5, tmp_path, option, value):
    result = cli("tug", tug_h5, tmp_path / "o", option, value)
    assert result.exit_code == 2
    assert option in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_dataset_without_keypoints_exit_1(cli, tmp_path):
    from tests.conftest import make_dataset

    path = tmp_path / "plain.h5"
    write_dataset(path, make_dataset())
    result = cli("tug", path, tmp_path / "o")
    assert result.exit_code == 1 and "keypoints" in result.output
    assert not (tmp_path / "o").exists()


def test_existing_output_needs_force(cli, tug_h5, tmp_path):
    out = tmp_path / "o"
    assert cli("tug", tug_h5, out).exit_code == 0
    assert cli("tug", tug_h5, out).exit_code == 2
    assert cli("tug", tug_h5, out, "--force").exit_code == 0


def test_eval_metric_tug_against_labels(cli, tug_h5, tmp_path):
    out = tmp_path / "o"
    assert cli("tug", tug_h5, out).exit_code == 0
    result = cli("-q", "eval", out, tug_h5, "--metric", "tug", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]["tug"]
    assert metrics["sequences"] == 3 and metrics["evaluated"] == 2 and metrics["not_found"] == 1
    # labels at 8 fps resolve a boundary to ±1/16 s; the fit is within a few hundredths
    assert metrics["label_resolution_s"] == pytest.approx(1 / 16, abs=0.01)
    assert metrics["total_mae_s"] < 0.15 and metrics["boundary_mae_s"] < 0.15
    assert set(metrics["per_boundary_mae_s"]) == {"start", "walk_out", "turn", "walk_back", "turn_and_sit", "end"}
    # the keypoints dataset itself, analysed on the fly, gives the same errors
    direct = json.loads(cli("-q", "eval", tug_h5, tug_h5, "--metric", "tug", "--json").stdout)["metrics"]["tug"]
    assert direct["total_mae_s"] == pytest.approx(metrics["total_mae_s"], abs=1e-3)


def test_eval_metric_tug_shifted_estimate_is_measured(cli, tug_h5, tmp_path):
    out = tmp_path / "o"
    cli("tug", tug_h5, out)
    doc = json.loads((out / "tug.json").read_text())
    for seq in doc["sequences"]:
        if seq["found"]:
            seq["boundaries"]["end"] += 1.0  # one boundary a second late
    (out / "tug.json").write_text(json.dumps(doc))
    metrics = json.loads(cli("-q", "eval", out / "tug.json", tug_h5, "--metric", "tug", "--json").stdout)["metrics"]["tug"]
    assert metrics["per_boundary_mae_s"]["end"] == pytest.approx(1.0, abs=0.15)
    assert metrics["total_mae_s"] == pytest.approx(1.0, abs=0.15)


def test_eval_metric_tug_needs_phase_labels(cli, tug_h5, tmp_path):
    from tests.conftest import make_dataset

    plain = tmp_path / "plain.h5"
    write_dataset(plain, make_dataset())
    result = cli("eval", tug_h5, plain, "--metric", "tug")
    assert result.exit_code == 1 and "phase labels" in result.output
