"""Radiometric camera files → float32 °C, through maintained readers.

============================  ===================  ==========================================
file                          reader               overrides
============================  ===================  ==========================================
FLIR R-JPEG (``.jpg``)        ``flyr``             emissivity, ambient (reflected + atmosphere)
InfiRay ``.irg``              ``infiray_irg``      none (the file stores final temperatures)
DJI R-JPEG (``.jpg``)         —                    needs the DJI Thermal SDK (native); refused
============================  ===================  ==========================================

Why no DJI reader: the only pure-Python one on the registry (``dji-thermal-cli``) needs
Python ≥ 3.12 and is AGPL; everything else wraps DJI's native SDK. A DJI file gets a one-line
per-file error that says so.

Every decoded image passes a plausibility check: a decoder that misreads a file's Planck constants
or byte order (as ``flyr`` does on the FLIR B60 sample) produces temperatures no LWIR camera
measures, and that must be an error, not a dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError

KELVIN_OFFSET = 273.15
# Uncooled LWIR cameras calibrate from −40 °C at the lowest (FLIR's lowest range) up to ~2000 °C.
DEFAULT_PLAUSIBLE = (-40.0, 2000.0)
# Share of pixels allowed outside the plausible range (a hot spark or clear sky may clip a few).
PLAUSIBLE_OUTLIER_SHARE = 0.01


@dataclass
class Thermogram:
    """One decoded radiometric image."""

    celsius: np.ndarray  # (H, W) float32 °C
    camera: str  # "flir" or "infiray"
    attrs: dict[str, Any] = field(default_factory=dict)


def _jpeg_head(path: Path, size: int = 1 << 16) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def radiometric_kind(path: str | os.PathLike) -> str | None:
    """``"flir"``, ``"dji"``, ``"infiray"`` or None (a plain image) from the file's first bytes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".irg":
        return "infiray"
    if suffix not in (".jpg", ".jpeg"):
        return None
    try:
        head = _jpeg_head(path)
    except OSError:
        return None
    if not head.startswith(b"\xff\xd8"):
        return None
    if b"FLIR\x00" in head:
        return "flir"
    # DJI R-JPEGs carry "DJI" as the EXIF maker and a thermal APP segment (APP3/APP4 "DJI" blocks)
    if b"DJI" in head and (b"\xff\xe3" in head or b"\xff\xe4" in head or b"drone-dji" in head):
        return "dji"
    return None


def check_plausible(celsius: np.ndarray, *, path: str, plausible: tuple[float, float] = DEFAULT_PLAUSIBLE) -> None:
    """Raise ``DataError`` when more than 1 % of the pixels lie outside ``plausible`` (°C)."""
    lo, hi = plausible
    finite = np.isfinite(celsius)
    if not finite.any():
        raise DataError("decoded to no finite temperature", path=path)
    values = celsius[finite]
    outside = float(np.mean((values < lo) | (values > hi)))
    if outside > PLAUSIBLE_OUTLIER_SHARE:
        raise DataError(
            f"decodes to implausible temperatures {float(values.min()):.1f}…{float(values.max()):.1f} °C "
            f"({outside:.0%} of pixels outside {lo:g}…{hi:g} °C); the reader misreads this camera",
            path=path,
        )


def read_flir(path: Path, *, emissivity: float | None = None, ambient: float | None = None) -> Thermogram:
    """A FLIR R-JPEG through ``flyr``: exactly flyr's ``celsius``, as float32."""
    import flyr

    try:
        thermogram = flyr.unpack(str(path))
    except Exception as exc:  # flyr raises ValueError/KeyError/struct.error on files it cannot parse
        raise DataError(f"flyr cannot read this FLIR file ({type(exc).__name__}: {_short(exc)})", path=str(path)) from None
    adjust: dict[str, float] = {}
    if emissivity is not None:
        adjust["emissivity"] = float(emissivity)
    if ambient is not None:
        kelvin = float(ambient) + KELVIN_OFFSET
        adjust["reflected_apparent_temperature"] = kelvin
        adjust["atmospheric_temperature"] = kelvin
    if adjust:
        thermogram = thermogram.adjust_metadata(**adjust)
    try:
        celsius = np.asarray(thermogram.celsius, dtype=np.float32)
        metadata = dict(thermogram.metadata)
    except Exception as exc:
        raise DataError(f"flyr cannot convert this file to °C ({type(exc).__name__}: {_short(exc)})", path=str(path)) from None
    metadata.update(adjust)
    attrs = {
        "emissivity": float(metadata.get("emissivity", np.nan)),
        "reflected_celsius": float(metadata.get("reflected_apparent_temperature", np.nan)) - KELVIN_OFFSET,
        "atmospheric_celsius": float(metadata.get("atmospheric_temperature", np.nan)) - KELVIN_OFFSET,
        "object_distance_m": float(metadata.get("object_distance", np.nan)),
    }
    return Thermogram(celsius=celsius, camera="flir", attrs=attrs)


def read_infiray(path: Path) -> Thermogram:
    """An InfiRay ``.irg`` through ``infiray_irg``: its fine (radiometric) image, as float32 °C."""
    import warnings

    import infiray_irg

    try:
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _coarse, fine, _visible = infiray_irg.load(data)
    except OSError as exc:
        raise DataError(f"cannot read ({_short(exc)})", path=str(path)) from None
    except Exception as exc:
        raise DataError(f"infiray_irg cannot read this file ({type(exc).__name__}: {_short(exc)})", path=str(path)) from None
    return Thermogram(celsius=np.asarray(fine, dtype=np.float32), camera="infiray", attrs={})


def read_radiometric(
    path: str | os.PathLike,
    *,
    emissivity: float | None = None,
    ambient: float | None = None,
    plausible: tuple[float, float] = DEFAULT_PLAUSIBLE,
) -> Thermogram:
    """Decode one radiometric file to float32 °C, or raise a one-line ``DataError`` naming it.

    ``emissivity`` (0 < e ≤ 1) and ``ambient`` (°C, used for the reflected and atmospheric
    temperature) override the file's own settings; a reader that cannot apply them refuses the
    file rather than silently ignoring them.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such file", path=where)
    kind = radiometric_kind(path)
    if kind == "flir":
        thermogram = read_flir(path, emissivity=emissivity, ambient=ambient)
    elif kind == "infiray":
        if emissivity is not None or ambient is not None:
            raise DataError("InfiRay .irg files store final temperatures: emissivity/ambient overrides cannot be applied", path=where)
        thermogram = read_infiray(path)
    elif kind == "dji":
        raise DataError(
            "DJI R-JPEG: decoding needs DJI's native Thermal SDK (no pure-Python reader for this Python); "
            "convert with the SDK's dji_irp to a float32 TIFF and import that with --unit celsius",
            path=where,
        )
    else:
        raise DataError("not a radiometric file this thermcli reads (FLIR R-JPEG or InfiRay .irg)", path=where)
    if thermogram.celsius.ndim != 2 or thermogram.celsius.size == 0:
        raise DataError(f"decoded to an image of shape {thermogram.celsius.shape}", path=where)
    check_plausible(thermogram.celsius, path=where, plausible=plausible)
    return thermogram


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:100] or "no message"
