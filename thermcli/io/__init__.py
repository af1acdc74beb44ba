"""The artifact contract: read and write thermcli datasets as HDF5 files or PNG folders.

>>> from thermcli.io import open_dataset, create_writer
>>> with open_dataset("in.h5") as reader, create_writer("out.h5", reader.meta) as writer:
...     for batch in reader.iter_batches(256):
...         writer.append(batch)                                    # doctest: +SKIP

Paths ending in ``.h5``/``.hdf5`` are HDF5; anything else is a PNG folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from thermcli.errors import DataError
from thermcli.io.atomic import atomic_path, check_output, register_input, write_text_atomic
from thermcli.io.hdf5 import HDF5Reader, HDF5Writer
from thermcli.io.pngdir import PNGFolderReader, PNGFolderWriter
from thermcli.io.provenance import make_provenance, read_provenance
from thermcli.io.schema import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    COCO_SIGMAS,
    COCO_SKELETON,
    Dataset,
    Meta,
    validate,
)

Reader = Union[HDF5Reader, PNGFolderReader]
Writer = Union[HDF5Writer, PNGFolderWriter]
HDF5_SUFFIXES = (".h5", ".hdf5")


def is_hdf5_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in HDF5_SUFFIXES


def open_dataset(path: str | os.PathLike) -> Reader:
    """Open a dataset for streamed reading (HDF5 file or PNG folder)."""
    path = Path(path)
    register_input(path)  # no output of this command may replace it (io.atomic)
    if not path.exists():
        raise DataError("no such file or folder", path=str(path))
    if path.is_dir():
        return PNGFolderReader(path)
    return HDF5Reader(path)


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read a whole dataset into memory (validated)."""
    with open_dataset(path) as reader:
        return reader.read_all()


def create_writer(path: str | os.PathLike, meta: Meta, *, force: bool = False) -> Writer:
    """A streamed, atomic writer; the output appears only when the writer closes cleanly."""
    if is_hdf5_path(path):
        return HDF5Writer(path, meta, force=force)
    if Path(path).suffix:
        raise DataError("output must end in .h5/.hdf5 (HDF5) or have no suffix (PNG folder)", path=str(path))
    return PNGFolderWriter(path, meta, force=force)


def write_dataset(path: str | os.PathLike, dataset: Dataset, *, force: bool = False, batch_size: int = 512) -> None:
    """Write a whole in-memory dataset atomically."""
    with create_writer(path, dataset.meta, force=force) as writer:
        for lo in range(0, len(dataset), batch_size):
            writer.append(dataset.take(slice(lo, lo + batch_size)))


__all__ = [
    "COCO_FLIP_PAIRS",
    "COCO_KEYPOINT_NAMES",
    "COCO_SIGMAS",
    "COCO_SKELETON",
    "DataError",
    "Dataset",
    "HDF5Reader",
    "HDF5Writer",
    "Meta",
    "PNGFolderReader",
    "PNGFolderWriter",
    "atomic_path",
    "check_output",
    "create_writer",
    "is_hdf5_path",
    "make_provenance",
    "open_dataset",
    "read_dataset",
    "read_provenance",
    "validate",
    "write_dataset",
    "write_text_atomic",
]
