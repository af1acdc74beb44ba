"""``thermcli align`` end to end: the tug sample (sync, warp, crops), the real calibration pair,
point pairs, automatic registration, and every bad-input case as a clean error with no output."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import REPO, assert_clean_error
from tests.ops import _cases as cases
from thermcli.io import Dataset, Meta, read_dataset, write_dataset
from thermcli.ops.registration import corner_error

TUG = REPO / "sample_data" / "tug"


@pytest.fixture(scope="module")
def tug():
    if not TUG.is_dir():
        pytest.skip("sample_data/tug is not in this checkout")
    return TUG


def _thermal_rgb(tug):
    return tug / "thermal.h5", tug / "rgb.h5"


def test_documented_command_pairs_warps_and_crops(cli, tmp_path, tug):
    thermal_path, rgb_path = _thermal_rgb(tug)
    out = tmp_path / "pairs.h5"
    result = cli("align", thermal_path, rgb_path, out, "--transform", tug / "homography.json", "--apply",
                 "--max-skew", "60ms", "--crop", "256x192", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    thermal, rgb = read_dataset(thermal_path), read_dataset(rgb_path)
    assert report["dropped"] == {"thermal": 1, "rgb": 1}
    assert report["pairs"] == len(thermal) - 1 == report["crops"] == report["rows"]
    assert report["max_abs_skew_ms"] <= 60
    pairs = read_dataset(out)
    assert pairs.frames.shape == (report["rows"], 256, 192) and pairs.rgb.shape == (report["rows"], 256, 192, 3)
    assert pairs.frames.dtype == np.float32 and pairs.meta.unit == "celsius"
    # every pair is the same capture, within the tolerance
    t_rows, r_rows = pairs.columns["thermal_row"], pairs.columns["rgb_row"]
    np.testing.assert_array_equal(thermal.columns["frame_index"][t_rows], rgb.columns["frame_index"][r_rows])
    assert np.all(np.abs(rgb.timestamp[r_rows] - thermal.timestamp[t_rows]) <= 0.060)
    # crops: keypoints back to the (thermal-geometry) frame within 1e-4 px through the stored affine
    from thermcli.stages.align import crop_to_frame

    for i in range(len(pairs)):
        kp, original = pairs.keypoints[i, 0], thermal.keypoints[t_rows[i], 0]
        labelled = original[:, 2] > 0
        assert np.array_equal(kp[:, 2] > 0, labelled)
        back = crop_to_frame(kp[labelled, :2].astype(np.float64), pairs.columns["crop_affine"][i])
        assert np.abs(back - original[labelled, :2]).max() < 1e-4
    # the RGB stream's own keypoints, warped and cropped, land on the thermal ones
    rgb_kp = pairs.columns["rgb_keypoints"][:, 0]
    both = (rgb_kp[..., 2] > 0) & (pairs.keypoints[:, 0, :, 2] > 0)
    assert both.sum() > 500
    assert np.abs(rgb_kp[..., :2][both] - pairs.keypoints[:, 0, :, :2][both]).max() < 1e-2
    assert pairs.meta.provenance["command"] == "thermcli align"
    assert pairs.meta.attrs["align"]["transform"]["matrix"]


def test_apply_warps_rgb_pixel_aligned(cli, tmp_path, tug):
    thermal_path, rgb_path = _thermal_rgb(tug)
    out = tmp_path / "aligned.h5"
    assert cli("align", thermal_path, rgb_path, out, "--transform", tug / "homography.json", "--apply").exit_code == 0
    pairs = read_dataset(out)
    assert pairs.rgb.shape[1:] == (60, 80, 3) and pairs.frames.shape[1:] == (60, 80)
    # the warped RGB person sits where the thermal person is: silhouettes overlap strongly
    hot = pairs.frames > 27
    bg = np.median(pairs.rgb.astype(float), axis=(1, 2), keepdims=True)
    rgb_person = np.abs(pairs.rgb.astype(float) - bg).sum(-1) > 60
    overlap = (hot & rgb_person).sum() / hot.sum()
    assert overlap > 0.5


def test_reverse_warps_thermal_into_rgb_geometry(cli, tmp_path, tug):
    thermal_path, rgb_path = _thermal_rgb(tug)
    out = tmp_path / "reverse.h5"
    result = cli("align", thermal_path, rgb_path, out, "--transform", tug / "homography.json", "--apply", "--reverse",
                 "--labels", "rgb")
    assert result.exit_code == 0, result.output
    pairs = read_dataset(out)
    assert pairs.frames.shape[1:] == (96, 128) and pairs.rgb.shape[1:] == (96, 128, 3)
    assert np.isnan(pairs.frames[:, :, :3]).all()  # the thermal camera does not see the RGB's left edge
    np.testing.assert_array_equal(pairs.keypoints, read_dataset(rgb_path).keypoints[pairs.columns["rgb_row"]])


def test_clock_offset_auto_and_person_finder_boxes(cli, tmp_path, tug):
    thermal_path, rgb_path = _thermal_rgb(tug)
    out = tmp_path / "found.h5"
    result = cli("align", thermal_path, rgb_path, out, "--transform", tug / "homography.json", "--crop", "64x48",
                 "--boxes", "find", "--clock-offset", "auto", "--max-skew", "30ms", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert abs(report["clock_offset_s"] - 0.020) < 0.003
    assert report["dropped"] == {"thermal": 1, "rgb": 1}
    assert report["crops"] >= report["pairs"] - 2


def test_estimate_only_from_point_pairs(cli, tmp_path, tug):
    thermal, rgb = read_dataset(tug / "thermal.h5"), read_dataset(tug / "rgb.h5")
    truth = np.array(json.loads((tug / "homography.json").read_text())["matrix"])
    rows = ["rgb_x,rgb_y,thermal_x,thermal_y"]
    for t, r in ((0, 0), (20, 20), (40, 40)):
        a, b = rgb.keypoints[r, 0], thermal.keypoints[t, 0]
        if rgb.columns["frame_index"][r] != thermal.columns["frame_index"][t]:
            continue
        for p, q in zip(a, b):
            if p[2] > 0 and q[2] > 0:
                rows.append(f"{p[0]},{p[1]},{q[0]},{q[1]}")
    csv = tmp_path / "pairs.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "H.json"
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--points", csv)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert corner_error(np.array(doc["matrix"]), truth, (128, 96)) < 0.01
    assert doc["source_size"] == [128, 96] and doc["target_size"] == [80, 60]
    assert doc["error_px"] < 0.01 and doc["provenance"]["command"] == "thermcli align"


def test_automatic_registration_end_to_end(cli, tmp_path):
    rng = np.random.default_rng(7)
    h = cases.true_homography(rng)
    rgb_frames, thermal_frames = zip(*[cases.scene_pair(np.random.default_rng(11), h) for _ in range(2)])
    t = np.arange(2) / 5.0
    write_dataset(tmp_path / "t.h5", Dataset(frames=np.stack(thermal_frames), meta=Meta(unit="celsius"), timestamp=t))
    write_dataset(tmp_path / "r.h5", Dataset(frames=np.stack(rgb_frames), meta=Meta(unit="intensity", modality="rgb"),
                                             timestamp=t + 0.001))
    (tmp_path / "init.json").write_text(json.dumps({"kind": "homography", "matrix": cases.nominal_homography().tolist()}))
    out = tmp_path / "auto.json"
    result = cli("align", tmp_path / "t.h5", tmp_path / "r.h5", out, "--auto", "--initial", tmp_path / "init.json",
                 "--auto-pairs", "2")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert corner_error(np.array(doc["matrix"]), h, cases.RGB_SIZE) < 2.0
    assert doc["auto"]["pairs_used"] == 2


def test_real_calibration_pair(cli, tmp_path, shared_data):
    folder = shared_data / "rgbt-calib-pair" / "example_input"
    out = tmp_path / "calib.json"
    result = cli("align", out, "--calib", folder, "--undistort", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["reprojection"]["points"] == 30 and doc["error_px"] < 1.0
    assert doc["source_size"] == [640, 480] and doc["target_size"] == [640, 512]
    assert doc["target_intrinsics"]["distortion"][0] == pytest.approx(-0.50404)
    assert json.loads(result.stdout)["error_px"] == doc["error_px"]


def test_target_not_found_is_named_skipped_counted(cli, tmp_path, shared_data):
    folder = tmp_path / "calib"
    folder.mkdir()
    real = shared_data / "rgbt-calib-pair" / "example_input"
    shutil.copy(real / "rgb0000.jpg", folder / "rgb0000.jpg")
    shutil.copy(real / "thermal0000.jpg", folder / "thermal0000.jpg")
    import cv2

    cv2.imwrite(str(folder / "rgb0001.png"), np.full((480, 640, 3), 128, np.uint8))
    cv2.imwrite(str(folder / "thermal0001.png"), np.full((512, 640), 90, np.uint8))
    out = tmp_path / "calib.json"
    result = cli("align", out, "--calib", folder)
    assert result.exit_code == 0, result.output
    views = json.loads(out.read_text())["views"]
    assert views["used"] == 1 and views["skipped"] == 2
    assert any("rgb0001.png" in name for name in views["skipped_names"])
    out2 = tmp_path / "calib2.json"
    failed = cli("align", out2, "--calib", folder, "--min-views", "2")
    assert_clean_error(failed, 1, "found in 1 of 2 views", "rgb0001.png")
    assert not out2.exists()


def test_degenerate_point_pairs_and_transforms(cli, tmp_path, tug):
    csv = tmp_path / "line.csv"
    csv.write_text("rgb_x,rgb_y,thermal_x,thermal_y\n" + "\n".join(f"{i},{i},{i / 2},{i / 2}" for i in range(6)) + "\n")
    out = tmp_path / "H.json"
    assert_clean_error(cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--points", csv), 1, "line.csv", "collinear")
    assert not out.exists()
    mirrored = tmp_path / "mirror.json"
    mirrored.write_text(json.dumps({"kind": "homography", "matrix": [[-0.6, 0, 80], [0, 0.6, 0], [0, 0, 1]],
                                    "source_size": [128, 96], "target_size": [80, 60]}))
    out = tmp_path / "x.h5"
    assert_clean_error(cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--transform", mirrored, "--apply"), 1,
                       "mirror.json", "mirror")
    assert not out.exists()


def test_streams_that_never_overlap(cli, tmp_path, tug):
    rgb = read_dataset(tug / "rgb.h5")
    rgb.timestamp = rgb.timestamp + 5000.0
    write_dataset(tmp_path / "late.h5", rgb)
    out = tmp_path / "x.h5"
    result = cli("align", tug / "thermal.h5", tmp_path / "late.h5", out, "--transform", tug / "homography.json")
    assert_clean_error(result, 1, "never overlap")
    assert not out.exists() and not list(tmp_path.glob(".x.h5*"))


def test_mismatched_image_sizes(cli, tmp_path, tug):
    other = tmp_path / "big.json"
    other.write_text(json.dumps({"kind": "homography", "matrix": np.eye(3).tolist(), "source_size": [640, 480],
                                 "target_size": [640, 512]}))
    out = tmp_path / "x.h5"
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--transform", other, "--apply")
    assert_clean_error(result, 1, "big.json", "640×480")
    assert not out.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "exactly one of"),
        (["--auto", "--transform", "T"], "exactly one of"),
        (["--transform", "T", "--max-skew", "fast"], "--max-skew"),
        (["--transform", "T", "--crop", "256"], "--crop"),
        (["--transform", "T", "--reverse"], "--reverse"),
        (["--transform", "T", "--labels", "depth"], "--labels"),
    ],
)
def test_usage_errors(cli, tmp_path, tug, args, needle):
    args = [str(tug / "homography.json") if a == "T" else a for a in args]
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", tmp_path / "x.h5", *args)
    assert_clean_error(result, 2, needle)
    assert not (tmp_path / "x.h5").exists()


def test_apply_needs_a_dataset_output(cli, tmp_path, tug):
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", tmp_path / "x.json", "--points", tmp_path / "p.csv")
    assert_clean_error(result, 2, "--points")
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", tmp_path / "x.json", "--auto", "--apply")
    assert_clean_error(result, 2, "OUT")


def test_automatic_registration_on_the_tug_sample(cli, tmp_path, tug):
    """No target, no initial guess: ECC on edge maps of 9 synchronised pairs of 80×60 frames."""
    out = tmp_path / "auto.json"
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--auto")
    assert result.exit_code == 0, result.output
    truth = np.array(json.loads((tug / "homography.json").read_text())["matrix"])
    from thermcli.stages.align import default_initial

    error = corner_error(np.array(json.loads(out.read_text())["matrix"]), truth, (128, 96))
    assert error < 2.0 < corner_error(default_initial((128, 96), (80, 60)), truth, (128, 96))


def test_box_file_and_saved_transform(cli, tmp_path, tug):
    thermal = read_dataset(tug / "thermal.h5")
    rows = ["row,x,y,w,h"] + [f"{i},{b[0]},{b[1]},{b[2]},{b[3]}" for i, b in enumerate(thermal.boxes[:10, 0])]
    (tmp_path / "boxes.csv").write_text("\n".join(rows) + "\n")
    out, saved = tmp_path / "crops.h5", tmp_path / "H.json"
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--points", _tug_points(tmp_path, tug),
                 "--crop", "64x48", "--boxes", tmp_path / "boxes.csv", "--save-transform", saved, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    crops = read_dataset(out)
    assert set(crops.columns["thermal_row"].tolist()) <= set(range(10)) and report["crops"] == len(crops) >= 9
    assert report["pairs_without_person"] == report["pairs"] - len(crops)
    np.testing.assert_allclose(crops.columns["crop_box"][:, 2] / crops.columns["crop_box"][:, 3], 48 / 64)
    assert json.loads(saved.read_text())["method"].startswith("point pairs")


def _tug_points(tmp_path, tug):
    thermal, rgb = read_dataset(tug / "thermal.h5"), read_dataset(tug / "rgb.h5")
    lines = ["rgb_x,rgb_y,thermal_x,thermal_y"]
    for t in range(0, 30, 5):
        r = t
        if (rgb.sequence[r], rgb.columns["frame_index"][r]) != (thermal.sequence[t], thermal.columns["frame_index"][t]):
            continue
        for p, q in zip(rgb.keypoints[r, 0], thermal.keypoints[t, 0]):
            if p[2] > 0 and q[2] > 0:
                lines.append(f"{p[0]},{p[1]},{q[0]},{q[1]}")
    path = tmp_path / "points.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
