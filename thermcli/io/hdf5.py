"""HDF5 datasets: chunked along N, read and written in streamed batches, written atomically.

Layout::

    /                attrs: schema, schema_version, kind, thermcli_version, created,
                            meta (JSON), provenance (JSON)
    /frames          (N, H, W[, C])   chunked (chunk, H, W[, C])
    /rgb /labels /keypoints /boxes /box_classes /scores /subject /sequence /timestamp
    /columns/NAME    (N, ...)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import thermcli
from thermcli import interrupt
from thermcli.errors import DataError
from thermcli.io.atomic import AtomicWriter, atomic_path, check_space, is_no_space, no_space_error
from thermcli.io.provenance import provenance_problem
from thermcli.io.reader import DatasetReader
from thermcli.io.schema import (
    KNOWN_VERSIONS,
    PER_FRAME_FIELDS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STRING_FIELDS,
    Dataset,
    Meta,
    validate,
    validate_meta,
)

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DEFAULT_CHUNK_BYTES = 4 << 20


def is_hdf5(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


class HDF5Reader(DatasetReader):
    """Streamed reader of a thermcli HDF5 dataset. Use as a context manager."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        where = str(self.path)
        if not self.path.exists():
            raise DataError("no such file", path=where)
        if self.path.is_dir():
            raise DataError("is a folder, not an HDF5 file", path=where)
        if not is_hdf5(self.path):
            raise DataError("not an HDF5 file (or truncated)", path=where)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(f"cannot open HDF5 file ({_short(exc)}); truncated or corrupted?", path=where) from None
        try:
            refuse_outside_references(self._file, where)
            self._open(where)
        except BaseException:
            self._file.close()
            raise

    def _open(self, where: str) -> None:
        attrs = self._file.attrs
        schema = _attr_str(attrs.get("schema"))
        if schema != SCHEMA_NAME:
            raise DataError(f"not a thermcli dataset (schema {schema!r}, expected {SCHEMA_NAME!r})", path=where)
        version = attrs.get("schema_version")
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise DataError(f"unreadable schema version {version!r}", path=where) from None
        if version not in KNOWN_VERSIONS:
            raise DataError(
                f"schema version {version} is not known to thermcli {thermcli.__version__} "
                f"(it reads {', '.join(map(str, KNOWN_VERSIONS))})",
                path=where,
            )
        try:
            meta_json = json.loads(_attr_str(attrs.get("meta")) or "{}")
            meta_json["provenance"] = json.loads(_attr_str(attrs.get("provenance")) or "{}")
            problem = provenance_problem(meta_json["provenance"])
            if problem is not None:
                raise ValueError(f"the provenance attribute is malformed: {problem}")
            self.meta = Meta.from_json(meta_json)
        except (ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"unreadable metadata: {_short(exc)}", path=where) from None
        validate_meta(self.meta, where=where)
        if "frames" not in self._file:
            raise DataError("has no frames dataset", path=where)
        frames = self._file["frames"]
        if frames.ndim not in (3, 4):
            raise DataError(f"frames must be (N, H, W) or (N, H, W, C), got shape {frames.shape}", path=where)
        self.n = int(frames.shape[0])
        self.frame_shape = tuple(int(s) for s in frames.shape[1:])
        self.frame_dtype = frames.dtype
        self.fields = [name for name in PER_FRAME_FIELDS if name in self._file]
        self.column_names = sorted(self._file["columns"].keys()) if "columns" in self._file else []
        for name in self.fields + [f"columns/{c}" for c in self.column_names]:
            rows = self._file[name].shape[0] if self._file[name].shape else 0
            if rows != self.n:
                raise DataError(f"{name} has {rows} rows but there are {self.n} frames", path=where)
        if self.n == 0:
            raise DataError("has no frames (empty dataset)", path=where)
        # Absurd declared shapes: refuse before anyone allocates or streams them.
        frame_bytes = int(np.prod(self.frame_shape)) * frames.dtype.itemsize
        if frame_bytes > 1 << 31:
            raise DataError(f"frame shape {self.frame_shape} is implausibly large", path=where)
        declared = self.n * frame_bytes
        stored = frames.id.get_storage_size()
        if declared > 1 << 20 and stored * 1000 < declared:
            raise DataError(
                f"declares {self.n} frames of {self.frame_shape} ({declared / 2**20:.0f} MiB) but stores "
                f"{stored / 2**20:.1f} MiB: truncated, or an absurd declared shape",
                path=where,
            )
        self.attrs = dict(self.meta.attrs)

    def __len__(self) -> int:
        return self.n

    def close(self) -> None:
        self._file.close()

    def read(self, start: int = 0, stop: int | None = None, *, check_values: bool = True) -> Dataset:
        """Rows [start, stop) as a Dataset, validated."""
        stop = self.n if stop is None else min(stop, self.n)
        sl = slice(start, stop)
        try:
            kwargs: dict[str, Any] = {"frames": self._file["frames"][sl], "meta": self.meta}
            for name in self.fields:
                ds = self._file[name]
                kwargs[name] = ds.asstr()[sl] if name in STRING_FIELDS else ds[sl]
                if name in STRING_FIELDS:
                    kwargs[name] = np.asarray(kwargs[name], dtype=object)
            kwargs["columns"] = {c: self._file[f"columns/{c}"][sl] for c in self.column_names}
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"cannot read rows {start}:{stop} ({_short(exc)}); truncated or corrupted?", path=str(self.path)) from None
        batch = Dataset(**kwargs)
        validate(batch, where=str(self.path), check_values=check_values, offset=start)
        return batch

    def read_field(self, name: str) -> np.ndarray:
        """One whole per-frame field (small ones: labels, subject, timestamp...)."""
        if name.startswith("columns/"):
            return self._file[name][...]
        if name not in self.fields:
            raise DataError(f"has no {name}", path=str(self.path))
        ds = self._file[name]
        if name in STRING_FIELDS:
            return np.asarray(ds.asstr()[...], dtype=object)
        return ds[...]

    def read_all(self) -> Dataset:
        _check_fits_in_memory(self.n, self.frame_shape, self.frame_dtype, str(self.path))
        return self.read(0, self.n)


def refuse_outside_references(file: Any, where: str) -> None:
    """Refuse an HDF5 file that makes the library read anything but itself.

    Three HDF5 features point outside the file: *external links* (a name in a group that opens an
    object of another file), *external storage* (a dataset whose bytes lie in other files, read
    as raw bytes: a crafted dataset over ``/etc/passwd`` would otherwise come back as pixels) and
    *virtual datasets* (a dataset mapped onto datasets of other files). thermcli never writes
    any of them, so every one found is refused by name before a single value is read. User-
    defined link classes are refused too. Every object reachable by hard links is checked
    (``visititems`` visits each object once, cycles included, and follows no soft or external
    link; soft links can only name objects it reaches, or nothing).
    """
    import h5py

    problems: list[str] = []

    def check_links(group: Any, prefix: str) -> None:
        for raw in _link_names(group):
            info = group.id.links.get_info(raw)
            name = prefix + raw.decode("utf-8", "replace")
            if info.type == h5py.h5l.TYPE_EXTERNAL:
                problems.append(f"{name} is an external link to another file")
            elif info.type not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
                problems.append(f"{name} is a user-defined link")

    def check(name: str, obj: Any) -> None:
        if problems:
            return
        if isinstance(obj, h5py.Group):
            check_links(obj, f"/{name}/")
        elif isinstance(obj, h5py.Dataset):
            if obj.external:
                problems.append(f"dataset /{name} keeps its data in external files (external storage)")
            elif obj.is_virtual:
                problems.append(f"dataset /{name} is a virtual dataset (its data lies in other files)")

    check_links(file, "/")
    if not problems:
        file.visititems(check)
    if problems:
        raise DataError(f"refused: {problems[0]}; thermcli reads only self-contained HDF5 files", path=where)


def _link_names(group: Any) -> list[bytes]:
    names: list[bytes] = []

    def collect(name: bytes) -> None:
        names.append(name)

    group.id.links.iterate(collect)
    return names


def _check_fits_in_memory(n: int, frame_shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    need = n * int(np.prod(frame_shape)) * np.dtype(dtype).itemsize
    try:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > avail:
        raise DataError(
            f"{n} frames of {frame_shape} need {need / 2**30:.1f} GiB, more than the "
            f"{avail / 2**30:.1f} GiB of free memory; this command loads the whole dataset",
            path=where,
        )


class HDF5Writer(AtomicWriter):
    """Streamed, atomic writer. ``append`` batches; ``close`` (or leaving ``with``) commits.

    Nothing appears at ``path`` until the write completes; on any exception the temporary file
    is removed.
    """

    def __init__(self, path: str | os.PathLike, meta: Meta, *, force: bool = False, compression: str | None = None):
        self.path = Path(path)
        self.meta = meta
        self.force = force
        self.compression = compression
        validate_meta(meta, where=str(self.path))
        import h5py

        self._ctx = atomic_path(self.path, force=force)
        try:
            self._tmp = self._ctx.__enter__()
            # no chunk cache: every write goes to the file at once, so nothing dirty waits for
            # a close that a full disk would fail (see abort)
            self._file = h5py.File(self._tmp, "w", rdcc_nbytes=0)
        except OSError as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise DataError(f"cannot create output ({_short(exc)})", path=str(self.path)) from None
        self._layout: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None
        self.n = 0
        self._closed = False
        self._reserved: int | None = None

    @property
    def temporary_path(self) -> Path:
        """The file being written (renamed onto ``path`` at close)."""
        return Path(self._tmp)

    def reserve_frames(self, total: int, row_shape: tuple[int, ...], dtype: np.dtype) -> int | None:
        """Lay out ``frames`` as one contiguous block of ``total`` rows, allocated now, and return
        its byte offset in :attr:`temporary_path`, so worker processes can write their rows there
        directly (``append(..., frames_written=True)`` then writes every other field). Returns
        None (nothing reserved) where the layout cannot allow that: compression, or rows already
        appended."""
        import h5py

        if self.compression is not None or self._layout is not None or total <= 0:
            return None
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.CONTIGUOUS)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # every row is written before close
        dtype = np.dtype(dtype)
        check_space(self._tmp, total * int(np.prod(row_shape)) * dtype.itemsize, self.path)
        space = h5py.h5s.create_simple((total, *row_shape))
        dsid = h5py.h5d.create(self._file.id, b"frames", h5py.h5t.py_create(dtype), space, dcpl=dcpl)
        offset = dsid.get_offset()
        if offset is None:  # pragma: no cover - an allocated contiguous dataset has an offset
            return None
        self._file.flush()
        self._reserved = total
        self._reserved_layout = (tuple(row_shape), dtype)
        return int(offset)

    def _create(self, batch: Dataset) -> None:
        import h5py

        self._layout = {}
        for name, values in batch.per_frame().items():
            if name == "frames" and self._reserved is not None:
                self._layout[name] = self._reserved_layout
                continue
            row_shape = tuple(values.shape[1:])
            if name in STRING_FIELDS:
                dtype = h5py.string_dtype("utf-8")
            else:
                dtype = values.dtype
            row_bytes = max(1, int(np.prod(row_shape)) * (np.dtype(dtype).itemsize if name not in STRING_FIELDS else 16))
            # chunks follow the writer's batch size (streamed reads use the same), capped at ~4 MB
            chunk_rows = int(max(1, min(len(batch), 1024, DEFAULT_CHUNK_BYTES // row_bytes)))
            self._file.create_dataset(
                name,
                shape=(0, *row_shape),
                maxshape=(None, *row_shape),
                dtype=dtype,
                chunks=(chunk_rows, *row_shape),
                compression=self.compression if name == "frames" else None,
            )
            self._layout[name] = (row_shape, np.dtype(dtype) if name not in STRING_FIELDS else np.dtype(object))

    def append(self, batch: Dataset, *, frames_written: bool = False) -> None:
        """Append a batch. ``frames_written``: its frames rows are already in the reserved
        ``frames`` block (written and validated by a worker); ``batch.frames`` only gives the
        row count and is not written."""
        interrupt.check()
        if frames_written and self._reserved is None:
            raise ValueError("frames_written needs reserve_frames() first")
        validate(batch, where=str(self.path), offset=self.n, check_values=not frames_written)
        if len(batch) == 0:
            return
        if self._layout is None:
            self._create(batch)
        arrays = batch.per_frame()
        if set(arrays) != set(self._layout):
            raise DataError(
                f"batch fields {sorted(arrays)} differ from the first batch's {sorted(self._layout)}",
                path=str(self.path),
            )
        m = len(batch)
        if self._reserved is not None and self.n + m > self._reserved:
            raise DataError(f"more rows than the {self._reserved} reserved", path=str(self.path))
        need = sum(values.nbytes if values.dtype != object else 64 * len(values)
                   for name, values in arrays.items() if not (name == "frames" and self._reserved is not None))
        check_space(self._tmp, need, self.path)  # before HDF5 meets a full disk (see io.atomic)
        full = False
        try:
            self._write_batch(arrays, m, frames_written)
        except (OSError, RuntimeError) as exc:
            if not is_no_space(exc):
                raise
            full = True
        if full:  # out of the except block: no traceback holds HDF5 objects while the file goes
            self.abort()
            raise no_space_error(self.path)
        self.n += m

    def _dataset(self, name: str):
        """The open dataset ``name``, kept open until close: a handle dropped after each batch
        made HDF5 flush its chunk cache right there, where a full disk could not be handled."""
        handles = self.__dict__.setdefault("_handles", {})
        if name not in handles:
            handles[name] = self._file[name]
        return handles[name]

    def _write_batch(self, arrays: dict[str, np.ndarray], m: int, frames_written: bool) -> None:
        for name, values in arrays.items():
            if name == "frames" and self._reserved is not None:
                if not frames_written:
                    if (tuple(values.shape[1:]), values.dtype) != self._reserved_layout:
                        raise DataError(f"frames rows of shape {values.shape[1:]} {values.dtype}, reserved "
                                        f"{self._reserved_layout[0]} {self._reserved_layout[1]}", path=str(self.path))
                    self._dataset(name)[self.n : self.n + m] = values
                continue
            row_shape, _ = self._layout[name]
            if tuple(values.shape[1:]) != row_shape:
                raise DataError(f"{name} rows of shape {values.shape[1:]} after rows of shape {row_shape}", path=str(self.path))
            ds = self._dataset(name)
            ds.resize(self.n + m, axis=0)
            if name in STRING_FIELDS:
                ds[self.n : self.n + m] = [str(v) for v in values]
            else:
                ds[self.n : self.n + m] = values

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self.n == 0:
                raise DataError("no frames to write", path=str(self.path))
            if self._reserved is not None and self.n != self._reserved:
                raise DataError(f"{self.n} rows written of the {self._reserved} reserved", path=str(self.path))
            check_space(self._tmp, 0, self.path)  # room for the metadata written at close
            attrs = self._file.attrs
            attrs["schema"] = SCHEMA_NAME
            attrs["schema_version"] = SCHEMA_VERSION
            attrs["kind"] = "dataset"
            attrs["thermcli_version"] = thermcli.__version__
            attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            meta_json = self.meta.to_json()
            provenance = meta_json.pop("provenance")
            attrs["meta"] = json.dumps(meta_json)
            attrs["provenance"] = json.dumps(provenance)
            self._file.flush()
            self.__dict__.pop("_handles", None)
            self._file.close()
        except (OSError, RuntimeError) as exc:
            if not is_no_space(exc):
                self.abort(type(exc), exc, exc.__traceback__)
                raise
            full = True
        except BaseException as exc:
            self.abort(type(exc), exc, exc.__traceback__)
            raise
        else:
            full = False
        if full:
            self.abort()
            raise no_space_error(self.path)
        self._commit()

    def _discard(self) -> None:
        # The file is discarded: free its blocks first, so that the metadata HDF5 still flushes
        # at close lands in a sparse file and succeeds even on a full disk. A close that fails
        # leaves the file open in the HDF5 library, whose exit-time flush then crashed the
        # interpreter (exit 139) after the error message.
        try:
            os.truncate(self._tmp, 0)
        except OSError:
            pass
        try:
            self.__dict__.pop("_handles", None)
            self._file.close()
        except Exception:
            pass


def _attr_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]
