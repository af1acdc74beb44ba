"""`thermcli augment` end to end: copies with recorded parameters, keypoints/boxes carried,
the same seed giving the same bytes whatever the batch size, worker count or shard, and exact
replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli.helpers_thr_aug import assert_same_data, nan_frames_dataset, written
from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import read_dataset, write_dataset
from thermcli.ops.augment import augment_sample, params_from_columns


@pytest.fixture
def kp_h5(tmp_path):
    path = tmp_path / "kp.h5"
    ds = nan_frames_dataset(n=9, h=24, w=32)
    ds.rgb = np.random.default_rng(0).integers(0, 256, (9, 48, 64, 3), dtype=np.uint8)
    write_dataset(path, ds)
    return path


ALL_OPS = ["--blur", "0.5", "--lowres", "0.5", "--invert", "0.3", "--fpn", "20", "--crop", "0.8"]


def test_copies_keep_original_and_recorded_parameters(cli, kp_h5, tmp_path):
    out = tmp_path / "aug.h5"
    result = cli("augment", "--copies", "3", "--seed", "5", "--keep-original", *ALL_OPS, kp_h5, out)
    assert result.exit_code == 0, result.stderr
    src, aug = read_dataset(kp_h5), read_dataset(out)
    assert len(aug) == 4 * len(src)
    assert aug.columns["aug_copy"].tolist() == [-1, 0, 1, 2] * len(src)
    assert aug.columns["aug_source_row"].tolist() == np.repeat(np.arange(len(src)), 4).tolist()
    originals = aug.columns["aug_copy"] == -1
    np.testing.assert_array_equal(aug.frames[originals], src.frames)  # NaN included, bit for bit
    np.testing.assert_array_equal(aug.keypoints[originals], src.keypoints)
    np.testing.assert_array_equal(aug.labels, np.repeat(src.labels, 4))
    assert list(aug.subject) == list(np.repeat(src.subject, 4))
    assert aug.rgb.shape == (36, 48, 64, 3)
    # every row is its recorded parameters applied to its source row
    for row in range(len(aug)):
        params = params_from_columns(aug.columns, row)
        s = int(aug.columns["aug_source_row"][row])
        frame, kp, bx, rgb = augment_sample(
            src.frames[s], src.keypoints[s], src.boxes[s], params, src.meta.flip_pairs, unit="celsius", rgb=src.rgb[s]
        )
        np.testing.assert_array_equal(aug.frames[row], frame)
        np.testing.assert_array_equal(aug.keypoints[row], kp)
        np.testing.assert_array_equal(aug.boxes[row], bx)
        np.testing.assert_array_equal(aug.rgb[row], rgb)
    assert aug.columns["aug_flip"].any() and aug.columns["aug_blur"].any() and aug.columns["aug_lowres"].max() > 1
    cfg = aug.meta.attrs["augment"]
    assert cfg["seed"] == 5 and cfg["config"]["noise"] == pytest.approx(0.05) and cfg["noise_mk"] == pytest.approx(50)
    assert cfg["config"]["fpn"] == pytest.approx(0.02)


def test_replay_reproduces_exactly(cli, kp_h5, tmp_path):
    first, again = tmp_path / "a.h5", tmp_path / "r.h5"
    assert cli("augment", "-n", "2", "--seed", "9", "--border", "constant", *ALL_OPS, kp_h5, first).exit_code == 0
    result = cli("augment", "--replay", first, kp_h5, again)
    assert result.exit_code == 0, result.stderr
    assert_same_data(first, again)
    assert read_dataset(again).meta.attrs["augment"]["config"]["border"] == "constant"


@pytest.mark.parametrize("batch_size,workers", [(1, 1), (4, 2), (64, 2)])
def test_same_seed_same_bytes_across_batch_size_and_workers(cli, kp_h5, tmp_path, batch_size, workers):
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    assert cli("augment", "-n", "2", "--seed", "1", *ALL_OPS, "--batch-size", "3", kp_h5, ref).exit_code == 0
    result = cli("augment", "-n", "2", "--seed", "1", *ALL_OPS, "--batch-size", batch_size, "--workers", workers, kp_h5, out)
    assert result.exit_code == 0, result.stderr
    assert_same_data(ref, out)


@given(batch_size=st.integers(1, 10), shards=st.integers(1, 4), seed=st.integers(0, 2**31))
@settings(max_examples=8, deadline=None)
def test_seed_determinism_property_over_batches_and_shards(tmp_path_factory, batch_size, shards, seed):
    """Stage level (no subprocesses): any batch size and any split into shards gives the rows of
    the one-batch run."""
    from thermcli.stages.augment import AugmentSettings, run_augment

    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "src.h5"
    write_dataset(src, make_dataset(n=7, h=12, w=14, keypoints=True))
    settings_ = AugmentSettings(blur=0.5, lowres=0.5, invert=0.5, fpn=10, crop=0.7)
    kwargs = dict(seed=seed, copies=2, keep_original=False, options={})
    run_augment(src, tmp / "ref.h5", settings_, batch_size=64, **kwargs)
    ref = read_dataset(tmp / "ref.h5")
    rows = []
    for k in range(shards):
        if (7 * k) // shards == (7 * (k + 1)) // shards:
            continue
        run_augment(src, tmp / f"s{k}.h5", settings_, batch_size=batch_size, shard=(k, shards), **kwargs)
        rows.append(read_dataset(tmp / f"s{k}.h5"))
    frames = np.concatenate([r.frames for r in rows])
    assert frames.tobytes() == ref.frames.tobytes()
    assert np.concatenate([r.keypoints for r in rows]).tobytes() == ref.keypoints.tobytes()
    for name in ref.columns:
        assert np.concatenate([r.columns[name] for r in rows]).tobytes() == ref.columns[name].tobytes()


@pytest.mark.parametrize("unit,channels", [("intensity", 3), ("intensity", None), ("counts", None), ("kelvin", None)])
def test_every_unit(cli, tmp_path, unit, channels):
    src = tmp_path / f"{unit}.h5"
    write_dataset(src, make_dataset(n=4, h=16, w=18, unit=unit, channels=channels))
    out = tmp_path / "o.h5"
    result = cli("augment", "-n", "2", *ALL_OPS, src, out)
    assert result.exit_code == 0, result.stderr
    aug = read_dataset(out)
    assert aug.meta.unit == unit and len(aug) == 8 and aug.frames.shape[1:] == read_dataset(src).frames.shape[1:]
    config = aug.meta.attrs["augment"]["config"]
    if unit == "intensity":
        assert config["offset"] == 20.0 and config["gain"] == [0.8, 1.2] and config["noise"] == 2.0  # brightness/contrast
    if unit == "kelvin":
        assert config["noise"] == pytest.approx(0.05)


def test_augment_a_threshold_output_keeps_both_records(cli, kp_h5, tmp_path):
    thr, aug = tmp_path / "thr.h5", tmp_path / "aug.h5"
    assert cli("threshold", "--range", "100,200", kp_h5, thr).exit_code == 0
    assert cli("augment", thr, aug).exit_code == 0
    columns = read_dataset(aug).columns
    assert "threshold_level" in columns and "aug_angle" in columns
    prov = read_dataset(aug).meta.provenance
    assert prov["inputs"][0]["provenance"]["command"] == "thermcli threshold"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--flip", "1.5"], "--flip"),
        (["--crop", "0"], "--crop"),
        (["--scale", "1.2:0.8"], "--scale"),
        (["--gain", "x"], "--gain"),
        (["--border", "wrap"], "--border"),
        (["--noise", "-1"], "--noise"),
        (["--copies", "0"], "--copies"),
        (["--lowres-factor", "0.5:2"], "--lowres-factor"),
        (["--shard", "1/0"], "--shard"),
    ],
)
def test_bad_options_exit_2(cli, kp_h5, tmp_path, args, needle):
    before = written(tmp_path)
    assert_clean_error(cli("augment", *args, kp_h5, tmp_path / "o.h5"), 2, needle)
    assert written(tmp_path) == before


def test_bad_replay_files_exit_1(cli, kp_h5, tmp_path):
    plain = tmp_path / "plain.h5"
    write_dataset(plain, make_dataset(n=3))
    big = tmp_path / "big.h5"
    write_dataset(big, make_dataset(n=20))
    rec = tmp_path / "rec.h5"
    assert cli("augment", big, rec).exit_code == 0
    before = written(tmp_path)
    assert_clean_error(cli("augment", "--replay", plain, kp_h5, tmp_path / "o.h5"), 1, str(plain), "aug_")
    assert_clean_error(cli("augment", "--replay", rec, kp_h5, tmp_path / "o.h5"), 1, str(rec), "row 19")
    assert_clean_error(cli("augment", "--replay", tmp_path / "nope.h5", kp_h5, tmp_path / "o.h5"), 1, "nope.h5")
    assert written(tmp_path) == before
