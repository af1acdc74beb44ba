"""`thermcli threshold` end to end: copies per level with every field replicated, window and
method recorded, workers and shards byte-identical, bad input refused cleanly."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from thermcli.errors import DataError

from tests.cli.helpers_thr_aug import assert_same_data, make_empty, nan_frames_dataset, written
from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import open_dataset, read_dataset, write_dataset
from thermcli.ops.threshold import window_to_u8


@pytest.fixture
def kp_h5(tmp_path):
    path = tmp_path / "kp.h5"
    write_dataset(path, nan_frames_dataset())
    return path


def test_range_gives_one_copy_per_level_with_fields_replicated(cli, kp_h5, tmp_path):
    out = tmp_path / "thr.h5"
    result = cli("threshold", "--range", "50:300:100", kp_h5, out)
    assert result.exit_code == 0, result.stderr
    src, thr = read_dataset(kp_h5), read_dataset(out)
    assert len(thr) == 3 * len(src)
    assert thr.columns["threshold_level"].tolist() == [50.0, 150.0, 250.0] * len(src)
    assert thr.columns["threshold_source_row"].tolist() == np.repeat(np.arange(len(src)), 3).tolist()
    for name in ("labels", "keypoints", "boxes", "timestamp"):
        np.testing.assert_array_equal(getattr(thr, name), np.repeat(getattr(src, name), 3, axis=0))
    assert list(thr.subject) == list(np.repeat(src.subject, 3))
    attrs = thr.meta.attrs["threshold"]
    assert attrs["method"] == "binary" and attrs["window"] == "auto" and attrs["levels"] == [50.0, 150.0, 250.0]
    assert thr.meta.unit == "celsius" and np.isfinite(thr.frames).all()  # masked: °C kept, NaN filled
    # each copy: the frame where the windowed frame exceeds the level, the window's low end elsewhere
    for row in range(len(thr)):
        frame = src.frames[row // 3]
        lo, hi = thr.columns["threshold_window_lo"][row], thr.columns["threshold_window_hi"][row]
        finite = frame[np.isfinite(frame)]
        np.testing.assert_allclose([lo, hi], np.percentile(finite.astype(np.float64), (1, 99)), rtol=1e-6)
        u8 = window_to_u8(frame, float(lo), float(hi))
        on = (cv2.threshold(u8, thr.columns["threshold_level"][row], 255, cv2.THRESH_BINARY)[1] == 255) & np.isfinite(frame)
        np.testing.assert_array_equal(thr.frames[row][on], frame[on])
        assert np.all(thr.frames[row][~on] == lo)
    assert thr.meta.provenance["command"] == "thermcli threshold"
    assert thr.meta.provenance["options"]["levels"] == "50:300:100"


def test_keep_original_puts_each_frame_before_its_copies(cli, kp_h5, tmp_path):
    plain, kept = tmp_path / "thr.h5", tmp_path / "kept.h5"
    assert cli("threshold", "--range", "50,150", kp_h5, plain).exit_code == 0
    result = cli("threshold", "--range", "50,150", "--keep-original", "--batch-size", "3", kp_h5, kept)
    assert result.exit_code == 0, result.stderr
    src, thr, both = read_dataset(kp_h5), read_dataset(plain), read_dataset(kept)
    assert len(both) == 3 * len(src)
    originals = np.arange(0, len(both), 3)
    copies = np.setdiff1d(np.arange(len(both)), originals)
    np.testing.assert_array_equal(both.frames[originals], src.frames)  # the frame itself, NaN included
    np.testing.assert_array_equal(both.frames[copies], thr.frames)  # the copies as without the option
    assert np.isnan(both.columns["threshold_level"][originals]).all()
    assert both.columns["threshold_level"][copies].tolist() == thr.columns["threshold_level"].tolist()
    assert both.columns["threshold_source_row"].tolist() == np.repeat(np.arange(len(src)), 3).tolist()
    np.testing.assert_array_equal(both.labels, np.repeat(src.labels, 3, axis=0))
    assert both.meta.attrs["threshold"]["keep_original"] is True


def test_comma_levels_explicit_window_and_emit_mask(cli, kp_h5, tmp_path):
    out = tmp_path / "mask.h5"
    result = cli("threshold", "--range", "60,200", "--window", "20:40", "--emit", "mask", "-m", "otsu", kp_h5, out)
    assert result.exit_code == 0, result.stderr
    thr = read_dataset(out)
    assert thr.meta.unit == "intensity" and thr.frames.dtype == np.uint8 and len(thr) == 10
    assert thr.meta.attrs["threshold"]["window"] == [20.0, 40.0]
    assert set(np.unique(thr.frames)) <= {0, 255}
    assert not thr.frames[:, :3, :4].any()  # NaN pixels masked


@pytest.mark.parametrize("method,levels", [("canny", "80"), ("multi-otsu", "2:3:1"), ("adaptive-mean", "0,60"), ("adaptive-gaussian", "30")])
def test_every_method_runs_on_celsius_with_nan(cli, kp_h5, tmp_path, method, levels):
    out = tmp_path / "o.h5"
    result = cli("threshold", "-m", method, "--range", levels, "--emit", "stack", kp_h5, out)
    assert result.exit_code == 0, result.stderr
    thr = read_dataset(out)
    assert thr.frames.shape[1:] == (20, 24, 2)


def test_temperature_band_and_levels(cli, kp_h5, tmp_path):
    result = cli("threshold", "-m", "temperature", "--band", "30:37", "--emit", "mask", kp_h5, tmp_path / "band.h5")
    assert result.exit_code == 0, result.stderr
    src, band = read_dataset(kp_h5), read_dataset(tmp_path / "band.h5")
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(band.frames == 255, (src.frames >= 30) & (src.frames <= 37))
    result = cli("threshold", "-m", "temperature", "--range", "25:35:5", kp_h5, tmp_path / "lv.h5")
    assert result.exit_code == 0, result.stderr
    assert read_dataset(tmp_path / "lv.h5").columns["threshold_level"][:3].tolist() == [25.0, 30.0, 35.0]


def test_intensity_colour_frames_and_png_output(cli, tmp_path):
    src = tmp_path / "rgb.h5"
    write_dataset(src, make_dataset(n=4, h=16, w=18, unit="intensity", channels=3))
    out = tmp_path / "thr_png"
    result = cli("threshold", "--range", "100", src, out)
    assert result.exit_code == 0, result.stderr
    thr = read_dataset(out)
    assert thr.frames.shape == (4, 16, 18, 3) and thr.frames.dtype == np.uint8
    frames = read_dataset(src).frames
    grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(thr.frames[0], np.where((grey > 100)[..., None], frames[0], 0))


def test_counts_frames(cli, tmp_path):
    src = tmp_path / "counts.h5"
    write_dataset(src, make_dataset(n=3, unit="counts"))
    result = cli("threshold", "--range", "128", "--window", "0:16383", src, tmp_path / "c.h5")
    assert result.exit_code == 0, result.stderr
    assert read_dataset(tmp_path / "c.h5").frames.dtype == np.uint16


def test_workers_and_shards_are_byte_identical(cli, tmp_path):
    src = tmp_path / "big.h5"
    write_dataset(src, make_dataset(n=23, h=16, w=20, keypoints=True))
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    assert cli("threshold", "-m", "multi-otsu", "--batch-size", "5", src, one).exit_code == 0
    result = cli("threshold", "-m", "multi-otsu", "--batch-size", "5", "--workers", "2", src, two)
    assert result.exit_code == 0, result.stderr
    assert_same_data(one, two)
    parts = []
    for k in (2, 0, 1):
        part = tmp_path / f"part{k}.h5"
        result = cli("threshold", "-m", "multi-otsu", "--shard", f"{k}/3", src, part)
        assert result.exit_code == 0, result.stderr
        parts.append(part)
    merged = tmp_path / "merged.h5"
    result = cli("merge", *parts, merged)
    assert result.exit_code == 0, result.stderr
    assert_same_data(one, merged)
    prov = read_dataset(merged).meta.provenance
    assert prov["command"] == "thermcli merge" and len(prov["inputs"]) == 3
    assert [r["provenance"]["options"]["shard"] for r in prov["inputs"]] == ["0/3", "1/3", "2/3"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--range", "300:50:100"], "--range"),
        (["--range", "50:300:0"], "--range"),
        (["--range", "a:b"], "--range"),
        (["--range", "400"], "--range"),
        (["--window", "40:20"], "--window"),
        (["--window", "30:30"], "--window"),
        (["-m", "multi-otsu", "--range", "2.5"], "--range"),
        (["-m", "nope"], "--method"),
        (["--emit", "nope"], "--emit"),
        (["-m", "adaptive-mean", "--block-size", "4"], "--block-size"),
        (["--shard", "3/3"], "--shard"),
        (["-m", "temperature"], "--range"),
        (["--band", "30:37"], "--band"),
        (["--keep-original", "--emit", "mask"], "--keep-original"),
    ],
)
def test_bad_options_exit_2_naming_the_option(cli, kp_h5, tmp_path, args, needle):
    before = written(tmp_path)
    assert_clean_error(cli("threshold", *args, kp_h5, tmp_path / "out.h5"), 2, needle)
    assert written(tmp_path) == before


def test_temperature_on_non_radiometric_is_a_usage_error(cli, tmp_path):
    src = tmp_path / "u8.h5"
    write_dataset(src, make_dataset(unit="intensity"))
    before = written(tmp_path)
    assert_clean_error(cli("threshold", "-m", "temperature", "--band", "30:37", src, tmp_path / "o.h5"), 2, "--method")
    assert written(tmp_path) == before


def test_empty_and_unreadable_inputs_exit_1_naming_the_file(cli, kp_h5, tmp_path):
    empty = make_empty(tmp_path / "empty.h5", kp_h5)
    with pytest.raises(DataError, match="has no frames"):
        open_dataset(empty)

    broken = tmp_path / "broken.h5"
    broken.write_text("not hdf5")
    before = written(tmp_path)
    for bad in (empty, broken, tmp_path / "missing.h5"):
        assert_clean_error(cli("threshold", bad, tmp_path / "out.h5"), 1, str(bad))
        assert_clean_error(cli("augment", bad, tmp_path / "out.h5"), 1, str(bad))
    assert written(tmp_path) == before


def test_existing_output_needs_force(cli, kp_h5, tmp_path):
    out = tmp_path / "o.h5"
    assert cli("threshold", kp_h5, out).exit_code == 0
    assert_clean_error(cli("threshold", kp_h5, out), 2, "--force")
    assert cli("threshold", kp_h5, out, "--force").exit_code == 0


def test_threshold_and_augment_never_import_torch(kp_h5, tmp_path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from thermcli.cli.main import app\n"
        "r = CliRunner()\n"
        f"a = r.invoke(app, ['threshold', {str(kp_h5)!r}, {str(tmp_path / 't.h5')!r}])\n"
        f"b = r.invoke(app, ['augment', {str(kp_h5)!r}, {str(tmp_path / 'a.h5')!r}])\n"
        f"c = r.invoke(app, ['merge', {str(tmp_path / 't.h5')!r}, {str(tmp_path / 'a.h5')!r}, {str(tmp_path / 'm.h5')!r}])\n"
        "assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)\n"
        "assert c.exit_code == 1, c.output\n"
        "print(','.join(m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_documents_levels_and_example(cli):
    result = cli("threshold", "--help")
    assert result.exit_code == 0
    assert "Example: thermcli threshold" in result.stdout and "--emit" in result.stdout


@pytest.mark.parametrize("spill_min_bytes", [0, 1 << 40])
def test_worker_results_through_ram_files_or_the_pipe_are_identical(cli, tmp_path, monkeypatch, spill_min_bytes):
    """Worker output blocks reach the parent through /dev/shm files (large blocks) or pickled
    (small ones, or where /dev/shm is missing): the same bytes either way, no file left behind."""
    import glob

    from thermcli.stages import blocks

    monkeypatch.setattr(blocks, "SPILL_MIN_BYTES", spill_min_bytes)
    src = tmp_path / "src.h5"
    write_dataset(src, make_dataset(n=12, h=16, w=20))
    one, two = tmp_path / "one", tmp_path / "two"  # PNG folders: blocks come back to the parent
    assert cli("threshold", "--batch-size", "4", src, one).exit_code == 0
    assert cli("threshold", "--batch-size", "4", "--workers", "2", src, two).exit_code == 0
    assert_same_data(one, two)
    assert glob.glob(f"/dev/shm/thermcli-blocks-{os.getpid()}-*") == []


POOL_SPY = """
import sys
from pathlib import Path
import thermcli.stages.blocks as blocks
new_pool, marker = blocks._new_pool, Path(sys.argv[1])
def spy(*args):
    marker.write_text(repr(args))
    return new_pool(*args)
blocks._new_pool = spy
from thermcli.cli.main import main
sys.argv = ["thermcli", *sys.argv[2:]]
main()
"""


def test_workers_start_only_after_the_command_checks(tmp_path):
    """The console script used to start `--workers N`'s processes from the raw command line,
    before the command's checks; a command refused on bad input then sometimes hung at exit
    (issue #23). Now a refused command starts no worker; a good one starts its pool."""
    bad, good = tmp_path / "bad.h5", tmp_path / "good.h5"
    write_dataset(good, make_dataset(n=13, h=16, w=20))
    write_dataset(bad, make_dataset(n=13, h=16, w=20))
    import h5py

    with h5py.File(bad, "a") as fh:
        fh["timestamp"][5] = np.nan
    runs = {
        "bad-input": (["threshold", str(bad), str(tmp_path / "o1.h5"), "--workers", "2"], 1),
        "bad-usage": (["augment", str(good), str(tmp_path / "o2.h5"), "--rotate", "inf", "--workers", "2"], 2),
        "good": (["threshold", str(good), str(tmp_path / "o3.h5"), "--workers", "2", "--batch-size", "4"], 0),
    }
    for name, (argv, code) in runs.items():
        marker = tmp_path / f"pool-{name}"
        done = subprocess.run([sys.executable, "-c", POOL_SPY, str(marker), *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (name, done.stderr)
        assert marker.exists() == (code == 0), (name, "pool started" if marker.exists() else "no pool")


def test_usage_error_with_workers_exits_quietly(tmp_path):
    """A usage error of a `--workers 2` command: one line, exit 2, no output,
    and no noise from the pool's shutdown at interpreter exit."""
    src = tmp_path / "src.h5"
    write_dataset(src, make_dataset(n=4))
    out = tmp_path / "out.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "thermcli", "threshold", "--range", "300:50:100", "--workers", "2", str(src), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["thermcli threshold: error: Invalid value for --range: '300:50:100': STOP must be ≥ START"]
    assert not out.exists()
