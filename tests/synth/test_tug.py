"""The tug generator: determinism, physics, labels, clocks and the RGB→thermal homography."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import REPO
from thermcli.io import COCO_KEYPOINT_NAMES, read_dataset, validate
from thermcli.synth import tug


@pytest.fixture(scope="module")
def sample():
    return tug.generate(seed=0, scale=1.0)


def _apply_h(h, points):
    mapped = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1) @ np.asarray(h).T
    return mapped[..., :2] / mapped[..., 2:3]


def test_artifacts_validate(sample):
    thermal, rgb = sample["thermal.h5"], sample["rgb.h5"]
    validate(thermal, where="thermal")
    validate(rgb, where="rgb")
    assert thermal.frames.shape[1:] == (60, 80) and thermal.frames.dtype == np.float32
    assert thermal.meta.unit == "celsius" and thermal.meta.modality == "thermal"
    assert rgb.frames.shape[1:] == (96, 128, 3) and rgb.frames.dtype == np.uint8
    assert rgb.meta.unit == "intensity" and rgb.meta.modality == "rgb"
    for ds in (thermal, rgb):
        assert ds.keypoints.shape[1:] == (1, 17, 3)
        assert ds.meta.keypoint_names == COCO_KEYPOINT_NAMES
        assert len(set(ds.subject)) == 4
        assert set(ds.labels.tolist()) == set(range(len(tug.PHASES)))  # every TUG phase occurs
    assert sample["homography.json"]["source"] == "rgb"


def test_deterministic_per_seed():
    a = tug.generate(seed=3, scale=0.25)
    b = tug.generate(seed=3, scale=0.25)
    c = tug.generate(seed=4, scale=0.25)
    for name in ("thermal.h5", "rgb.h5"):
        np.testing.assert_array_equal(a[name].frames, b[name].frames)
        np.testing.assert_array_equal(a[name].keypoints, b[name].keypoints)
        np.testing.assert_array_equal(a[name].timestamp, b[name].timestamp)
    assert a["homography.json"] == b["homography.json"]
    assert not np.array_equal(a["thermal.h5"].keypoints[:5], c["thermal.h5"].keypoints[:5])


def _background_mask(ds, margin=3):
    """Pixels well outside the person's box, per frame."""
    n, h, w = ds.frames.shape[:3]
    mask = np.ones((n, h, w), bool)
    for i, (x, y, bw, bh) in enumerate(ds.boxes[:, 0]):
        if np.isfinite(x):
            x0, y0 = int(max(0, np.floor(x) - margin)), int(max(0, np.floor(y) - margin))
            mask[i, y0 : int(np.ceil(y + bh)) + margin, x0 : int(np.ceil(x + bw)) + margin] = False
    return mask


def test_thermal_physics(sample):
    thermal = sample["thermal.h5"]
    frames = thermal.frames
    background = frames[_background_mask(thermal)]
    assert 20.0 <= np.median(background) <= 24.0
    assert np.percentile(background, 1) > 19.5 and np.percentile(background, 99) < 24.5
    hottest = frames.reshape(len(frames), -1).max(axis=1)
    # skin (face, eyes, hands) is the hottest thing; seen from behind only hair and a neck show
    assert 33.0 <= np.median(hottest) <= 35.5 and np.all((hottest > 29.5) & (hottest < 36.0))
    # the person is warmer than the room, clothing cooler than skin
    for i in range(0, len(frames), 7):
        x, y, w, h = thermal.boxes[i, 0]
        inside = frames[i, int(y) + 1 : int(y + h), int(x) + 1 : int(x + w)]
        assert np.percentile(inside, 90) > 27.0
    # temporal noise: consecutive frames of one sequence differ by noise on the static background
    seq = thermal.sequence
    bg = _background_mask(thermal)
    sigmas = []
    for i in range(len(frames) - 1):
        if seq[i] == seq[i + 1]:
            both = bg[i] & bg[i + 1]
            diff = frames[i + 1][both] - frames[i][both]
            sigmas.append(np.std(diff - np.median(diff)) / np.sqrt(2))
    assert 0.04 <= np.median(sigmas) <= 0.11, np.median(sigmas)
    # fixed-pattern stripes: column offsets that persist across all frames
    residual = np.where(bg, frames - np.median(frames, axis=(1, 2), keepdims=True), np.nan)
    columns = np.nanmean(residual, axis=(0, 1))
    wiggle = columns[1:] - columns[:-1]
    assert np.std(wiggle) > 0.05


def test_keypoints_inside_boxes_and_frames(sample):
    for name in ("thermal.h5", "rgb.h5"):
        ds = sample[name]
        h, w = ds.frames.shape[1:3]
        kp, boxes = ds.keypoints[:, 0], ds.boxes[:, 0]
        labelled = kp[..., 2] > 0
        assert labelled.mean() > 0.8
        x, y = kp[..., 0], kp[..., 1]
        bx, by, bw, bh = (boxes[:, k, None] for k in range(4))
        assert np.all(~labelled | ((x >= bx) & (x <= bx + bw) & (y >= by) & (y <= by + bh)))
        assert np.all(~labelled | ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)))
        assert np.all(kp[~labelled][:, :2] == 0)
        # occlusion happens (three-quarter views) but most labelled keypoints are visible
        assert 0.03 < (kp[..., 2] == 1).sum() / labelled.sum() < 0.5


def _pairs(sample):
    thermal, rgb = sample["thermal.h5"], sample["rgb.h5"]
    key_t = {(s, int(i)): k for k, (s, i) in enumerate(zip(thermal.sequence, thermal.columns["frame_index"]))}
    key_r = {(s, int(i)): k for k, (s, i) in enumerate(zip(rgb.sequence, rgb.columns["frame_index"]))}
    common = sorted(set(key_t) & set(key_r))
    return thermal, rgb, key_t, key_r, common


def test_drops_about_one_percent_and_disjoint(sample):
    thermal, rgb, key_t, key_r, common = _pairs(sample)
    captures = len(set(key_t) | set(key_r))
    dropped_t, dropped_r = captures - len(key_t), captures - len(key_r)
    expected = max(1, round(0.01 * captures))
    assert dropped_t == dropped_r == expected == thermal.meta.attrs["dropped_captures"]
    assert 0.005 <= dropped_t / captures <= 0.02
    assert len(common) == captures - dropped_t - dropped_r  # never the same capture


def test_drop_rate_at_larger_scale():
    big = tug.generate(seed=1, scale=2.0)
    n_t, n_r = len(big["thermal.h5"]), len(big["rgb.h5"])
    captures = n_t + big["thermal.h5"].meta.attrs["dropped_captures"]
    assert 0.005 <= (captures - n_r) / captures <= 0.015


def test_clocks_jittered_with_offset(sample):
    thermal, rgb, key_t, key_r, common = _pairs(sample)
    skew = np.array([rgb.timestamp[key_r[k]] - thermal.timestamp[key_t[k]] for k in common])
    assert abs(np.mean(skew) - tug.RGB_CLOCK_OFFSET_S) < 0.003
    assert 0.001 < np.std(skew) < 0.01
    assert np.all(np.abs(skew) < 0.06)
    assert np.all(np.diff(thermal.timestamp) > 0)


def test_homography_maps_rgb_keypoints_to_thermal(sample):
    thermal, rgb, key_t, key_r, common = _pairs(sample)
    h = np.array(sample["homography.json"]["matrix"])
    checked = 0
    for k in common:
        kr, kt = rgb.keypoints[key_r[k], 0], thermal.keypoints[key_t[k], 0]
        both = (kr[:, 2] > 0) & (kt[:, 2] > 0)
        np.testing.assert_allclose(_apply_h(h, kr[both, :2]), kt[both, :2], atol=1e-3)
        checked += both.sum()
    assert checked > 500
    # the fields of view differ: the RGB image corners map outside the thermal frame
    corners = _apply_h(h, np.array([[0.0, 0.0], [127.0, 95.0]]))
    assert corners[0].min() < 0 and corners[1, 0] > 79


def test_rgb_domain_differs_from_thermal(sample):
    rgb = sample["rgb.h5"].frames
    # textured, coloured background: not flat, not grey
    assert rgb.std(axis=(1, 2)).mean() > 10
    assert np.abs(rgb[..., 0].astype(float) - rgb[..., 2]).mean() > 5


def test_cli_writes_tug_and_info_reads_it(cli, tmp_path):
    out = tmp_path / "tug"
    result = cli("synth", "tug", out, "--scale", "0.25", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"thermal.h5", "rgb.h5", "homography.json", "clicks.csv"}
    doc = json.loads((out / "homography.json").read_text())
    assert doc["provenance"]["command"] == "thermcli synth tug"
    result = cli("info", out / "rgb.h5", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["modality"] == "rgb"


def test_committed_sample_matches_the_generator(sample):
    folder = REPO / "sample_data" / "tug"
    if not folder.is_dir():
        pytest.skip("sample_data/tug is not committed in this checkout")
    small = tug.generate(seed=0, scale=0.25)
    for name in ("thermal.h5", "rgb.h5"):
        committed = read_dataset(folder / name)
        fresh = sample[name]
        assert committed.fields() == fresh.fields() == small[name].fields()
        assert committed.frames.shape == fresh.frames.shape
        assert committed.meta.keypoint_names == fresh.meta.keypoint_names
        np.testing.assert_array_equal(committed.frames, fresh.frames)  # regenerated bit for bit
        np.testing.assert_array_equal(committed.keypoints, fresh.keypoints)
    doc = json.loads((folder / "homography.json").read_text())
    np.testing.assert_allclose(doc["matrix"], sample["homography.json"]["matrix"])
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 4 * 2**20


def test_clicked_points_recover_the_rig_homography(tmp_path):
    """clicks.csv: noisy clicks of true correspondences; a homography fitted to them lands within
    two pixels of the true homography inside the thermal view (80×60)."""
    import csv

    from thermcli.synth import tug

    sample = tug.generate(seed=0, scale=0.25)
    rows = list(csv.DictReader(sample["clicks.csv"].splitlines()))
    assert len(rows) == 8
    true_h = np.array(sample["homography.json"]["matrix"])
    rgb = np.array([[float(r["rgb_x"]), float(r["rgb_y"]), 1.0] for r in rows])
    thermal = np.array([[float(r["thermal_x"]), float(r["thermal_y"])] for r in rows])
    mapped = rgb @ true_h.T
    residual = np.hypot(*(mapped[:, :2] / mapped[:, 2:] - thermal).T)
    assert 0.05 < np.median(residual) < 1.5  # clicks are noisy, but not wild
    est, _ = cv2.findHomography(rgb[:, :2], thermal)
    grid = np.array([[x, y, 1.0] for x in (10, 40, 70) for y in (10, 30, 50)])
    back = grid @ np.linalg.inv(true_h).T  # thermal-view points in RGB pixels
    back /= back[:, 2:]
    a, b = back @ est.T, back @ true_h.T
    assert np.max(np.hypot(*(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).T)) < 2.0  # 8 clicks, 0.3 px noise
