"""The RGB→thermal ``Transform`` of ``thermcli align``: the homography and its record, read from
and written to JSON, and checked against the frames it is applied to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError

TRANSFORM_KIND = "homography"
# ---- the transform ---------------------------------------------------------------------------


@dataclass
class Transform:
    """An RGB→thermal pixel homography and its record (sizes are (width, height))."""

    matrix: np.ndarray
    source_size: tuple[int, int] | None
    target_size: tuple[int, int] | None
    method: str
    error_px: float | None = None
    source: str = "rgb"
    target: str = "thermal"
    source_intrinsics: tuple[np.ndarray, np.ndarray] | None = None
    target_intrinsics: tuple[np.ndarray, np.ndarray] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": TRANSFORM_KIND,
            "source": self.source,
            "target": self.target,
            "matrix": np.asarray(self.matrix, np.float64).tolist(),
            "source_size": list(self.source_size) if self.source_size else None,
            "target_size": list(self.target_size) if self.target_size else None,
            "method": self.method,
            "error_px": None if self.error_px is None else float(self.error_px),
            "convention": "maps source pixel (x, y, 1) to target pixel; pixel centres at integer coordinates",
        }
        for name, value in (("source_intrinsics", self.source_intrinsics), ("target_intrinsics", self.target_intrinsics)):
            if value is not None:
                doc[name] = {"camera_matrix": value[0].tolist(), "distortion": value[1].tolist()}
        doc.update(self.details)
        return doc


def read_transform(path: str | Path) -> Transform:
    """A transform JSON written by ``thermcli align`` (or ``thermcli synth tug``), checked."""
    from thermcli.ops.registration import homography_problem

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such transform file", path=where)
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({' '.join(str(exc).split())[:80]})", path=where) from None
    if not isinstance(doc, dict) or doc.get("kind") != TRANSFORM_KIND or "matrix" not in doc:
        raise DataError(f"not a transform file (expected kind {TRANSFORM_KIND!r} and a matrix)", path=where)
    try:
        matrix = np.asarray(doc["matrix"], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("the matrix is not numeric", path=where) from None
    sizes = []
    for key in ("source_size", "target_size"):
        value = doc.get(key)
        if value is not None and (len(value) != 2 or min(int(v) for v in value) < 1):
            raise DataError(f"{key} must be [width, height], got {value}", path=where)
        sizes.append(tuple(int(v) for v in value) if value is not None else None)
    problem = homography_problem(matrix, sizes[0], sizes[1])
    if problem:
        raise DataError(problem, path=where)
    intrinsics = []
    for key in ("source_intrinsics", "target_intrinsics"):
        value = doc.get(key)
        intrinsics.append(
            None if value is None else (np.asarray(value["camera_matrix"], np.float64), np.asarray(value["distortion"], np.float64))
        )
    known = {"kind", "source", "target", "matrix", "source_size", "target_size", "method", "error_px", "convention",
             "source_intrinsics", "target_intrinsics", "provenance"}
    return Transform(
        matrix=matrix / matrix[2, 2],
        source_size=sizes[0],
        target_size=sizes[1],
        method=str(doc.get("method", "unknown")),
        error_px=doc.get("error_px"),
        source=str(doc.get("source", "rgb")),
        target=str(doc.get("target", "thermal")),
        source_intrinsics=intrinsics[0],
        target_intrinsics=intrinsics[1],
        details={k: v for k, v in doc.items() if k not in known},
    )


def check_sizes(transform: Transform, rgb_size: tuple[int, int], thermal_size: tuple[int, int], where: str) -> None:
    """Refuse a transform made for other image sizes (it would silently misalign)."""
    for made, have, name in ((transform.source_size, rgb_size, "RGB"), (transform.target_size, thermal_size, "thermal")):
        if made is not None and tuple(made) != tuple(have):
            raise DataError(
                f"the transform was made for {name} frames of {made[0]}×{made[1]} but the data's are {have[0]}×{have[1]}",
                path=where,
            )


def write_transform(path: Path, transform: Transform, provenance: dict[str, Any], *, force: bool) -> None:
    from thermcli.errors import OutputExistsError
    from thermcli.io import write_text_atomic

    if path.exists() and not force:
        raise OutputExistsError(f"output {path} exists; pass --force to overwrite it", param="--save-transform")
    doc = transform.to_json()
    doc["provenance"] = provenance
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n", force=True)


def describe(transform: Transform) -> str:
    err = "n/a" if transform.error_px is None else f"{transform.error_px:.3f} px"
    return f"{transform.method}; reprojection error {err}"
