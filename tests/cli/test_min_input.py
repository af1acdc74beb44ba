"""Frames smaller than a model accepts: one line naming the file and the minimum size."""

from __future__ import annotations

from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import write_dataset


def test_frames_smaller_than_the_model_accepts_name_the_minimum(cli, tmp_path):
    write_dataset(tmp_path / "tiny.h5", make_dataset(n=8, h=1, w=1))
    result = cli("train", tmp_path / "tiny.h5", "--task", "classify", "--arch", "small_cnn", "--epochs", "1",
                 "--out", tmp_path / "run")
    assert_clean_error(result, 1, "tiny.h5", "1×1 px", "at least 4×4 px", "--input-size")
    assert not (tmp_path / "run").exists()


def test_check_input_fits_finds_the_smallest_square():
    import pytest
    import torch

    from thermcli.errors import DataError
    from thermcli.models.classifier import check_input_fits

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.MaxPool2d(2), torch.nn.Conv2d(2, 2, 3))
    check_input_fits(model, (8, 8), where="x.h5", arch="toy")  # 8 → 6 → 3 → 1: fits
    with pytest.raises(DataError, match=r"at least 8×8 px"):  # 7 → 5 → 2 → conv 3 fails
        check_input_fits(model, (7, 7), where="x.h5", arch="toy")
