"""PNG folders: the same datasets as HDF5, as images a person or another tool can open.

Layout::

    OUT/thermcli.json          schema, encoding, frame shape, metadata, per-frame fields
    OUT/frames/000000.png      one image per frame (``_cK`` suffix per channel when C is not 1 or 3)
    OUT/rgb/000000.png         the paired RGB frame, when present

Frame encoding by unit (stored in ``thermcli.json`` under ``encoding``):

- ``intensity``: 8-bit PNG, grey or colour (RGB on read; PNG files hold BGR as OpenCV writes them).
- ``counts``: 16-bit PNG, the raw counts unchanged.
- ``celsius`` / ``kelvin``: 16-bit PNG in **centikelvin**: ``value = round(100 · (T°C + 273.15))``
  (``round(100 · T_K)`` for kelvin); 0 marks NaN. Resolution 0.01 K, range 0.01 K–655.35 K
  (−273.14 °C to 382.2 °C). Temperatures on the 0.01 K grid round-trip exactly; others are
  quantised to the nearest 0.01 K. Use HDF5 when you need float32 bit-exactness.

A folder of plain images with no ``thermcli.json`` is read too: 8-bit grey → ``intensity``,
16-bit → ``counts``, colour → ``intensity`` with 3 channels (RGB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from thermcli import interrupt
from thermcli.errors import DataError
from thermcli.io.atomic import AtomicWriter, atomic_path
from thermcli.io.images import read_image
from thermcli.io.provenance import provenance_problem
from thermcli.io.reader import DatasetReader
from thermcli.io.schema import (
    KNOWN_VERSIONS,
    PER_FRAME_FIELDS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    UNIT_DTYPES,
    Dataset,
    Meta,
    validate,
    validate_meta,
)

SIDECAR = "thermcli.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
KELVIN_OFFSET = 273.15
CENTI = 100.0

ENCODINGS = {
    "intensity": {"type": "uint8", "bits": 8},
    "counts": {"type": "raw", "bits": 16},
    "celsius": {"type": "centikelvin", "bits": 16, "scale": 0.01, "offset": -KELVIN_OFFSET, "nan": 0},
    "kelvin": {"type": "centikelvin", "bits": 16, "scale": 0.01, "offset": 0.0, "nan": 0},
}


def encode_temperature(values: np.ndarray, unit: str) -> np.ndarray:
    """float32 °C or K → uint16 centikelvin (0 for NaN). Raises DataError when out of range."""
    offset = KELVIN_OFFSET if unit == "celsius" else 0.0
    as64 = values.astype(np.float64)
    nan = np.isnan(as64)
    code = np.rint((as64 + offset) * CENTI)
    code[nan] = 0
    bad = (~nan) & ((code < 1) | (code > 65535))
    if bad.any():
        worst = as64[bad].flat[0]
        raise DataError(f"temperature {worst:.2f} {unit} is outside the 16-bit PNG range (0.01 K to 655.35 K)")
    return code.astype(np.uint16)


def decode_temperature(code: np.ndarray, unit: str) -> np.ndarray:
    """uint16 centikelvin → float32 °C or K (NaN where 0)."""
    offset = KELVIN_OFFSET if unit == "celsius" else 0.0
    values = code.astype(np.float64) / CENTI - offset
    values[code == 0] = np.nan
    return values.astype(np.float32)


def _cv2():
    import cv2

    return cv2


def _write_png(path: Path, image: np.ndarray) -> None:
    cv2 = _cv2()
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]  # RGB → BGR for OpenCV
    # encoded here, written by Python: a full disk is an OSError to report (libpng wrote its
    # own "Write Error" line to stderr and OpenCV only returned False)
    ok, encoded = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image))
    if not ok:
        raise DataError("cannot encode image", path=str(path))
    write_image_bytes(path, encoded)


def write_image_bytes(path: Path, encoded) -> None:
    """Write an encoded image; a full disk is a one-line error naming the output."""
    from thermcli.io.atomic import is_no_space, no_space_error

    try:
        with open(path, "wb") as fh:
            fh.write(memoryview(encoded).cast("B"))
    except OSError as exc:
        if is_no_space(exc):
            raise no_space_error(path) from None
        raise DataError(f"cannot write image ({exc.strerror or exc})", path=str(path)) from None


def _encode_array(values: np.ndarray) -> dict[str, Any]:
    if values.dtype == object:
        return {"dtype": "str", "shape": list(values.shape), "values": [str(v) for v in values]}
    return {"dtype": values.dtype.str, "shape": list(values.shape), "values": values.tolist()}


def _decode_array(record: dict[str, Any]) -> np.ndarray:
    if record["dtype"] == "str":
        return np.asarray(record["values"], dtype=object).reshape(record["shape"])
    return np.asarray(record["values"], dtype=np.dtype(record["dtype"])).reshape(record["shape"])


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class PNGFolderReader(DatasetReader):
    """Reader of a PNG folder (with or without ``thermcli.json``), same interface as HDF5Reader."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        where = str(self.path)
        if not self.path.exists():
            raise DataError("no such file or folder", path=where)
        if not self.path.is_dir():
            raise DataError("is not a folder", path=where)
        sidecar = self.path / SIDECAR
        if sidecar.is_file():
            self._open_sidecar(sidecar, where)
        else:
            self._open_plain(where)

    def _open_sidecar(self, sidecar: Path, where: str) -> None:
        try:
            doc = json.loads(sidecar.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"unreadable {SIDECAR}: {' '.join(str(exc).split())[:120]}", path=where) from None
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_NAME:
            raise DataError(f"{SIDECAR} is not a thermcli dataset sidecar", path=where)
        version = doc.get("schema_version")
        if version not in KNOWN_VERSIONS:
            raise DataError(f"schema version {version} is not known to this thermcli", path=where)
        try:
            problem = provenance_problem((doc.get("meta") or {}).get("provenance"))
            if problem is not None:
                raise ValueError(f"the provenance record is malformed: {problem}")
            self.meta = Meta.from_json(doc["meta"])
            self.n = int(doc["n"])
            self.frame_shape = tuple(int(s) for s in doc["frame_shape"])
            self._fields = {name: _decode_array(rec) for name, rec in doc.get("fields", {}).items()}
            self._columns = {name: _decode_array(rec) for name, rec in doc.get("columns", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed {SIDECAR}: {' '.join(str(exc).split())[:120]}", path=where) from None
        validate_meta(self.meta, where=where)
        encoding, expected = doc.get("encoding"), ENCODINGS[self.meta.unit]
        if encoding is not None and encoding != expected:
            # read anyway, the pixels would be decoded with the wrong scale
            raise DataError(f"{SIDECAR} declares the frame encoding {encoding!r}; thermcli reads {self.meta.unit} "
                            f"frames only as {expected!r}", path=where)
        if self.n <= 0:
            raise DataError("has no frames (empty dataset)", path=where)
        unknown = set(self._fields) - set(PER_FRAME_FIELDS) - {"rgb"}
        if unknown:
            raise DataError(f"unknown per-frame fields {sorted(unknown)} in {SIDECAR}", path=where)
        self.frame_dtype = UNIT_DTYPES[self.meta.unit]
        self.fields = [name for name in PER_FRAME_FIELDS if name in self._fields or (name == "rgb" and doc.get("rgb"))]
        self._has_rgb = bool(doc.get("rgb"))
        self.column_names = sorted(self._columns)
        for name, values in list(self._fields.items()) + [(f"columns/{k}", v) for k, v in self._columns.items()]:
            if len(values) != self.n:
                raise DataError(f"{name} has {len(values)} rows but there are {self.n} frames", path=where)
        channels = self.frame_shape[2] if len(self.frame_shape) == 3 else 1
        self._frame_paths = [self._paths_for(i, channels) for i in range(self.n)]
        for paths in self._frame_paths[:1] + self._frame_paths[-1:]:
            for p in paths:
                if not p.is_file():
                    raise DataError(f"missing frame image {p.relative_to(self.path)}", path=where)
        self.attrs = dict(self.meta.attrs)

    def _paths_for(self, i: int, channels: int) -> list[Path]:
        base = self.path / "frames"
        if len(self.frame_shape) == 3 and channels not in (1, 3):
            return [base / f"{i:06d}_c{k}.png" for k in range(channels)]
        return [base / f"{i:06d}.png"]

    def _open_plain(self, where: str) -> None:
        files = image_files(self.path)
        if not files:
            raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder", path=where)
        first = read_image(files[0])
        if first.dtype == np.uint8:
            unit = "intensity"
        elif first.dtype == np.uint16:
            unit = "counts"
        else:
            raise DataError(
                f"{files[0].name} holds {first.dtype} pixels; use `thermcli import` with --unit to read them",
                path=where,
            )
        self.meta = Meta(unit=unit, modality="thermal", attrs={"source": "image folder"})
        self.n = len(files)
        self.frame_shape = tuple(first.shape)
        self.frame_dtype = first.dtype
        self._fields = {}
        self._columns = {}
        self._has_rgb = False
        self.fields = []
        self.column_names = []
        self._frame_paths = [[p] for p in files]
        self.attrs = {}

    def __len__(self) -> int:
        return self.n

    def _load_frame(self, i: int) -> np.ndarray:
        paths = self._frame_paths[i]
        images = [read_image(p) for p in paths]
        image = images[0] if len(images) == 1 else np.stack(images, axis=-1)
        if tuple(image.shape) != self.frame_shape and not (
            len(self.frame_shape) == 3 and self.frame_shape[2] == 1 and image.shape == self.frame_shape[:2]
        ):
            raise DataError(f"{paths[0].name} is {image.shape}, expected {self.frame_shape}", path=str(self.path))
        image = image.reshape(self.frame_shape)
        if self.meta.unit in ("celsius", "kelvin"):
            if image.dtype != np.uint16:
                raise DataError(f"{paths[0].name} is not a 16-bit PNG", path=str(self.path))
            return decode_temperature(image, self.meta.unit)
        if image.dtype != UNIT_DTYPES[self.meta.unit]:
            raise DataError(f"{paths[0].name} holds {image.dtype}, expected {UNIT_DTYPES[self.meta.unit]}", path=str(self.path))
        return image

    def read(self, start: int = 0, stop: int | None = None, *, check_values: bool = True) -> Dataset:
        stop = self.n if stop is None else min(stop, self.n)
        if stop <= start:
            frames = np.zeros((0, *self.frame_shape), dtype=self.frame_dtype)
        else:
            frames = np.stack([self._load_frame(i) for i in range(start, stop)])
        kwargs: dict[str, Any] = {"frames": frames, "meta": self.meta}
        for name, values in self._fields.items():
            kwargs[name] = values[start:stop]
        if self._has_rgb:
            kwargs["rgb"] = np.stack([read_image(self.path / "rgb" / f"{i:06d}.png") for i in range(start, stop)])
        kwargs["columns"] = {k: v[start:stop] for k, v in self._columns.items()}
        batch = Dataset(**kwargs)
        validate(batch, where=str(self.path), check_values=check_values, offset=start)
        return batch

    def read_field(self, name: str) -> np.ndarray:
        if name.startswith("columns/"):
            return self._columns[name.removeprefix("columns/")]
        if name not in self._fields:
            raise DataError(f"has no {name}", path=str(self.path))
        return self._fields[name]


class PNGFolderWriter(AtomicWriter):
    """Streamed, atomic writer of a PNG folder (the folder appears only when complete)."""

    def __init__(self, path: str | os.PathLike, meta: Meta, *, force: bool = False):
        self.path = Path(path)
        self.meta = meta
        validate_meta(meta, where=str(self.path))
        self._ctx = atomic_path(self.path, force=force, directory=True)
        try:
            self._tmp = self._ctx.__enter__()
            (self._tmp / "frames").mkdir()
        except OSError as exc:
            raise DataError(f"cannot create output folder ({' '.join(str(exc).split())[:120]})", path=str(self.path)) from None
        self._fields: dict[str, list[np.ndarray]] = {}
        self._columns: dict[str, list[np.ndarray]] = {}
        self._frame_shape: tuple[int, ...] | None = None
        self._has_rgb = False
        self.n = 0
        self._closed = False

    def append(self, batch: Dataset) -> None:
        interrupt.check()
        validate(batch, where=str(self.path), offset=self.n)
        if len(batch) == 0:
            return
        shape = tuple(batch.frames.shape[1:])
        if self._frame_shape is None:
            self._frame_shape = shape
            self._has_rgb = batch.rgb is not None
            if self._has_rgb:
                (self._tmp / "rgb").mkdir()
        elif shape != self._frame_shape:
            raise DataError(f"frames of shape {shape} after frames of shape {self._frame_shape}", path=str(self.path))
        channels = shape[2] if len(shape) == 3 else 1
        for j in range(len(batch)):
            i = self.n + j
            frame = batch.frames[j]
            if self.meta.unit in ("celsius", "kelvin"):
                frame = encode_temperature(frame, self.meta.unit)
            if len(shape) == 3 and channels not in (1, 3):
                for k in range(channels):
                    _write_png(self._tmp / "frames" / f"{i:06d}_c{k}.png", frame[:, :, k])
            else:
                _write_png(self._tmp / "frames" / f"{i:06d}.png", frame.reshape(shape[:2]) if channels == 1 else frame)
            if self._has_rgb:
                _write_png(self._tmp / "rgb" / f"{i:06d}.png", batch.rgb[j])
        for name in batch.fields():
            if name == "rgb":
                continue
            self._fields.setdefault(name, []).append(np.asarray(getattr(batch, name)))
        for name, values in batch.columns.items():
            self._columns.setdefault(name, []).append(values)
        self.n += len(batch)

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self.n == 0:
                raise DataError("no frames to write", path=str(self.path))
            doc = {
                "schema": SCHEMA_NAME,
                "schema_version": SCHEMA_VERSION,
                "kind": "dataset",
                "format": "png-folder",
                "encoding": ENCODINGS[self.meta.unit],
                "n": self.n,
                "frame_shape": list(self._frame_shape),
                "rgb": self._has_rgb,
                "meta": self.meta.to_json(),
                "fields": {k: _encode_array(np.concatenate(v)) for k, v in self._fields.items()},
                "columns": {k: _encode_array(np.concatenate(v)) for k, v in self._columns.items()},
            }
            (self._tmp / SIDECAR).write_text(json.dumps(doc))
        except BaseException as exc:
            self.abort(type(exc), exc, exc.__traceback__)
            raise
        self._commit()
