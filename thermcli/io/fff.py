"""FLIR radiometric video: ``.seq`` / ``.csq`` files and bare ``.fff`` records → float32 °C.

A FLIR recording is a run of FFF records, one per frame, each starting with ``FFF\\0``::

    0x00  char[4]   "FFF\\0" (or "AFF\\0")
    0x04  char[16]  creator ("CAMCTRL", "RTP", …)
    0x14  uint32    format version (100–199; its byte order is the record's byte order)
    0x18  uint32    offset of the record directory (from the record's start)
    0x1c  uint32    number of directory entries
    directory: 32 bytes an entry — uint16 type, uint16 subtype, uint32 version, uint32 id,
               uint32 offset, uint32 length, …

Two entries matter: ``RawData`` (type 1: a 32-byte header with the width and height, then the
raw 16-bit counts — uncompressed in ``.seq``, JPEG-LS in ``.csq``, PNG or TIFF in R-JPEGs) and
``CameraInfo`` (type 0x20: the Planck constants, the object parameters, camera and lens, and the
frame's time stamp). Offsets follow ExifTool's FLIR tag tables.

Counts become °C through ``flyr``'s own conversion (``FlyrThermogram.celsius``): it is evaluated
once per set of constants on all 65,536 possible counts, and each frame is a lookup in that
table — the same float64 arithmetic per pixel, at the cost of one gather per frame.

The file is indexed by walking the record headers (a few hundred bytes each), so ``--frames``
and ``--stride`` skip records without reading or decoding their images, and frames are decoded
one at a time (memory flat in the recording's length).
"""

from __future__ import annotations

import datetime as _dt
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from thermcli.errors import DataError

SUFFIXES = (".seq", ".csq", ".fff")
MAGICS = (b"FFF\x00", b"AFF\x00")
KELVIN_OFFSET = 273.15

RAW_DATA = 0x01
CAMERA_INFO = 0x20
_HEADER = 64
_ENTRY = 32
_RAW_HEADER = 32
_CAMERA_INFO_MIN = 0x3A0  # up to the time stamp (0x384 + 10 bytes)
_MAX_ENTRIES = 4096
_MAX_PADDING = 4096  # zero bytes allowed between records

_SOI = b"\xff\xd8"
_PNG = b"\x89PNG"
_TIFF = (b"II*\x00", b"MM\x00*")


def is_flir_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


@dataclass(frozen=True)
class ObjectParameters:
    """The scene parameters of the conversion (SI units: K, m, fraction of 1)."""

    emissivity: float
    distance_m: float
    reflected_k: float
    atmospheric_k: float
    ir_window_k: float
    ir_window_transmission: float
    humidity: float  # relative humidity, 0..1


@dataclass(frozen=True)
class PlanckConstants:
    r1: float
    r2: float
    b: float
    f: float
    o: float
    alpha1: float
    alpha2: float
    beta1: float
    beta2: float
    x: float


@dataclass(frozen=True)
class Overrides:
    """User overrides of a record's object parameters (None: the record's own value)."""

    emissivity: float | None = None
    ambient_c: float | None = None  # reflected and atmospheric temperature, °C
    distance_m: float | None = None
    humidity_pct: float | None = None

    def apply(self, params: ObjectParameters) -> ObjectParameters:
        changes: dict[str, float] = {}
        if self.emissivity is not None:
            changes["emissivity"] = float(self.emissivity)
        if self.ambient_c is not None:
            changes["reflected_k"] = changes["atmospheric_k"] = float(self.ambient_c) + KELVIN_OFFSET
        if self.distance_m is not None:
            changes["distance_m"] = float(self.distance_m)
        if self.humidity_pct is not None:
            changes["humidity"] = float(self.humidity_pct) / 100.0
        return replace(params, **changes) if changes else params


@dataclass(frozen=True)
class CameraInfo:
    """What one record's CameraInfo holds (the parts thermcli uses)."""

    params: ObjectParameters
    planck: PlanckConstants
    model: str
    part_number: str
    serial: str
    software: str
    lens: str
    lens_part_number: str
    lens_serial: str
    field_of_view_deg: float
    time_s: int  # Unix seconds (UTC)
    time_ms: int
    tz_minutes: int  # local time = UTC − tz_minutes
    frame_rate: float

    def camera_attrs(self) -> dict[str, Any]:
        return {
            "make": "FLIR",
            "model": self.model,
            "part_number": self.part_number,
            "serial": self.serial,
            "software": self.software,
            "lens": self.lens,
            "lens_part_number": self.lens_part_number,
            "lens_serial": self.lens_serial,
            "field_of_view_deg": round(self.field_of_view_deg, 3),
        }

    def iso_time(self) -> str:
        tz = _dt.timezone(_dt.timedelta(minutes=-self.tz_minutes))
        moment = _dt.datetime.fromtimestamp(self.time_s, tz) + _dt.timedelta(milliseconds=self.time_ms)
        return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RecordEntry:
    """Where one FFF record's parts lie in the file (absolute byte offsets)."""

    offset: int
    end: int
    endian: str  # "<" or ">"
    raw_offset: int
    raw_length: int
    camera_offset: int
    camera_length: int


def _text(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("latin-1").strip()


def parse_camera_info(data: bytes, endian: str, *, where: str = "") -> CameraInfo:
    """Decode a CameraInfo record (ExifTool's FLIR::CameraInfo offsets)."""
    if len(data) < _CAMERA_INFO_MIN:
        raise DataError(f"CameraInfo record is {len(data)} bytes, too short to hold the Planck constants", path=where or None)
    # the record's first uint16 is 2 in its own byte order
    if struct.unpack_from(endian + "H", data, 0)[0] != 2:
        endian = ">" if endian == "<" else "<"
    f = lambda off: float(struct.unpack_from(endian + "f", data, off)[0])  # noqa: E731
    humidity = f(0x3C)
    params = ObjectParameters(
        emissivity=f(0x20),
        distance_m=f(0x24),
        reflected_k=f(0x28),
        atmospheric_k=f(0x2C),
        ir_window_k=f(0x30),
        ir_window_transmission=f(0x34),
        humidity=humidity / 100.0 if humidity > 2 else humidity,  # some cameras store percent
    )
    planck = PlanckConstants(
        r1=f(0x58), b=f(0x5C), f=f(0x60), o=float(struct.unpack_from(endian + "i", data, 0x308)[0]), r2=f(0x30C),
        alpha1=f(0x70), alpha2=f(0x74), beta1=f(0x78), beta2=f(0x7C), x=f(0x80),
    )
    seconds, millis, tz = struct.unpack_from(endian + "IIh", data, 0x384)
    frame_rate = float(struct.unpack_from(endian + "H", data, 0x464)[0]) if len(data) >= 0x466 else 0.0
    return CameraInfo(
        params=params,
        planck=planck,
        model=_text(data[0xD4:0xF4]),
        part_number=_text(data[0xF4:0x104]),
        serial=_text(data[0x104:0x114]),
        software=_text(data[0x114:0x124]),
        lens=_text(data[0x170:0x190]),
        lens_part_number=_text(data[0x190:0x1A0]),
        lens_serial=_text(data[0x1A0:0x1B0]),
        field_of_view_deg=f(0x1B4),
        time_s=int(seconds),
        time_ms=int(millis & 0xFFFF),
        tz_minutes=int(tz),
        frame_rate=frame_rate,
    )


def flyr_metadata(params: ObjectParameters, planck: PlanckConstants) -> dict[str, float]:
    """The metadata dictionary ``flyr.FlyrThermogram`` converts with."""
    return {
        "emissivity": params.emissivity,
        "object_distance": params.distance_m,
        "atmospheric_temperature": params.atmospheric_k,
        "ir_window_temperature": params.ir_window_k,
        "ir_window_transmission": params.ir_window_transmission,
        "reflected_apparent_temperature": params.reflected_k,
        "relative_humidity": params.humidity,
        "planck_r1": planck.r1,
        "planck_r2": planck.r2,
        "planck_b": planck.b,
        "planck_f": planck.f,
        "planck_o": planck.o,
        "atmospheric_trans_alpha1": planck.alpha1,
        "atmospheric_trans_alpha2": planck.alpha2,
        "atmospheric_trans_beta1": planck.beta1,
        "atmospheric_trans_beta2": planck.beta2,
        "atmospheric_trans_x": planck.x,
    }


_LUT_CACHE: dict[tuple, np.ndarray] = {}


def celsius_table(params: ObjectParameters, planck: PlanckConstants) -> np.ndarray:
    """float32 °C of every raw count 0..65535, through ``flyr``'s conversion (cached)."""
    key = (params, planck)
    table = _LUT_CACHE.get(key)
    if table is None:
        from flyr.thermogram import FlyrThermogram

        counts = np.arange(65536, dtype=np.int64).reshape(256, 256)
        with np.errstate(all="ignore"):  # counts outside the calibration give NaN
            celsius = np.asarray(FlyrThermogram(counts, flyr_metadata(params, planck)).celsius, dtype=np.float64)
        table = celsius.reshape(-1).astype(np.float32)
        if len(_LUT_CACHE) > 64:
            _LUT_CACHE.clear()
        _LUT_CACHE[key] = table
    return table


def raw_to_celsius(raw: np.ndarray, params: ObjectParameters, planck: PlanckConstants) -> np.ndarray:
    """Raw 16-bit counts → float32 °C with the given constants (flyr's arithmetic)."""
    return np.take(celsius_table(params, planck), raw)


# ---- records --------------------------------------------------------------------------------------


def _read_at(fh: BinaryIO, offset: int, size: int) -> bytes:
    fh.seek(offset)
    return fh.read(size)


def parse_record_header(head: bytes, directory_reader, offset: int, size: int, where: str) -> RecordEntry:
    """One record's entry from its 64-byte header; ``directory_reader(offset, length)`` reads
    bytes of the file. Raises ``DataError`` for a truncated or unknown record."""
    if len(head) < _HEADER:
        raise DataError(f"truncated file: record header at byte {offset} is cut off ({len(head)} of {_HEADER} bytes)", path=where)
    magic = head[:4]
    if magic not in MAGICS:
        raise DataError(f"unknown record type {magic!r} at byte {offset} (expected an FFF record)", path=where)
    endian = "<"
    version = struct.unpack_from("<I", head, 0x14)[0]
    if not 100 <= version < 200:
        endian = ">"
        version = struct.unpack_from(">I", head, 0x14)[0]
        if not 100 <= version < 200:
            raise DataError(f"unknown FFF format version in the record at byte {offset}", path=where)
    dir_offset, entries = struct.unpack_from(endian + "II", head, 0x18)
    if entries == 0 or entries > _MAX_ENTRIES or dir_offset < _HEADER:
        raise DataError(f"malformed FFF record directory at byte {offset} ({entries} entries at {dir_offset})", path=where)
    if offset + dir_offset + _ENTRY * entries > size:
        raise DataError(f"truncated file: the record at byte {offset} ends beyond the end of the file ({size} bytes)", path=where)
    directory = directory_reader(offset + dir_offset, _ENTRY * entries)
    end = dir_offset + _ENTRY * entries
    raw = camera = None
    for k in range(entries):
        kind, _sub, _ver, _id, rec_offset, rec_length = struct.unpack_from(endian + "HHIIII", directory, _ENTRY * k)
        if kind == 0:
            continue
        end = max(end, rec_offset + rec_length)
        if kind == RAW_DATA and raw is None:
            raw = (rec_offset, rec_length)
        elif kind == CAMERA_INFO and camera is None:
            camera = (rec_offset, rec_length)
    if raw is None:
        raise DataError(f"the FFF record at byte {offset} has no raw thermal image (RawData record)", path=where)
    if camera is None:
        raise DataError(f"the FFF record at byte {offset} has no CameraInfo record (no Planck constants)", path=where)
    if offset + camera[0] + camera[1] > size or offset + raw[0] + _RAW_HEADER > size:
        raise DataError(f"truncated file: the record at byte {offset} ends beyond the end of the file ({size} bytes)", path=where)
    return RecordEntry(offset, offset + end, endian, offset + raw[0], raw[1], offset + camera[0], camera[1])


def index_records(path: str | os.PathLike) -> list[RecordEntry]:
    """Walk the file's record headers (no image is read) and return every record's entry."""
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read ({' '.join(str(exc).split())[:100]})", path=where) from None
    entries: list[RecordEntry] = []
    with fh:
        reader = lambda off, n: _read_at(fh, off, n)  # noqa: E731
        pos = 0
        while pos < size:
            head = _read_at(fh, pos, _HEADER)
            if not entries and head[:4] not in MAGICS:
                raise DataError("not a FLIR FFF/SEQ/CSQ file (no FFF record at its start)", path=where)
            entry = parse_record_header(head, reader, pos, size, where)
            entries.append(entry)
            pos = entry.end
            if pos >= size:
                break
            # records follow one another, possibly after a few zero bytes of padding
            gap = _read_at(fh, pos, min(_MAX_PADDING, size - pos))
            skip = len(gap) - len(gap.lstrip(b"\x00"))
            if skip == len(gap) and pos + skip >= size:
                break
            pos += skip
    if not entries:
        raise DataError("empty file", path=where)
    return entries


def _jpeg_kind(body: bytes) -> str:
    """"jpegls" when the JPEG stream's frame header is SOF55 (JPEG-LS), else "jpeg"; the
    segments before it (APPn, e.g. CharLS's SPIFF header) are skipped."""
    pos = 2
    for _ in range(64):
        if pos + 4 > len(body) or body[pos] != 0xFF:
            break
        marker = body[pos + 1]
        if marker == 0xF7:
            return "jpegls"
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return "jpeg"
        pos += 2 + int.from_bytes(body[pos + 2 : pos + 4], "big")
    return "jpeg"


def decode_raw(data: bytes, *, endian: str, where: str, expected_length: int) -> np.ndarray:
    """A RawData record's bytes (header included) → (H, W) uint16 counts."""
    if len(data) < _RAW_HEADER:
        raise DataError("truncated file: raw image header cut off", path=where)
    if struct.unpack_from(endian + "H", data, 0)[0] != 2:
        endian = ">" if endian == "<" else "<"
    width, height = struct.unpack_from(endian + "HH", data, 2)
    if width == 0 or height == 0:
        raise DataError(f"raw image of size {width}×{height}", path=where)
    body = data[_RAW_HEADER:]
    short = len(data) < expected_length
    import imagecodecs

    def _decode(fn, name: str) -> np.ndarray:
        try:
            return np.asarray(fn(body))
        except Exception as exc:  # the codecs raise their own error classes
            cause = "truncated file: " if short else ""
            raise DataError(f"{cause}cannot decode the {name} raw image ({type(exc).__name__}: {' '.join(str(exc).split())[:80]})", path=where) from None

    jpeg = _jpeg_kind(body) if body[:2] == _SOI else None
    if jpeg == "jpegls":
        # the stream must end in its EOI marker (records pad it with a few bytes): CharLS can
        # spend tens of seconds on a stream cut short before it reports the error
        end = body.rfind(b"\xff\xd9", max(0, len(body) - 64))
        if end < 0:
            cause = "truncated file: " if short else ""
            raise DataError(f"{cause}cannot decode the JPEG-LS raw image (no end-of-image marker)", path=where)
        body = body[: end + 2]
        image = _decode(imagecodecs.jpegls_decode, "JPEG-LS")
    elif body[:4] == _PNG:
        image = _decode(imagecodecs.png_decode, "PNG")
        if image.dtype == np.uint16:
            image = image.byteswap()  # FLIR stores PNG counts in the other byte order
    elif body[:4] in _TIFF:
        image = _decode(imagecodecs.tiff_decode, "TIFF")
    elif jpeg is not None:
        raise DataError("unsupported raw image compression (JPEG, not JPEG-LS); thermcli reads uncompressed, JPEG-LS, PNG and TIFF raw data", path=where)
    else:
        need = width * height * 2
        if len(body) < need:
            if expected_length - _RAW_HEADER >= need:
                raise DataError(f"truncated file: raw image has {len(body)} of {need} bytes", path=where)
            raise DataError(
                f"unsupported raw image compression (first bytes {body[:4].hex()}, {len(body)} bytes for {width}×{height}); "
                "thermcli reads uncompressed, JPEG-LS, PNG and TIFF raw data",
                path=where,
            )
        image = np.frombuffer(body, dtype=np.dtype(endian + "u2"), count=width * height).reshape(height, width)
    if image.ndim != 2 or image.shape != (height, width):
        raise DataError(f"raw image decodes to shape {image.shape}, the record says {height}×{width}", path=where)
    if image.dtype.kind != "u" or image.dtype.itemsize != 2:
        raise DataError(f"raw image holds {image.dtype} values, not 16-bit counts", path=where)
    return image.astype(np.uint16, copy=False)  # native byte order


@dataclass
class Frame:
    index: int
    celsius: np.ndarray
    info: CameraInfo
    params: ObjectParameters  # after overrides
    timestamp: float  # seconds since the recording's first record


class FlirRecording:
    """An indexed FLIR ``.seq``/``.csq``/``.fff`` file; frames are read on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.where = str(self.path)
        self.entries = index_records(self.path)
        self._fh: BinaryIO | None = None
        self._last_info: tuple[bytes, CameraInfo] | None = None
        try:
            self.first = self.camera_info(0)
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def n(self) -> int:
        return len(self.entries)

    def _file(self) -> BinaryIO:
        if self._fh is None:
            self._fh = open(self.path, "rb")
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "FlirRecording":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _where(self, index: int) -> str:
        return f"{self.where} (frame {index})"

    def camera_info(self, index: int) -> CameraInfo:
        entry = self.entries[index]
        data = _read_at(self._file(), entry.camera_offset, entry.camera_length)
        # consecutive records usually differ only in their time stamp: parse that alone then
        stamp = slice(0x384, 0x38E)
        rest = data[: stamp.start] + data[stamp.stop :]
        if self._last_info is not None and self._last_info[0] == rest and len(data) >= _CAMERA_INFO_MIN:
            previous = self._last_info[1]
            endian = entry.endian if struct.unpack_from(entry.endian + "H", data, 0)[0] == 2 else ("<" if entry.endian == ">" else ">")
            seconds, millis, tz = struct.unpack_from(endian + "IIh", data, stamp.start)
            return replace(previous, time_s=int(seconds), time_ms=int(millis & 0xFFFF), tz_minutes=int(tz))
        info = parse_camera_info(data, entry.endian, where=self._where(index))
        self._last_info = (rest, info)
        return info

    def raw(self, index: int) -> np.ndarray:
        entry = self.entries[index]
        data = _read_at(self._file(), entry.raw_offset, entry.raw_length)
        return decode_raw(data, endian=entry.endian, where=self._where(index), expected_length=entry.raw_length)

    def timestamp(self, info: CameraInfo) -> float:
        return (info.time_s - self.first.time_s) + (info.time_ms - self.first.time_ms) / 1000.0

    def frame(self, index: int, overrides: Overrides = Overrides(), plausible: tuple[float, float] | None = None) -> Frame:
        info = self.camera_info(index)
        params = overrides.apply(info.params)
        raw = self.raw(index)
        table = celsius_table(params, info.planck)
        celsius = np.take(table, raw)
        if plausible is not None:
            _check_frame(celsius, raw, table, plausible, self._where(index))
        return Frame(index, celsius, info, params, self.timestamp(info))

    def iter_frames(self, selection, overrides: Overrides = Overrides(), plausible: tuple[float, float] | None = None) -> Iterator[Frame]:
        for index in selection:
            yield self.frame(int(index), overrides, plausible)


def _check_frame(celsius: np.ndarray, raw: np.ndarray, table: np.ndarray, plausible: tuple[float, float], where: str) -> None:
    """The plausibility check of ``thermcli.io.camera``, skipped when the frame's lowest and
    highest counts already map inside the range (the table rises with the counts)."""
    lo, hi = plausible
    t_lo, t_hi = float(table[int(raw.min())]), float(table[int(raw.max())])
    if np.isfinite(t_lo) and np.isfinite(t_hi) and lo <= t_lo and t_hi <= hi:
        return
    from thermcli.io.camera import check_plausible

    check_plausible(celsius, path=where, plausible=plausible)


def recording_attrs(recording: FlirRecording) -> dict[str, Any]:
    """What a dataset records about one recording (provenance-like: differs per file)."""
    first = recording.first
    return {
        "path": recording.where,
        "records": recording.n,
        "start": first.iso_time(),
        "frame_rate": first.frame_rate,
    }
