"""The contract rejects bad data by name; writes are atomic; inputs are never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from tests.conftest import make_dataset, sha256
from thermcli.errors import DataError, OutputExistsError
from thermcli.io import check_output, create_writer, open_dataset, read_dataset, write_dataset


def test_mismatched_lengths_rejected_on_write(tmp_path):
    ds = make_dataset(n=5)
    ds.labels = ds.labels[:4]
    with pytest.raises(DataError, match="labels has 4 rows but there are 5 frames"):
        write_dataset(tmp_path / "x.h5", ds)
    assert not (tmp_path / "x.h5").exists()


def test_mismatched_lengths_rejected_on_read(small_h5):
    with h5py.File(small_h5, "a") as fh:
        del fh["labels"]
        fh["labels"] = np.zeros(3, np.int64)
    with pytest.raises(DataError, match="labels has 3 rows but there are 6 frames"):
        open_dataset(small_h5)


def test_nan_only_frame_rejected_with_its_index(tmp_path):
    ds = make_dataset(n=5)
    ds.frames[3] = np.nan
    with pytest.raises(DataError, match="frame 3 is all NaN"):
        write_dataset(tmp_path / "x.h5", ds)


def test_partial_nan_is_valid(tmp_path):
    ds = make_dataset(n=3)
    ds.frames[1, :2] = np.nan
    write_dataset(tmp_path / "x.h5", ds)
    assert np.isnan(read_dataset(tmp_path / "x.h5").frames[1, :2]).all()


def test_inf_rejected(tmp_path):
    ds = make_dataset(n=3)
    ds.frames[2, 0, 0] = np.inf
    with pytest.raises(DataError, match="frame 2 holds infinite values"):
        write_dataset(tmp_path / "x.h5", ds)


def test_wrong_dtype_for_unit(tmp_path):
    ds = make_dataset(n=3)
    ds.frames = ds.frames.astype(np.float64)
    with pytest.raises(DataError, match="must be float32"):
        write_dataset(tmp_path / "x.h5", ds)


def test_unknown_schema_version(small_h5):
    with h5py.File(small_h5, "a") as fh:
        fh.attrs["schema_version"] = 99
    with pytest.raises(DataError, match="schema version 99 is not known"):
        open_dataset(small_h5)


def test_foreign_hdf5(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as fh:
        fh["data"] = np.zeros(3)
    with pytest.raises(DataError, match="not a thermcli dataset"):
        open_dataset(path)


def test_truncated_hdf5(small_h5, tmp_path):
    cut = tmp_path / "cut.h5"
    cut.write_bytes(small_h5.read_bytes()[:1500])
    with pytest.raises(DataError) as excinfo:
        read_dataset(cut)
    assert "cut.h5" in excinfo.value.one_line()


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("hello")
    with pytest.raises(DataError, match="not an HDF5 file"):
        open_dataset(path)


def test_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no images"):
        open_dataset(tmp_path / "empty")


def test_plain_image_folder(tmp_path):
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((4, 5), i * 10, np.uint8))
    ds = read_dataset(folder)
    assert ds.unit == "intensity" and ds.frames.shape == (3, 4, 5)
    assert ds.frames[2, 0, 0] == 20


def test_existing_output_refused_without_force(small_h5):
    with pytest.raises(OutputExistsError, match="pass --force"):
        check_output(small_h5, force=False)
    before = sha256(small_h5)
    with pytest.raises(OutputExistsError):
        write_dataset(small_h5, make_dataset(n=2))
    assert sha256(small_h5) == before
    write_dataset(small_h5, make_dataset(n=2), force=True)
    assert len(read_dataset(small_h5)) == 2


def test_unwritable_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(DataError, match="not writable"):
            check_output(locked / "out.h5", force=False)
    finally:
        locked.chmod(0o700)


def test_output_folder_that_refuses_writes_even_for_root():
    # sysfs refuses new files for every user, root included: the error names the output
    with pytest.raises(DataError) as excinfo:
        write_dataset("/sys/thermcli-test.h5", make_dataset(n=2))
    assert "/sys/thermcli-test.h5" in excinfo.value.one_line()


def test_missing_output_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        check_output(tmp_path / "nope" / "out.h5", force=False)


def test_failed_write_leaves_nothing(tmp_path):
    good = make_dataset(n=4)
    with pytest.raises(RuntimeError):
        with create_writer(tmp_path / "x.h5", good.meta) as writer:
            writer.append(good)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".h5", ""])
def test_sigkill_mid_write_leaves_no_output_and_input_untouched(tmp_path, small_h5, suffix):
    out = tmp_path / f"killed{suffix}"
    before = sha256(small_h5)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from thermcli.io import create_writer, open_dataset
        with open_dataset({str(small_h5)!r}) as reader:
            batch = reader.read_all()
            with create_writer({str(out)!r}, reader.meta) as writer:
                for i in range(10_000):
                    writer.append(batch)
                    if i == 2:
                        print("writing", flush=True)
                    time.sleep(0.01)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    assert sha256(small_h5) == before
    # the next write sweeps the dead process's temporary away
    write_dataset(out, make_dataset(n=2))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def _raw_h5(path, frames_shape, dtype="float32", *, fill=None):
    import json

    with h5py.File(path, "w") as fh:
        fh.attrs["schema"] = "thermcli.dataset"
        fh.attrs["schema_version"] = 1
        fh.attrs["meta"] = json.dumps({"unit": "celsius", "modality": "thermal"})
        fh.attrs["provenance"] = "{}"
        ds = fh.create_dataset("frames", shape=frames_shape, dtype=dtype, chunks=(1, *frames_shape[1:]) if frames_shape[0] else None)
        if fill is not None:
            ds[...] = fill


def test_zero_frames_rejected(tmp_path):
    _raw_h5(tmp_path / "empty.h5", (0, 4, 4))
    with pytest.raises(DataError, match="has no frames"):
        open_dataset(tmp_path / "empty.h5")


def test_absurd_declared_shape_rejected(tmp_path):
    _raw_h5(tmp_path / "absurd.h5", (10**9, 60, 80))
    with pytest.raises(DataError, match="absurd declared shape"):
        open_dataset(tmp_path / "absurd.h5")


def test_wrong_dtype_on_read(tmp_path):
    _raw_h5(tmp_path / "f64.h5", (2, 4, 4), dtype="float64", fill=25.0)
    with pytest.raises(DataError, match="must be float32"):
        read_dataset(tmp_path / "f64.h5")
