"""Build FLIR FFF records and .seq files for tests from the real records inside FLIR R-JPEGs.

Written from ExifTool's FLIR tag documentation, independently of ``thermcli.io.fff``: the
tests' files are made here and read there.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = b"FFF\x00"


def fff_from_jpeg(path: Path) -> bytes:
    """The FFF file an R-JPEG carries: its ``FLIR\\0`` APP1 segments' payloads, in chunk order."""
    data = Path(path).read_bytes()
    assert data[:2] == b"\xff\xd8"
    chunks: dict[int, bytes] = {}
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment[:5] == b"FLIR\x00":
            chunks[segment[6]] = segment[8:]
        pos += 2 + length
    assert chunks, f"{path}: no FLIR segments"
    return b"".join(chunks[k] for k in sorted(chunks))


def records_of(fff: bytes) -> tuple[str, dict[int, bytes]]:
    """(header byte order, {record type: record bytes}) of one FFF file."""
    assert fff[:4] == MAGIC
    endian = "<" if 100 <= struct.unpack_from("<I", fff, 20)[0] < 200 else ">"
    dir_offset, count = struct.unpack_from(endian + "II", fff, 24)
    out: dict[int, bytes] = {}
    for k in range(count):
        kind, _sub, _ver, _id, offset, length = struct.unpack_from(endian + "HHIIII", fff, dir_offset + 32 * k)
        if kind and kind not in out:
            out[kind] = fff[offset : offset + length]
    return endian, out


def raw_header(record: bytes) -> tuple[str, int, int]:
    """(byte order, width, height) of a RawData record (its first uint16 is 2)."""
    endian = "<" if struct.unpack_from("<H", record, 0)[0] == 2 else ">"
    width, height = struct.unpack_from(endian + "HH", record, 2)
    return endian, width, height


def raw_counts(record: bytes) -> np.ndarray:
    """A RawData record's counts, decoded with imagecodecs (PNG counts are byte-swapped)."""
    import imagecodecs

    endian, width, height = raw_header(record)
    body = record[32:]
    if body[:4] == b"\x89PNG":
        return imagecodecs.png_decode(body).byteswap()
    if body[:4] in (b"II*\x00", b"MM\x00*"):
        return imagecodecs.tiff_decode(body)
    if body[:4] == b"\xff\xd8\xff\xf7":
        return imagecodecs.jpegls_decode(body)
    return np.frombuffer(body, endian + "u2", width * height).reshape(height, width)


def with_time(camera_info: bytes, seconds: int, millis: int, tz_minutes: int = 0) -> bytes:
    """CameraInfo with its time stamp (0x384: uint32 s, uint32 ms, int16 tz) replaced."""
    endian = "<" if struct.unpack_from("<H", camera_info, 0)[0] == 2 else ">"
    out = bytearray(camera_info)
    struct.pack_into(endian + "IIh", out, 0x384, seconds, millis, tz_minutes)
    return bytes(out)


def with_float(camera_info: bytes, offset: int, value: float) -> bytes:
    endian = "<" if struct.unpack_from("<H", camera_info, 0)[0] == 2 else ">"
    out = bytearray(camera_info)
    struct.pack_into(endian + "f", out, offset, value)
    return bytes(out)


def raw_record(counts: np.ndarray, compression: str = "none", endian: str = "<") -> bytes:
    """A RawData record: 32-byte header (2, width, height) + counts uncompressed, as JPEG-LS
    (as in .csq) or as byte-swapped PNG (as in R-JPEGs)."""
    import imagecodecs

    height, width = counts.shape
    header = bytearray(32)
    struct.pack_into(endian + "HHH", header, 0, 2, width, height)
    counts = np.ascontiguousarray(counts, dtype=np.uint16)
    if compression == "none":
        body = counts.astype(endian + "u2").tobytes()
    elif compression == "jpegls":
        body = bytes(imagecodecs.jpegls_encode(counts))
    elif compression == "png":
        body = bytes(imagecodecs.png_encode(counts.byteswap()))
    else:
        raise ValueError(compression)
    return bytes(header) + body


def fff_record(camera_info: bytes, raw: bytes, *, endian: str = "<", extra: dict[int, bytes] | None = None, pad_to: int = 1) -> bytes:
    """One FFF record: 64-byte header, directory, CameraInfo (type 0x20), RawData (type 1)."""
    parts = [(0x20, camera_info), (0x01, raw)] + sorted((extra or {}).items())
    dir_offset = 64
    offset = dir_offset + 32 * len(parts)
    header = bytearray(64)
    header[:4] = MAGIC
    header[4:4 + 8] = b"thermcli"
    struct.pack_into(endian + "III", header, 20, 101, dir_offset, len(parts))
    directory = bytearray()
    body = bytearray()
    for k, (kind, payload) in enumerate(parts):
        directory += struct.pack(endian + "HHIIIIIII", kind, 1, 100, k + 1, offset + len(body), len(payload), 0, 0, 0)
        body += payload
        body += b"\x00" * ((-len(body)) % 4)
    record = bytes(header) + bytes(directory) + bytes(body)
    return record + b"\x00" * ((-len(record)) % pad_to)


def write_seq(path: Path, records: list[bytes]) -> Path:
    Path(path).write_bytes(b"".join(records))
    return Path(path)


def reference_celsius(raw, *, emissivity, distance, reflected_c, atmospheric_c, window_c, window_transmission, humidity,
                      r1, r2, b, f, o, alpha1, alpha2, beta1, beta2, x) -> np.ndarray:
    """The published FLIR raw → °C conversion (ExifTool forum / Thermimage ``raw2temp``),
    written out here in float64 as an independent reference; ``humidity`` is 0..1."""
    raw = np.asarray(raw, dtype=np.float64)
    t_atm = atmospheric_c
    h2o = humidity * np.exp(1.5587 + 0.06939 * t_atm - 0.00027816 * t_atm**2 + 0.00000068455 * t_atm**3)
    tau = x * np.exp(-np.sqrt(distance / 2) * (alpha1 + beta1 * np.sqrt(h2o))) + (1 - x) * np.exp(
        -np.sqrt(distance / 2) * (alpha2 + beta2 * np.sqrt(h2o))
    )

    def radiance(celsius):
        return r1 / (r2 * (np.exp(b / (celsius + 273.15)) - f)) - o

    emiss_wind = 1 - window_transmission
    raw_refl = radiance(reflected_c)
    raw_atm = radiance(atmospheric_c)
    raw_wind = radiance(window_c)
    obj = (
        raw / emissivity / tau / window_transmission / tau
        - (1 - emissivity) / emissivity * raw_refl
        - (1 - tau) / emissivity / tau * raw_atm
        - emiss_wind / emissivity / tau / window_transmission * raw_wind
        - (1 - tau) / emissivity / tau / window_transmission / tau * raw_atm
    )
    with np.errstate(all="ignore"):
        return b / np.log(r1 / (r2 * (obj + o)) + f) - 273.15


def exiftool_reference_args(tags: dict) -> dict:
    """``reference_celsius`` keywords from ExifTool ``-j -n`` tags (temperatures in °C)."""
    number = lambda key: float(tags[key])  # noqa: E731  (ExifTool writes some numbers as strings)
    humidity = number("RelativeHumidity")
    return dict(
        emissivity=number("Emissivity"), distance=number("ObjectDistance"),
        reflected_c=number("ReflectedApparentTemperature"), atmospheric_c=number("AtmosphericTemperature"),
        window_c=number("IRWindowTemperature"), window_transmission=number("IRWindowTransmission"),
        humidity=humidity / 100 if humidity > 2 else humidity,
        r1=number("PlanckR1"), r2=number("PlanckR2"), b=number("PlanckB"), f=number("PlanckF"), o=number("PlanckO"),
        alpha1=number("AtmosphericTransAlpha1"), alpha2=number("AtmosphericTransAlpha2"),
        beta1=number("AtmosphericTransBeta1"), beta2=number("AtmosphericTransBeta2"), x=number("AtmosphericTransX"),
    )


def split_at_magic(data: bytes) -> list[bytes]:
    """A recording cut into its records at every ``FFF\\0`` (the tests' own record finder)."""
    import re

    starts = [m.start() for m in re.finditer(re.escape(MAGIC), data)]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def jpegls_stream(record: bytes) -> bytes:
    """The JPEG-LS image inside a .csq record: from its SOI/SOF55 marker to its last EOI."""
    start = record.index(b"\xff\xd8\xff\xf7")
    end = record.rindex(b"\xff\xd9") + 2
    return record[start:end]
