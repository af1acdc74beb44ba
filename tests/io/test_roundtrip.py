"""Round trip: any valid dataset written to HDF5 and to a PNG folder reads back identical."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermcli.io import Dataset, Meta, read_dataset, write_dataset
from thermcli.io.pngdir import decode_temperature, encode_temperature

UNITS = ["celsius", "kelvin", "counts", "intensity"]


@st.composite
def datasets(draw):
    """Valid datasets over shapes, dtypes, units and optional fields.

    Temperatures are drawn on the 16-bit PNG encoding's 0.01 K grid, the documented domain in
    which PNG folders are exact (HDF5 is exact for every float32).
    """
    unit = draw(st.sampled_from(UNITS))
    n = draw(st.integers(1, 5))
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9))
    channels = draw(st.sampled_from([None, 1, 2, 3]))
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if unit in ("celsius", "kelvin"):
        codes = rng.integers(1, 65536, shape)
        offset = 273.15 if unit == "celsius" else 0.0
        frames = (codes / 100.0 - offset).astype(np.float32)
        if draw(st.booleans()) and frames[0].size > 1:
            frames.reshape(n, -1)[:, 0] = np.nan  # masked pixels (never a whole frame)
    elif unit == "counts":
        frames = rng.integers(0, 65536, shape, dtype=np.uint16)
    else:
        frames = rng.integers(0, 256, shape, dtype=np.uint8)
    meta = Meta(unit=unit, modality=draw(st.sampled_from(["thermal", "rgb"])), attrs={"note": "x"})
    kwargs = {}
    if draw(st.booleans()):
        meta.class_names = ["a", "b", "c"]
        kwargs["labels"] = rng.integers(-1, 3, n).astype(np.int64)
    if draw(st.booleans()):
        k = draw(st.integers(1, 4))
        p = draw(st.integers(1, 3))
        meta.keypoint_names = [f"k{i}" for i in range(k)]
        meta.sigmas = [0.05] * k
        kp = rng.random((n, p, k, 3)).astype(np.float32) * 10
        kp[..., 2] = rng.integers(0, 3, (n, p, k))
        kwargs["keypoints"] = kp
        boxes = rng.random((n, p, 4)).astype(np.float32) * 10
        boxes[:, -1] = np.nan if p > 1 else boxes[:, -1]
        kwargs["boxes"] = boxes
        kwargs["scores"] = rng.random((n, p)).astype(np.float32)
    if draw(st.booleans()):
        kwargs["rgb"] = rng.integers(0, 256, (n, 4, 5, 3), dtype=np.uint8)
    if draw(st.booleans()):
        kwargs["subject"] = np.array([f"subj-{i % 2}" for i in range(n)], dtype=object)
        kwargs["sequence"] = np.array([f"séq{i}" for i in range(n)], dtype=object)
    if draw(st.booleans()):
        kwargs["timestamp"] = np.cumsum(rng.random(n))
    if draw(st.booleans()):
        kwargs["columns"] = {"level": rng.integers(0, 255, n), "signal": rng.random((n, 2)).astype(np.float32)}
    return Dataset(frames=frames, meta=meta, **kwargs)


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.meta.to_json() == b.meta.to_json()
    assert a.frames.shape == b.frames.shape and a.frames.dtype == b.frames.dtype
    np.testing.assert_array_equal(a.frames, b.frames)  # NaN == NaN here
    assert a.fields() == b.fields()
    for name in a.fields():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y)
    assert sorted(a.columns) == sorted(b.columns)
    for name in a.columns:
        assert a.columns[name].dtype == b.columns[name].dtype
        np.testing.assert_array_equal(a.columns[name], b.columns[name])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_roundtrip_hdf5_and_png(ds, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rt")
    write_dataset(tmp / "d.h5", ds)
    write_dataset(tmp / "d_png", ds)
    assert_same(ds, read_dataset(tmp / "d.h5"))
    assert_same(ds, read_dataset(tmp / "d_png"))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-270, 380, allow_nan=False, width=32), min_size=1, max_size=20))
def test_png_temperature_encoding_error_is_half_a_centikelvin(values):
    celsius = np.array(values, dtype=np.float32)
    back = decode_temperature(encode_temperature(celsius, "celsius"), "celsius")
    assert np.max(np.abs(back.astype(np.float64) - celsius)) <= 0.005 + 1e-4


def test_hdf5_is_exact_for_any_float32(tmp_path):
    from tests.conftest import make_dataset

    ds = make_dataset(n=4)
    ds.frames[0, 0, 0] = np.float32(33.123456)
    write_dataset(tmp_path / "x.h5", ds)
    np.testing.assert_array_equal(read_dataset(tmp_path / "x.h5").frames, ds.frames)


def test_png_rejects_out_of_range_temperature(tmp_path):
    from thermcli.errors import DataError
    from tests.conftest import make_dataset

    ds = make_dataset(n=2)
    ds.frames[0, 0, 0] = 500.0
    with pytest.raises(DataError, match="outside the 16-bit PNG range"):
        write_dataset(tmp_path / "out", ds)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_streamed_batches_equal_whole_read(tmp_path):
    from tests.conftest import make_dataset
    from thermcli.io import open_dataset

    ds = make_dataset(n=23)
    write_dataset(tmp_path / "x.h5", ds, batch_size=5)
    with open_dataset(tmp_path / "x.h5") as reader:
        parts = list(reader.iter_batches(4))
    assert [len(p) for p in parts] == [4, 4, 4, 4, 4, 3]
    assert_same(ds, Dataset.concat(parts))
