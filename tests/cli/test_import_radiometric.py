"""Real radiometric camera files: flyr's temperatures reproduced exactly, edge cases as clean
per-file errors, --skip-bad reporting what it left out."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.io import read_dataset

pytestmark = pytest.mark.shared_data

GOOD_FLIR = ["FLIR.jpg", "FLIR_AX8.jpg", "FLIR_E40.jpg", "FLIR_T640.jpg"]
DJI = ["DJI_H20T.jpg", "DJI_XT2.jpg", "DJI_XTR.jpg", "DJI_XTS.jpg"]


@pytest.fixture
def parser_dir(shared_data):
    return shared_data / "radiometric" / "thermal_parser"


@pytest.mark.parametrize("name", GOOD_FLIR)
def test_flir_matches_flyr_exactly(cli, tmp_path, parser_dir, name):
    import flyr

    out = tmp_path / "t.h5"
    result = cli("import", parser_dir / name, out)
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    want = np.asarray(flyr.unpack(str(parser_dir / name)).celsius, dtype=np.float32)
    assert ds.meta.unit == "celsius" and ds.frames.dtype == np.float32
    np.testing.assert_array_equal(ds.frames[0], want)
    assert 0 < float(want.min()) and float(want.max()) < 120  # plausible room/body/hot-object scenes


def test_flir_emissivity_and_ambient_overrides_match_flyr(cli, tmp_path, parser_dir):
    import flyr

    out = tmp_path / "t.h5"
    assert cli("import", parser_dir / "FLIR_E40.jpg", out, "--emissivity", "0.98", "--ambient", "15").exit_code == 0
    want = flyr.unpack(str(parser_dir / "FLIR_E40.jpg")).adjust_metadata(
        emissivity=0.98, reflected_apparent_temperature=288.15, atmospheric_temperature=288.15
    ).celsius
    np.testing.assert_array_equal(read_dataset(out).frames[0], np.asarray(want, np.float32))
    default = np.asarray(flyr.unpack(str(parser_dir / "FLIR_E40.jpg")).celsius, np.float32)
    assert not np.array_equal(read_dataset(out).frames[0], default)


def test_per_file_overrides_table(cli, tmp_path, parser_dir):
    import flyr

    table = tmp_path / "overrides.csv"
    table.write_text("file,emissivity\nFLIR_AX8.jpg,0.9\n")
    out = tmp_path / "t.h5"
    assert cli("import", parser_dir / "FLIR_AX8.jpg", out, "--overrides", table).exit_code == 0
    want = flyr.unpack(str(parser_dir / "FLIR_AX8.jpg")).adjust_metadata(emissivity=0.9).celsius
    np.testing.assert_array_equal(read_dataset(out).frames[0], np.asarray(want, np.float32))


def test_infiray_irg_matches_reader(cli, tmp_path, shared_data):
    import infiray_irg

    path = shared_data / "radiometric" / "infiray_irg" / "example.irg"
    out = tmp_path / "i.h5"
    assert cli("import", path, out).exit_code == 0
    _, fine, _ = infiray_irg.load(path.read_bytes())
    frames = read_dataset(out).frames
    np.testing.assert_array_equal(frames[0], np.asarray(fine, np.float32))
    assert frames.shape == (1, 256, 192)
    assert 25 < float(frames.min()) < float(frames.max()) < 50


def test_infiray_refuses_overrides(cli, tmp_path, shared_data):
    path = shared_data / "radiometric" / "infiray_irg" / "example.irg"
    assert_clean_error(cli("import", path, tmp_path / "i.h5", "--emissivity", "0.9"), 1, "example.irg", "overrides")


def test_flir_b60_is_implausible(cli, tmp_path, parser_dir):
    result = cli("import", parser_dir / "FLIR_B60.jpg", tmp_path / "b.h5")
    assert_clean_error(result, 1, "FLIR_B60.jpg", "implausible")
    assert not (tmp_path / "b.h5").exists()


@pytest.mark.parametrize("name", DJI + ["M3T/DJI_0001_R.JPG"])
def test_dji_files_are_clean_per_file_errors(cli, tmp_path, parser_dir, name):
    result = cli("import", parser_dir / name, tmp_path / "d.h5")
    assert_clean_error(result, 1, name.split("/")[-1])
    assert not (tmp_path / "d.h5").exists()


def test_folder_fails_on_first_bad_file_and_writes_nothing(cli, tmp_path, parser_dir):
    result = cli("import", parser_dir, tmp_path / "all.h5")
    assert_clean_error(result, 1, "DJI_H20T.jpg")
    assert not (tmp_path / "all.h5").exists()


def test_folder_with_skip_bad_and_pad(cli, tmp_path, parser_dir):
    import flyr

    out = tmp_path / "all.h5"
    result = cli("import", parser_dir, out, "--skip-bad", "--pad")
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert len(ds) == len(GOOD_FLIR)
    skipped = {r["path"].split("/")[-1] for r in ds.meta.attrs["skipped"]}
    assert skipped == set(DJI) | {"FLIR_B60.jpg"}
    for name in skipped:
        assert name in result.stderr
    for i, name in enumerate(GOOD_FLIR):
        h, w = ds.columns["image_size"][i]
        want = np.asarray(flyr.unpack(str(parser_dir / name)).celsius, np.float32)
        np.testing.assert_array_equal(ds.frames[i, :h, :w], want)
        assert np.isnan(ds.frames[i, h:, :]).all() and np.isnan(ds.frames[i, :, w:]).all()
