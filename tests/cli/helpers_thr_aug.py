"""Helpers shared by the threshold/augment/merge command tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from thermcli.io import read_dataset


def assert_same_data(a: Path, b: Path) -> None:
    """Every per-frame array of two datasets equal, byte for byte (strings by value)."""
    da, db = read_dataset(a), read_dataset(b)
    pa, pb = da.per_frame(), db.per_frame()
    assert sorted(pa) == sorted(pb)
    for name in pa:
        x, y = pa[name], pb[name]
        if x.dtype == object:
            assert list(x) == list(y), name
        else:
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name


def make_empty(path: Path, source: Path) -> Path:
    """A schema-valid HDF5 dataset with 0 frames (the writer refuses to make one)."""
    path.write_bytes(source.read_bytes())
    with h5py.File(path, "a") as fh:
        def shrink(name, obj):
            if isinstance(obj, h5py.Dataset):
                obj.resize(0, axis=0)
        fh.visititems(shrink)
    return path


def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def nan_frames_dataset(n=5, h=20, w=24):
    from tests.conftest import make_dataset

    ds = make_dataset(n=n, h=h, w=w, keypoints=True)
    ds.frames[:, :3, :4] = np.nan
    return ds
