"""`thermcli roi` end to end: regions, statistics, summaries, plots, respiration, bad input."""

from __future__ import annotations

import csv
import json

import h5py
import numpy as np
import pytest

from tests.conftest import assert_clean_error, sha256
from thermcli.io import COCO_KEYPOINT_NAMES, Dataset, Meta, write_dataset
from thermcli.ops.roi import box_mask, disc_mask

FPS = 10.0
NOSE = (16.0, 12.0)  # x, y of the nostril region's centre


def breathing_dataset(rates=(12.0, 20.0), seconds=40.0, *, seed=0, keypoints=True) -> Dataset:
    """Faces at 34 °C on a 25 °C background; a nostril disc whose temperature follows
    sin(2π·rate·t): warm on exhalation (rising = EXH). One sequence per rate."""
    rng = np.random.default_rng(seed)
    h, w = 24, 32
    per = int(seconds * FPS)
    frames, labels, seqs, subjects, times, true_rate = [], [], [], [], [], []
    face = disc_mask((h, w), (16, 12), 10)
    nose = disc_mask((h, w), NOSE, 3)
    for s, rate in enumerate(rates):
        t = np.arange(per) / FPS
        wave = np.sin(2 * np.pi * rate / 60 * t + s)
        slope = np.cos(2 * np.pi * rate / 60 * t + s)
        for i in range(per):
            frame = np.full((h, w), 25.0) + rng.normal(0, 0.05, (h, w))
            frame[face] = 34.0 + rng.normal(0, 0.05, face.sum())
            frame[nose] = 33.0 + 0.6 * wave[i] + 0.02 * t[i] + rng.normal(0, 0.05, nose.sum())
            frames.append(frame.astype(np.float32))
        labels.append((slope > 0).astype(np.int64))
        seqs += [f"seq{s}"] * per
        subjects += [f"sub{s}"] * per
        times.append(t + 100.0 * s)
        true_rate.append(np.full(per, rate, np.float32))
    n = len(frames)
    meta = Meta(unit="celsius", class_names=["INH", "EXH"])
    kwargs = {}
    if keypoints:
        meta.keypoint_names = list(COCO_KEYPOINT_NAMES)
        kp = np.zeros((n, 1, 17, 3), np.float32)
        kp[:, 0, 0] = [NOSE[0], NOSE[1], 2]  # nose
        kp[:, 0, 5] = [8, 20, 2]  # left_shoulder
        kp[:, 0, 6] = [24, 20, 2]  # right_shoulder
        kwargs["keypoints"] = kp
    return Dataset(
        frames=np.stack(frames),
        meta=meta,
        labels=np.concatenate(labels),
        subject=np.array(subjects, dtype=object),
        sequence=np.array(seqs, dtype=object),
        timestamp=np.concatenate(times),
        columns={"true_rate_bpm": np.concatenate(true_rate)},
        **kwargs,
    )


@pytest.fixture(scope="module")
def breath_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("roi") / "breath.h5"
    write_dataset(path, breathing_dataset())
    return path


@pytest.fixture
def regions_json(tmp_path):
    path = tmp_path / "regions.json"
    path.write_text(json.dumps({"regions": [
        {"name": "nose", "disc": [NOSE[0], NOSE[1], 3]},
        {"name": "cheek", "box": [4, 8, 5, 4]},
        {"name": "tri", "polygon": [[20, 4], [30, 6], [24, 14]]},
    ]}))
    return path


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_regions_stats_match_numpy(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    result = cli("roi", breath_h5, out, "--regions", regions_json, "--percentiles", "10,90")
    assert result.exit_code == 0, result.stderr
    rows = read_csv(out / "series.csv")
    ds = breathing_dataset()
    assert len(rows) == len(ds)
    for i in (0, 123, 799):
        frame = ds.frames[i]
        pixels = frame[box_mask(frame.shape, (4, 8, 5, 4))].astype(np.float64)
        assert float(rows[i]["cheek.mean"]) == pytest.approx(pixels.mean(), rel=1e-9)
        assert float(rows[i]["cheek.p90"]) == pytest.approx(np.percentile(pixels, 90), rel=1e-9)
        assert float(rows[i]["cheek.area_px"]) == 20
        nose = frame[disc_mask(frame.shape, NOSE, 3)].astype(np.float64)
        assert float(rows[i]["nose.std"]) == pytest.approx(nose.std(), rel=1e-6)
        assert float(rows[i]["time_s"]) == pytest.approx(ds.timestamp[i])
        assert rows[i]["recording"] == ds.sequence[i]
    with h5py.File(out / "series.h5") as fh:
        assert fh.attrs["schema"] == "thermcli.roi_series" and fh.attrs["unit"] == "celsius"
        np.testing.assert_allclose(fh["time_s"][...], ds.timestamp)
        np.testing.assert_allclose(fh["cheek.mean"][...], [float(r["cheek.mean"]) for r in rows])
        assert json.loads(fh.attrs["provenance"])["command"] == "thermcli roi"
    summary = json.loads((out / "summary.json").read_text())
    assert {(s["recording"], s["region"]) for s in summary["summaries"]} == {
        (q, r) for q in ("seq0", "seq1") for r in ("nose", "cheek", "tri")
    }
    assert summary["provenance"]["inputs"][0]["sha256"] == sha256(breath_h5)
    assert len(read_csv(out / "summary.csv")) == 6
    for name in ("nose", "cheek", "tri"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000


def test_summary_matches_series(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    assert cli("roi", breath_h5, out, "--regions", regions_json, "--baseline", "0:5", "--no-plots").exit_code == 0
    rows = [r for r in read_csv(out / "series.csv") if r["recording"] == "seq1"]
    t = np.array([float(r["time_s"]) for r in rows])
    y = np.array([float(r["nose.mean"]) for r in rows])
    summary = next(s for s in read_csv(out / "summary.csv") if s["recording"] == "seq1" and s["region"] == "nose")
    rel = t - t[0]
    assert float(summary["baseline"]) == pytest.approx(y[rel <= 5].mean())
    assert float(summary["peak"]) == pytest.approx(y.max())
    assert float(summary["time_to_peak_s"]) == pytest.approx(rel[np.argmax(y)])
    assert float(summary["slope_per_min"]) == pytest.approx(np.polyfit(t, y, 1)[0] * 60)
    assert not (out / "plots").exists()


def test_smoothing_option(cli, breath_h5, regions_json, tmp_path):
    raw, smoothed = tmp_path / "raw", tmp_path / "smooth"
    assert cli("roi", breath_h5, raw, "--regions", regions_json, "--no-plots").exit_code == 0
    assert cli("roi", breath_h5, smoothed, "--regions", regions_json, "--no-plots", "--smooth", "moving", "--smooth-window", "1s").exit_code == 0
    a = np.array([float(r["cheek.mean"]) for r in read_csv(raw / "series.csv")])
    b = np.array([float(r["cheek.mean"]) for r in read_csv(smoothed / "series.csv")])
    assert b.std() < a.std()  # the cheek is flat: smoothing only removes noise
    assert abs(a.mean() - b.mean()) < 0.01


def test_breathing_rate_and_phase(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "roi", breath_h5, out, "--regions", regions_json, "--signal", "breathing", "--breath-region", "nose",
        "--window", "20s", "--step", "5s", "--reference", "rate:true_rate_bpm", "--json",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    per_recording = {r["recording"]: r for r in doc["respiration"]}
    assert per_recording["seq0"]["rate_bpm"] == pytest.approx(12.0, abs=0.5)
    assert per_recording["seq1"]["rate_bpm"] == pytest.approx(20.0, abs=0.5)
    assert per_recording["ALL"]["rate_mae_bpm"] < 0.5
    assert per_recording["ALL"]["phase_balanced_accuracy"] > 0.9
    windows = read_csv(out / "respiration.csv")
    assert len(windows) == 2 * 5  # 40 s recordings, 20 s windows every 5 s
    assert all(float(w["quality"]) > 0.5 for w in windows)
    series = read_csv(out / "series.csv")
    assert {r["nose.phase"] for r in series} <= {"0", "1"}


def test_breathing_peaks_method(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "roi", breath_h5, out, "--regions", regions_json, "--signal", "breathing", "--breath-region", "nose",
        "--rate-method", "peaks", "--window", "all", "--json", "--no-plots",
    )
    assert result.exit_code == 0, result.stderr
    rates = {r["recording"]: r["rate_bpm"] for r in json.loads(result.stdout)["respiration"] if r["recording"] != "ALL"}
    assert rates["seq0"] == pytest.approx(12.0, abs=0.5) and rates["seq1"] == pytest.approx(20.0, abs=0.5)


def test_recording_shorter_than_window_gives_nan_and_warning(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    result = cli("roi", breath_h5, out, "--regions", regions_json, "--signal", "breathing", "--window", "60s", "--json", "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert "shorter than one 60 s analysis window" in result.stderr
    doc = json.loads(result.stdout)
    assert all(r["rate_bpm"] is None for r in doc["respiration"] if r["recording"] != "ALL")
    assert {w["rate_bpm"] for w in read_csv(out / "respiration.csv")} == {"nan"}


def test_keypoint_anchors_equal_fixed_regions(cli, breath_h5, tmp_path):
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps([{"name": "nose", "disc": [NOSE[0], NOSE[1], 3]}]))
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("roi", breath_h5, a, "--regions", fixed, "--no-plots").exit_code == 0
    result = cli(
        "roi", breath_h5, b, "--anchor", "nose=disc:nose:3",
        "--anchor", "chest=segment:left_shoulder+right_shoulder,nose:4", "--no-plots",
    )
    assert result.exit_code == 0, result.stderr
    ra, rb = read_csv(a / "series.csv"), read_csv(b / "series.csv")
    assert [r["nose.mean"] for r in ra] == [r["nose.mean"] for r in rb]
    # chest: from (16, 20) (mean of the shoulders) to the nose (16, 12), 4 px wide → 8 × 4 px
    assert {r["chest.area_px"] for r in rb} == {"32.0"}


def test_anchor_from_model_boundary_with_stand_in(tmp_path, breath_h5):
    from thermcli.stages.roi import RoiConfig, parse_anchor, run_roi

    calls = []

    def stand_in(batch, start):
        calls.append((start, len(batch)))
        kp = np.zeros((len(batch), 1, 2, 3))
        kp[:, 0, 0] = [NOSE[0], NOSE[1], 2]
        kp[:, 0, 1] = [5, 5, 0]  # never visible
        return kp

    config = RoiConfig(regions=(parse_anchor("nose=disc:tip:3"), parse_anchor("ghost=disc:hidden:2")), plots=False, batch_size=300)
    messages = []
    result = run_roi(breath_h5, tmp_path / "out", config, provenance={}, keypoint_predictor=stand_in,
                     keypoint_names=["tip", "hidden"], warn=messages.append)
    assert calls == [(0, 300), (300, 300), (600, 200)]  # streamed in batches
    assert np.isfinite(result.series["nose.mean"]).all()
    assert np.isnan(result.series["ghost.mean"]).all()
    assert any("ghost: anchor keypoints absent in 800 of 800 frames" in m for m in messages)


def test_model_without_keypoint_pipeline_is_one_line(cli, breath_h5, tmp_path, monkeypatch):
    import thermcli.stages.roi.keypoints as stage  # where model_keypoint_predictor reads it

    monkeypatch.setattr(stage, "KEYPOINT_INFERENCE", "thermcli.no_such_module:predict")
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"x")
    result = cli("roi", breath_h5, tmp_path / "out", "--anchor", "nose=disc:nose:3", "--model", fake)
    assert_clean_error(result, 2, "--model", "not part of this build")


def test_band_region_alone_and_inside_regions(cli, breath_h5, regions_json, tmp_path):
    skin, inside = tmp_path / "skin", tmp_path / "inside"
    assert cli("roi", breath_h5, skin, "--band", "30:37", "--open", "3", "--no-plots").exit_code == 0
    rows = read_csv(skin / "series.csv")
    face_area = disc_mask((24, 32), (16, 12), 10).sum()
    assert float(rows[0]["skin.area_px"]) == pytest.approx(face_area, abs=0.05 * face_area)
    assert 32.5 < float(rows[0]["skin.mean"]) < 34.5
    assert cli("roi", breath_h5, inside, "--regions", regions_json, "--band", "30:37", "--all-components", "--no-plots").exit_code == 0
    rows = read_csv(inside / "series.csv")
    assert float(rows[0]["cheek.area_px"]) < 20  # the cheek box reaches past the face: background removed
    assert float(rows[0]["cheek.min"]) >= 30


# ---- bad input ---------------------------------------------------------------------------------


def test_region_outside_frame_is_one_line_error(cli, breath_h5, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "far", "box": [100, 100, 5, 5]}]))
    out = tmp_path / "out"
    assert_clean_error(cli("roi", breath_h5, out, "--regions", bad), 1, "far", "outside the 32×24 frame")
    assert not out.exists()


def test_region_partly_outside_is_clipped_with_warning(cli, breath_h5, tmp_path):
    edge = tmp_path / "edge.json"
    edge.write_text(json.dumps([{"name": "edge", "box": [30, 20, 5, 5]}]))
    result = cli("roi", breath_h5, tmp_path / "out", "--regions", edge, "--no-plots")
    assert result.exit_code == 0
    assert "partly outside" in result.stderr
    assert read_csv(tmp_path / "out" / "series.csv")[0]["edge.area_px"] == "8.0"


def test_column_region_outside_in_some_frames_is_nan(cli, tmp_path):
    ds = breathing_dataset(rates=(15.0,), seconds=10, keypoints=False)
    cx = np.full(len(ds), NOSE[0], np.float32)
    cx[:7] = 500.0  # tracked ROI leaves the frame
    ds.columns.update(cx=cx, cy=np.full(len(ds), NOSE[1], np.float32), r=np.full(len(ds), 3.0, np.float32))
    write_dataset(tmp_path / "d.h5", ds)
    spec = tmp_path / "r.json"
    spec.write_text(json.dumps([{"name": "tracked", "disc": ["cx", "cy", "columns/r"]}]))
    result = cli("roi", tmp_path / "d.h5", tmp_path / "out", "--regions", spec, "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert "tracked: empty" in result.stderr and "7 of 100 frames" in result.stderr
    rows = read_csv(tmp_path / "out" / "series.csv")
    assert rows[0]["tracked.mean"] == "nan" and rows[7]["tracked.mean"] != "nan"


def test_unknown_column_is_one_line_error(cli, breath_h5, tmp_path):
    spec = tmp_path / "r.json"
    spec.write_text(json.dumps([{"name": "m", "disc": ["nope", 3, 3]}]))
    assert_clean_error(cli("roi", breath_h5, tmp_path / "out", "--regions", spec), 1, "'nope'", "lacks")


def test_anchor_keypoint_absent_from_dataset(cli, breath_h5, tmp_path):
    result = cli("roi", breath_h5, tmp_path / "out", "--anchor", "m=disc:nosee:3")
    assert_clean_error(result, 2, "--anchor", "'nosee'", "did you mean nose")


def test_anchor_without_keypoints_in_dataset(cli, tmp_path):
    write_dataset(tmp_path / "d.h5", breathing_dataset(rates=(15.0,), seconds=5, keypoints=False))
    result = cli("roi", tmp_path / "d.h5", tmp_path / "out", "--anchor", "m=disc:nose:3")
    assert_clean_error(result, 1, "d.h5", "keypoint")


def test_bad_anchor_syntax_and_options(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    assert_clean_error(cli("roi", breath_h5, out, "--anchor", "nose:3"), 2, "--anchor")
    assert_clean_error(cli("roi", breath_h5, out, "--regions", regions_json, "--smooth", "gauss"), 2, "--smooth")
    assert_clean_error(cli("roi", breath_h5, out, "--band", "37:30"), 2, "--band")
    assert_clean_error(cli("roi", breath_h5, out), 2, "no regions")
    assert_clean_error(cli("roi", breath_h5, out, "--regions", regions_json, "--reference", "rate:x"), 2, "--reference", "--signal breathing")
    assert_clean_error(
        cli("roi", breath_h5, out, "--regions", regions_json, "--signal", "breathing", "--breath-band", "0.1:6"), 2, "--breath-band"
    )
    assert not out.exists()


def test_bad_regions_file(cli, breath_h5, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_clean_error(cli("roi", breath_h5, tmp_path / "out", "--regions", bad), 1, "bad.json", "JSON")
    bad.write_text(json.dumps([{"name": "x", "box": [1, 2, 3]}]))
    assert_clean_error(cli("roi", breath_h5, tmp_path / "out", "--regions", bad), 1, "[x, y, w, h]")


def test_existing_output_needs_force(cli, breath_h5, regions_json, tmp_path):
    out = tmp_path / "out"
    assert cli("roi", breath_h5, out, "--regions", regions_json, "--no-plots").exit_code == 0
    assert_clean_error(cli("roi", breath_h5, out, "--regions", regions_json), 2, "exists")
    assert cli("roi", breath_h5, out, "--regions", regions_json, "--no-plots", "--force").exit_code == 0


def test_input_untouched(cli, breath_h5, regions_json, tmp_path):
    before = sha256(breath_h5)
    assert cli("roi", breath_h5, tmp_path / "out", "--regions", regions_json, "--signal", "breathing", "--no-plots").exit_code == 0
    assert sha256(breath_h5) == before


def test_model_boundary_calls_keypoint_inference(cli, breath_h5, tmp_path, monkeypatch):
    """--model end to end with a stand-in for the keypoint pipeline's inference function."""
    import sys
    import types

    import thermcli.stages.roi.keypoints as stage  # where model_keypoint_predictor reads it

    seen = {}

    def predict_arrays(source, data_path, *, device, batch_size):
        seen.update(source=source, data=data_path, device=str(device))
        kp = np.zeros((800, 1, 1, 3), np.float32)
        kp[:, 0, 0] = [NOSE[0], NOSE[1], 2]
        return kp, np.ones((800, 1)), None, {"keypoint_names": ["snout"]}

    fake = types.ModuleType("fake_keypoints")
    fake.predict_arrays = predict_arrays
    monkeypatch.setitem(sys.modules, "fake_keypoints", fake)
    monkeypatch.setattr(stage, "KEYPOINT_INFERENCE", "fake_keypoints:predict_arrays")
    model = tmp_path / "pose.pt"
    model.write_bytes(b"stand-in")
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps([{"name": "ref", "disc": [NOSE[0], NOSE[1], 3]}]))
    out = tmp_path / "out"
    result = cli("roi", breath_h5, out, "--anchor", "nose=disc:snout:3", "--regions", fixed, "--model", model, "--device", "cpu", "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert seen == {"source": model, "data": breath_h5, "device": "cpu"}
    rows = read_csv(out / "series.csv")
    assert [r["nose.mean"] for r in rows] == [r["ref.mean"] for r in rows]
    provenance = json.loads((out / "summary.json").read_text())["provenance"]
    assert any(i["path"].endswith("pose.pt") for i in provenance["inputs"])


def test_docs_page_documents_every_option():
    import re

    from tests.conftest import REPO
    from thermcli.cli.main import app  # noqa: F401  (registers the commands)

    section = (REPO / "docs" / "commands" / "roi.md").read_text()  # the manual moved to docs/
    import typer.main

    command = typer.main.get_command(app).commands["roi"]
    for param in command.params:
        for flag in param.opts + param.secondary_opts:
            if flag.startswith("--") and flag != "--help":
                assert re.search(re.escape(flag) + r"\b", section), flag


def test_offset_shifts_region(cli, breath_h5, tmp_path):
    shifted = tmp_path / "shifted.json"
    shifted.write_text(json.dumps([{"name": "a", "box": [3, 7, 5, 4], "offset": [1, 1]}, {"name": "b", "box": [4, 8, 5, 4]}]))
    out = tmp_path / "out"
    assert cli("roi", breath_h5, out, "--regions", shifted, "--no-plots").exit_code == 0
    rows = read_csv(out / "series.csv")
    assert [r["a.mean"] for r in rows] == [r["b.mean"] for r in rows]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "a", "box": [3, 7, 5, 4], "offset": "x"}]))
    assert_clean_error(cli("roi", breath_h5, tmp_path / "o2", "--regions", bad), 1, "offset")


def test_metadata_errors_come_before_work(cli, tmp_path, regions_json):
    ds = breathing_dataset(rates=(15.0,), seconds=5, keypoints=False)
    ds.timestamp = None
    write_dataset(tmp_path / "d.h5", ds)
    assert_clean_error(cli("roi", tmp_path / "d.h5", tmp_path / "o", "--regions", regions_json), 1, "d.h5", "--fps")
    assert cli("roi", tmp_path / "d.h5", tmp_path / "o", "--regions", regions_json, "--fps", "10", "--no-plots").exit_code == 0
    assert_clean_error(
        cli("roi", tmp_path / "d.h5", tmp_path / "o2", "--regions", regions_json, "--fps", "10", "--signal", "breathing",
            "--reference", "flow:nope"), 1, "'nope'")
    assert_clean_error(
        cli("roi", tmp_path / "d.h5", tmp_path / "o2", "--regions", regions_json, "--signal", "breathing",
            "--breath-region", "mouth", "--fps", "10"), 2, "--breath-region", "'mouth'")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "a.b", "box": [1, 1, 2, 2]}]))
    assert_clean_error(cli("roi", tmp_path / "d.h5", tmp_path / "o2", "--regions", bad, "--fps", "10"), 2, "'a.b'")


def test_min_quality_rejects_noise_windows(cli, tmp_path, regions_json):
    ds = breathing_dataset(rates=(15.0, 15.0), seconds=30, keypoints=False)
    noisy = ds.sequence == "seq1"
    rng = np.random.default_rng(5)
    nose = disc_mask((24, 32), NOSE, 3)
    frames = ds.frames.copy()
    for i in np.nonzero(noisy)[0]:
        frames[i][nose] = (33 + rng.normal(0, 0.6, int(nose.sum()))).astype(np.float32)
    ds.frames = frames
    write_dataset(tmp_path / "d.h5", ds)
    out = tmp_path / "out"
    result = cli("roi", tmp_path / "d.h5", out, "--regions", regions_json, "--signal", "breathing", "--breath-region", "nose",
                 "--window", "all", "--min-quality", "0.6", "--json", "--no-plots")
    assert result.exit_code == 0, result.stderr
    rows = {r["recording"]: r for r in json.loads(result.stdout)["respiration"]}
    assert rows["seq0"]["rate_bpm"] == pytest.approx(15.0, abs=0.5) and rows["seq0"]["n_rejected"] == 0
    assert rows["seq1"]["rate_bpm"] is None and rows["seq1"]["n_rejected"] == 1
    assert "seq1 region nose: 1 of 1 windows below --min-quality 0.6" in result.stderr
    windows = {w["recording"]: w for w in read_csv(out / "respiration.csv")}
    assert windows["seq1"]["accepted"] == "0" and windows["seq1"]["rate_bpm"] != "nan"


def test_png_folder_intensity_and_colour_frames(cli, tmp_path, regions_json):
    from tests.conftest import make_dataset

    ds = make_dataset(n=8, h=24, w=32, unit="intensity", labels=False)
    ds.frames[:, 8:12, 4:9] = 255  # the cheek box is saturated in every frame
    write_dataset(tmp_path / "png", ds)
    out = tmp_path / "out"
    result = cli("roi", tmp_path / "png", out, "--regions", regions_json, "--no-plots")
    assert result.exit_code == 0, result.stderr
    rows = read_csv(out / "series.csv")
    assert {r["cheek.saturated_fraction"] for r in rows} == {"1.0"} and {r["cheek.mean"] for r in rows} == {"255.0"}
    assert json.loads((out / "summary.json").read_text())["unit"] == "intensity"
    colour = make_dataset(n=4, h=24, w=32, unit="intensity", labels=False, channels=3)
    write_dataset(tmp_path / "rgb.h5", colour)
    assert_clean_error(cli("roi", tmp_path / "rgb.h5", tmp_path / "o2", "--regions", regions_json), 1, "single-channel")


def test_default_breath_band_lowered_for_a_slow_camera(cli, breath_h5, regions_json, tmp_path):
    """The default band's 1.5 Hz edge is physiology (90 breaths/min), not a demand on the camera:
    at 2 fps it is lowered under Nyquist with a warning; a band the user gives is refused instead."""
    out = tmp_path / "out"
    result = cli("roi", breath_h5, out, "--regions", regions_json, "--signal", "breathing", "--breath-region", "nose",
                 "--fps", "2", "--window", "all", "--json", "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert "breathing band lowered to 0.1–0.9 Hz (Nyquist 1 Hz)" in result.stderr
    rows = [r for r in json.loads(result.stdout)["respiration"] if r["recording"] != "ALL"]
    # 10 fps frames read as 2 fps: every rate is 5× slower (12 → 2.4, 20 → 4 bpm: below the band, so
    # only finiteness is asserted)
    assert all(r["rate_bpm"] is None or np.isfinite(r["rate_bpm"]) for r in rows)
    assert_clean_error(
        cli("roi", breath_h5, tmp_path / "o2", "--regions", regions_json, "--signal", "breathing", "--fps", "2",
            "--breath-band", "0.1:1.5"), 2, "--breath-band")
