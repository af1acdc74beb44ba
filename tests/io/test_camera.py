"""Radiometric readers: file-type detection and the plausibility check (real files are in
tests/cli/test_import_radiometric.py)."""

from __future__ import annotations

import numpy as np
import pytest

from thermcli.errors import DataError
from thermcli.io.camera import check_plausible, radiometric_kind, read_radiometric


def test_plausible_allows_a_few_outliers_not_many():
    frame = np.full((10, 10), 25.0, np.float32)
    frame[0, 0] = -60  # 1 % clipped pixels (a clear sky corner) is fine
    check_plausible(frame, path="x")
    frame[0, :5] = -68
    with pytest.raises(DataError, match="implausible"):
        check_plausible(frame, path="x")
    with pytest.raises(DataError, match="no finite"):
        check_plausible(np.full((2, 2), np.nan, np.float32), path="x")


def test_kind_detection(tmp_path):
    import cv2

    plain = tmp_path / "plain.jpg"
    cv2.imwrite(str(plain), np.zeros((4, 4), np.uint8))
    assert radiometric_kind(plain) is None
    assert radiometric_kind(tmp_path / "x.irg") == "infiray"
    flir = tmp_path / "flir.jpg"
    flir.write_bytes(b"\xff\xd8\xff\xe1\x00\x10FLIR\x00\x01\x00\x00" + b"\x00" * 32)
    assert radiometric_kind(flir) == "flir"
    with pytest.raises(DataError) as info:
        read_radiometric(flir)
    assert info.value.path.endswith("flir.jpg")
    with pytest.raises(DataError, match="not a radiometric file"):
        read_radiometric(plain)


def test_truncated_irg_is_clean_error(tmp_path):
    path = tmp_path / "bad.irg"
    path.write_bytes(b"\xca\xac\x80\x00" + b"\x00" * 20)
    with pytest.raises(DataError, match="truncated") as info:
        read_radiometric(path)
    assert info.value.path.endswith("bad.irg")
