"""The CLI shell: version, help, error mapping, no torch on the start path, `info`."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np

from tests.conftest import assert_clean_error, make_dataset, sha256
from thermcli.io import write_dataset


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("thermcli ")


def test_help_lists_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "info" in result.stdout


def test_unknown_option_is_usage_error(cli, small_h5):
    assert_clean_error(cli("info", small_h5, "--bogus"), 2, "--bogus")


def test_unknown_command_is_usage_error(cli):
    assert_clean_error(cli("frobnicate"), 2, "frobnicate")


def test_info_and_help_never_import_torch(small_h5):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from thermcli.cli.main import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        f"res = r.invoke(app, ['info', {str(small_h5)!r}])\n"
        "assert res.exit_code == 0, res.output\n"
        "heavy = [m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_info_json(cli, small_h5):
    result = cli("info", small_h5, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kind"] == "dataset"
    assert summary["frames"] == 6
    assert summary["unit"] == "celsius"
    assert summary["classes"] == {"INH": int((make_dataset().labels == 0).sum()), "EXH": int((make_dataset().labels == 1).sum())}
    assert summary["subjects"] == {"s0": 2, "s1": 2, "s2": 2}
    lo, hi = summary["value_range"]
    frames = make_dataset().frames
    assert lo == float(frames.min()) and hi == float(frames.max())


def test_info_table_and_lineage(cli, tmp_path, small_h5):
    from thermcli.io import make_provenance, read_dataset

    child = read_dataset(small_h5)
    child.meta = child.meta.copy(provenance=make_provenance("thermcli test", {"x": 1}, inputs=[small_h5], seed=3))
    write_dataset(tmp_path / "child.h5", child)
    result = cli("info", tmp_path / "child.h5")
    assert result.exit_code == 0, result.stderr
    assert "celsius" in result.stdout
    assert "lineage" in result.stdout and "thermcli test" in result.stdout
    assert str(small_h5) in result.stdout.replace("\n", "")


def test_info_png_folder(cli, tmp_path):
    write_dataset(tmp_path / "png", make_dataset(unit="intensity"))
    result = cli("info", tmp_path / "png", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["format"] == "png-folder"


# ---- bad input: one line, right exit code, nothing written, input untouched -----------------

def test_missing_file(cli, tmp_path):
    assert_clean_error(cli("info", tmp_path / "nope.h5"), 1, "nope.h5", "no such file")


def test_directory_with_no_images(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_clean_error(cli("info", tmp_path / "empty"), 1, "empty", "no images")


def test_truncated_file(cli, tmp_path, small_h5):
    cut = tmp_path / "cut.h5"
    cut.write_bytes(small_h5.read_bytes()[:2000])
    assert_clean_error(cli("info", cut), 1, "cut.h5")


def test_non_hdf5(cli, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x00" * 100)
    assert_clean_error(cli("info", bad), 1, "bad.h5", "not an HDF5 file")


def test_unknown_schema_version(cli, small_h5):
    with h5py.File(small_h5, "a") as fh:
        fh.attrs["schema_version"] = 7
    before = sha256(small_h5)
    assert_clean_error(cli("info", small_h5), 1, "schema version 7")
    assert sha256(small_h5) == before


def test_mismatched_lengths(cli, small_h5):
    with h5py.File(small_h5, "a") as fh:
        del fh["labels"]
        fh["labels"] = np.zeros(2, np.int64)
    assert_clean_error(cli("info", small_h5), 1, "labels has 2 rows")


def test_nan_only_frames(cli, tmp_path):
    path = tmp_path / "nan.h5"
    write_dataset(path, make_dataset(n=3))
    with h5py.File(path, "a") as fh:
        fh["frames"][1] = np.nan
    assert_clean_error(cli("info", path), 1, "frame 1 is all NaN")


def test_verbose_shows_traceback(cli, tmp_path):
    result = cli("--verbose", "info", tmp_path / "nope.h5")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
