"""``thermcli align``: RGB↔thermal registration, time synchronisation and person crops.

The library API behind the command:

- ``calibrate(DIR, ...)``, ``transform_from_points(CSV, ...)``, ``transform_auto(...)`` estimate
  a ``Transform`` (RGB→thermal homography + how it was made and how well it fits);
- ``read_transform`` / ``Transform.to_json`` store it as JSON for later recordings;
- ``synchronise(thermal, rgb, ...)`` pairs the two streams' frames by timestamp;
- ``run_align(...)`` does all of it and writes the paired (warped, cropped) dataset.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from thermcli.errors import DataError

TRANSFORM_KIND = "homography"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


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


# ---- estimation: calibration target ----------------------------------------------------------


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError("cannot read the image", path=str(path))
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
    return image


def calibration_views(folder: Path) -> list[tuple[str, Path, Path]]:
    """(name, rgb image, thermal image) pairs in a calibration folder, matched by what follows the
    ``rgb``/``thermal`` prefix of the file name (``rgb0000.jpg`` ↔ ``thermal0000.jpg``)."""
    if not folder.is_dir():
        raise DataError("no such calibration folder", path=str(folder))
    sides: dict[str, dict[str, Path]] = {"rgb": {}, "thermal": {}}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = re.match(r"(rgb|visible|vis|thermal|ir|lwir)[_\-]?(.*)$", path.stem, re.IGNORECASE)
        if not match:
            continue
        side = "rgb" if match.group(1).lower() in ("rgb", "visible", "vis") else "thermal"
        sides[side][match.group(2)] = path
    keys = sorted(set(sides["rgb"]) & set(sides["thermal"]))
    if not keys:
        raise DataError("no rgb*/thermal* image pairs (e.g. rgb0000.jpg + thermal0000.jpg) in the calibration folder",
                        path=str(folder))
    return [(key or "0", sides["rgb"][key], sides["thermal"][key]) for key in keys]


def read_intrinsics_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from thermcli.ops.registration import parse_intrinsics

    if not path.is_file():
        raise DataError("no such intrinsics file (needed by --undistort)", path=str(path))
    return parse_intrinsics(path.read_text(), where=str(path))


def calibrate(folder: str | Path, *, pattern: tuple[int, int] = (6, 5), target: str = "chessboard",
              polarity: str = "auto", undistort: bool = False, min_views: int = 1,
              ransac_px: float = 3.0) -> Transform:
    """RGB→thermal homography from a calibration target seen by both cameras.

    Views where the target is not found in either image are skipped, named and counted
    (``details["skipped"]``); fewer than ``min_views`` usable views is a ``DataError``.
    With ``undistort`` the corners are first undistorted with ``rgb_intrinsic.txt`` and
    ``thermal_intrinsic.txt`` from the folder, and the homography relates undistorted pixels.
    """
    from thermcli.ops.registration import estimate_homography, find_target, reprojection_errors, undistort_points

    folder = Path(folder)
    views = calibration_views(folder)
    rgb_k = thermal_k = None
    if undistort:
        rgb_k = read_intrinsics_file(folder / "rgb_intrinsic.txt")
        thermal_k = read_intrinsics_file(folder / "thermal_intrinsic.txt")
    source_points, target_points, used, skipped = [], [], [], []
    sizes: dict[str, tuple[int, int]] = {}
    for name, rgb_path, thermal_path in views:
        missing = []
        found = {}
        for side, path, pol in (("rgb", rgb_path, "auto"), ("thermal", thermal_path, polarity)):
            image = _read_image(path)
            size = (int(image.shape[1]), int(image.shape[0]))
            if side in sizes and sizes[side] != size:
                raise DataError(f"{side} calibration images differ in size: {size[0]}×{size[1]} here, "
                                f"{sizes[side][0]}×{sizes[side][1]} before", path=str(path))
            sizes[side] = size
            points, used_polarity = find_target(image, pattern, kind=target, polarity=pol)
            if points is None:
                missing.append(f"{path.name} ({side}: {target} {pattern[0]}x{pattern[1]} not found)")
            found[side] = (points, used_polarity)
        if missing:
            skipped.extend(missing)
            continue
        src, dst = found["rgb"][0], found["thermal"][0]
        if undistort:
            src = undistort_points(src, *rgb_k)
            dst = undistort_points(dst, *thermal_k)
        source_points.append(src)
        target_points.append(dst)
        used.append({"view": name, "thermal_polarity": found["thermal"][1], "rgb_polarity": found["rgb"][1]})
    if len(used) < min_views:
        listing = "; ".join(skipped) if skipped else "none"
        raise DataError(f"calibration target found in {len(used)} of {len(views)} views (need at least {min_views}); "
                        f"skipped: {listing}", path=str(folder))
    src = np.concatenate(source_points)
    dst = np.concatenate(target_points)
    h, inliers = estimate_homography(src, dst, ransac_px=ransac_px, source_size=sizes["rgb"],
                                     target_size=sizes["thermal"], where=str(folder))
    errors = reprojection_errors(h, src, dst)
    per_view = []
    start = 0
    for info, pts in zip(used, source_points):
        e = errors[start : start + len(pts)]
        per_view.append({**info, "rms_px": float(np.sqrt(np.mean(e**2))), "max_px": float(e.max())})
        start += len(pts)
    rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    return Transform(
        matrix=h,
        source_size=sizes["rgb"],
        target_size=sizes["thermal"],
        method=f"calibration target ({target} {pattern[0]}x{pattern[1]}, RANSAC{', undistorted' if undistort else ''})",
        error_px=rms,
        source_intrinsics=rgb_k,
        target_intrinsics=thermal_k,
        details={
            "reprojection": {"rms_px": rms, "max_px": float(errors.max()), "points": int(len(src)),
                             "inliers": int(inliers.sum()), "per_view": per_view},
            "views": {"used": len(used), "skipped": len(skipped), "skipped_names": skipped},
        },
    )


# ---- estimation: clicked point pairs ---------------------------------------------------------


def read_point_pairs(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Point pairs from a CSV: a header with ``rgb_x,rgb_y,thermal_x,thermal_y`` (any order,
    other columns ignored), or four numeric columns in that order without a header."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such point-pairs file", path=where)
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError("no point pairs in the file", path=where)
    wanted = ["rgb_x", "rgb_y", "thermal_x", "thermal_y"]
    header = [c.strip().lower() for c in rows[0]]
    if all(name in header for name in wanted):
        index = [header.index(name) for name in wanted]
        body = rows[1:]
        first_line = 2
    else:
        try:
            [float(c) for c in rows[0][:4]]
        except ValueError:
            raise DataError(f"expected columns {', '.join(wanted)}, got {', '.join(header)}", path=where) from None
        index = [0, 1, 2, 3]
        body = rows
        first_line = 1
    values = []
    for line_no, row in enumerate(body, start=first_line):
        try:
            values.append([float(row[i]) for i in index])
        except (ValueError, IndexError):
            raise DataError(f"line {line_no}: expected 4 numbers, got {','.join(row)}", path=where) from None
    array = np.array(values, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(array)):
        raise DataError("point pairs hold NaN or infinite values", path=where)
    return array[:, :2], array[:, 2:]


def transform_from_points(path: str | Path, *, rgb_size: tuple[int, int] | None = None,
                          thermal_size: tuple[int, int] | None = None, ransac_px: float = 3.0) -> Transform:
    from thermcli.ops.registration import estimate_homography, reprojection_errors

    src, dst = read_point_pairs(path)
    h, inliers = estimate_homography(src, dst, ransac_px=ransac_px, source_size=rgb_size, target_size=thermal_size,
                                     where=str(path))
    errors = reprojection_errors(h, src, dst)
    rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    return Transform(
        matrix=h, source_size=rgb_size, target_size=thermal_size, method="point pairs (RANSAC)", error_px=rms,
        details={"reprojection": {"rms_px": rms, "max_px": float(errors.max()), "points": int(len(src)),
                                  "inliers": int(inliers.sum())}},
    )


# ---- estimation: automatic -------------------------------------------------------------------


def default_initial(rgb_size: tuple[int, int], thermal_size: tuple[int, int]) -> np.ndarray:
    """Initial guess when none is given: the RGB frame scaled to fill the thermal frame's width,
    centred (cameras side by side, looking the same way)."""
    sw, sh = rgb_size
    tw, th = thermal_size
    s = tw / sw
    return np.array([[s, 0, (tw - 1) / 2 - s * (sw - 1) / 2], [0, s, (th - 1) / 2 - s * (sh - 1) / 2], [0, 0, 1.0]])


def transform_auto(rgb_frames: Sequence[np.ndarray], thermal_frames: Sequence[np.ndarray], *,
                   initial: np.ndarray | None = None, levels: int = 4) -> Transform:
    """Automatic multimodal registration over several synchronised frame pairs: ECC on edge maps
    per pair (``register_ecc``: several starts around the initial guess found by a coarse
    correlation search, the best-fitting one refined coarse to fine); the result is the
    per-corner median of the pairs' estimates (robust to a pair that fails)."""
    import cv2

    from thermcli.ops.registration import apply_homography, homography_problem, image_corners, register_ecc

    rgb_size = (int(rgb_frames[0].shape[1]), int(rgb_frames[0].shape[0]))
    thermal_size = (int(thermal_frames[0].shape[1]), int(thermal_frames[0].shape[0]))
    init = default_initial(rgb_size, thermal_size) if initial is None else np.asarray(initial, np.float64)
    estimates, correlations, failures = [], [], 0
    for rgb, thermal in zip(rgb_frames, thermal_frames):
        try:
            h, cc = register_ecc(rgb, thermal, initial=init, levels=levels)
        except DataError:
            failures += 1
            continue
        if homography_problem(h, rgb_size, thermal_size):
            failures += 1
            continue
        estimates.append(h)
        correlations.append(cc)
    if not estimates:
        raise DataError(f"automatic registration failed on all {len(rgb_frames)} frame pairs (no shared structure "
                        "or a poor initial guess: give --initial H.json, or use --calib/--points)")
    corners = image_corners(rgb_size)
    mapped = np.median(np.stack([apply_homography(h, corners) for h in estimates]), axis=0)
    h = cv2.getPerspectiveTransform(corners.astype(np.float32), mapped.astype(np.float32)).astype(np.float64)
    spread = float(np.median([np.mean(np.linalg.norm(apply_homography(e, corners) - mapped, axis=1)) for e in estimates]))
    return Transform(
        matrix=h / h[2, 2], source_size=rgb_size, target_size=thermal_size,
        method="automatic (ECC on edge maps, multi-start, multi-scale)", error_px=None,
        details={"auto": {"pairs_used": len(estimates), "pairs_failed": failures,
                          "median_correlation": float(np.median(correlations)),
                          "corner_spread_px": spread}},
    )


# ---- time synchronisation --------------------------------------------------------------------


@dataclass
class SyncReport:
    pairs: np.ndarray  # (K, 2) thermal row, rgb row
    skew: np.ndarray
    offset: float
    dropped_thermal: int
    dropped_rgb: int


def synchronise(thermal_reader, rgb_reader, *, max_skew: float, clock_offset: float | str = 0.0) -> SyncReport:
    """Pair thermal and RGB rows by timestamp (within the same sequence when both carry sequence
    ids). Without timestamps, rows pair one to one (equal counts required)."""
    from thermcli.ops.sync import estimate_offset, match_timestamps

    has_ts = "timestamp" in thermal_reader.fields and "timestamp" in rgb_reader.fields
    if not has_ts:
        if thermal_reader.n != rgb_reader.n:
            raise DataError(f"without timestamps the streams must have equal lengths ({thermal_reader.n} thermal "
                            f"vs {rgb_reader.n} RGB frames)", path=str(rgb_reader.path))
        rows = np.arange(thermal_reader.n)
        return SyncReport(np.stack([rows, rows], axis=1), np.zeros(len(rows)), 0.0, 0, 0)
    t_thermal = thermal_reader.read_field("timestamp")
    t_rgb = rgb_reader.read_field("timestamp")
    groups = (None, None)
    if "sequence" in thermal_reader.fields and "sequence" in rgb_reader.fields:
        groups = (thermal_reader.read_field("sequence"), rgb_reader.read_field("sequence"))
    if clock_offset == "auto":
        offset = estimate_offset(t_thermal, t_rgb, max_skew=max_skew, groups_a=groups[0], groups_b=groups[1])
    else:
        offset = float(clock_offset)
    result = match_timestamps(t_thermal, t_rgb, max_skew=max_skew, offset=offset, groups_a=groups[0], groups_b=groups[1])
    if len(result.pairs) == 0:
        raise DataError(
            f"the streams never overlap in time within --max-skew {max_skew * 1000:g} ms (clock offset {offset:g} s): "
            f"thermal {t_thermal.min():.3f}–{t_thermal.max():.3f} s, RGB {t_rgb.min():.3f}–{t_rgb.max():.3f} s",
            path=str(rgb_reader.path),
        )
    return SyncReport(result.pairs, result.skew, offset, len(result.unmatched_a), len(result.unmatched_b))


# ---- applying: geometry of the output --------------------------------------------------------


class PairGeometry:
    """Maps both streams into one output geometry: the thermal frame's (default) or, with
    ``reverse``, the RGB frame's — undistorted when the transform carries intrinsics."""

    def __init__(self, transform: Transform, rgb_size: tuple[int, int], thermal_size: tuple[int, int], *,
                 reverse: bool = False):
        from thermcli.ops.registration import apply_homography, distort_points

        self.transform = transform
        self.reverse = reverse
        self.size = rgb_size if reverse else thermal_size
        h = np.asarray(transform.matrix, np.float64)
        # output pixel → undistorted pixel of each stream
        to_thermal = h if reverse else np.eye(3)
        to_rgb = np.eye(3) if reverse else np.linalg.inv(h)
        self._to_stream = {"thermal": to_thermal, "rgb": to_rgb}
        self._from_stream = {"thermal": np.linalg.inv(to_thermal), "rgb": np.linalg.inv(to_rgb)}
        self._intrinsics = {"thermal": transform.target_intrinsics, "rgb": transform.source_intrinsics}
        w, hgt = self.size
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(hgt, dtype=np.float64))
        grid = np.stack([xs, ys], axis=-1)
        self._maps: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        for stream in ("thermal", "rgb"):
            mapping = self._to_stream[stream]
            intr = self._intrinsics[stream]
            distorted = intr is not None and np.any(intr[1] != 0)
            own = (stream == "rgb") == reverse
            if own and not distorted:
                self._maps[stream] = None  # the output is this stream's own geometry
                continue
            pts = apply_homography(mapping, grid)
            if distorted:
                pts = distort_points(pts, *intr)
            self._maps[stream] = (pts[..., 0].astype(np.float32), pts[..., 1].astype(np.float32))

    def frames(self, stream: str, frames: np.ndarray) -> np.ndarray:
        """(N, H, W[, C]) frames of ``stream`` resampled into the output geometry."""
        from thermcli.ops.registration import remap

        maps = self._maps[stream]
        if maps is None:
            return frames
        return np.stack([remap(frame, *maps) for frame in frames])

    def points(self, stream: str, points: np.ndarray) -> np.ndarray:
        """(…, 2) raw pixel points of ``stream`` → output pixels."""
        from thermcli.ops.registration import apply_homography, undistort_points

        pts = np.asarray(points, np.float64)
        intr = self._intrinsics[stream]
        if intr is not None and np.any(intr[1] != 0):
            shape = pts.shape
            pts = undistort_points(pts.reshape(-1, 2), *intr).reshape(shape)
        return apply_homography(self._from_stream[stream], pts)

    def keypoints(self, stream: str, keypoints: np.ndarray) -> np.ndarray:
        """(N, P, K, 3) keypoints of ``stream`` → output pixels; those that leave the frame get v = 0."""
        kp = np.asarray(keypoints, np.float64).copy()
        labelled = kp[..., 2] > 0
        mapped = self.points(stream, kp[..., :2])
        w, h = self.size
        inside = (mapped[..., 0] >= -0.5) & (mapped[..., 0] <= w - 0.5) & (mapped[..., 1] >= -0.5) & (mapped[..., 1] <= h - 0.5)
        keep = labelled & inside & np.all(np.isfinite(mapped), axis=-1)
        kp[..., :2] = np.where(keep[..., None], mapped, 0.0)
        kp[..., 2] = np.where(keep, kp[..., 2], 0.0)
        return kp.astype(np.float32)

    def boxes(self, stream: str, boxes: np.ndarray) -> np.ndarray:
        """(N, P, 4) boxes → the output geometry (the mapped corners' bounding box, clipped);
        a box entirely outside becomes NaN."""
        b = np.asarray(boxes, np.float64)
        x0, y0 = b[..., 0], b[..., 1]
        x1, y1 = x0 + b[..., 2], y0 + b[..., 3]
        corners = np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1), np.stack([x1, y1], -1), np.stack([x0, y1], -1)], -2)
        mapped = self.points(stream, corners)
        w, h = self.size
        lo = np.clip(mapped.min(axis=-2), [-0.5, -0.5], [w - 0.5, h - 0.5])
        hi = np.clip(mapped.max(axis=-2), [-0.5, -0.5], [w - 0.5, h - 0.5])
        out = np.concatenate([lo, hi - lo], axis=-1)
        empty = (out[..., 2] <= 0) | (out[..., 3] <= 0) | ~np.all(np.isfinite(b), axis=-1)
        out[empty] = np.nan
        return out.astype(np.float32)


# ---- box sources -----------------------------------------------------------------------------


def read_box_file(path: str | Path) -> dict[int, np.ndarray]:
    """Boxes from a CSV with columns ``row,x,y,w,h`` (thermal row index, thermal pixels; several
    rows per frame for several people)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such box file", path=where)
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    wanted = ["row", "x", "y", "w", "h"]
    if not all(name in header for name in wanted):
        raise DataError(f"expected a header with columns {', '.join(wanted)}", path=where)
    index = [header.index(name) for name in wanted]
    boxes: dict[int, list[list[float]]] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        try:
            r, x, y, w, h = (float(row[i]) for i in index)
        except (ValueError, IndexError):
            raise DataError(f"line {line_no}: expected row,x,y,w,h numbers", path=where) from None
        if w <= 0 or h <= 0:
            raise DataError(f"line {line_no}: box width and height must be > 0", path=where)
        boxes.setdefault(int(r), []).append([x, y, w, h])
    return {k: np.array(v, np.float64) for k, v in boxes.items()}


# ---- the whole command -----------------------------------------------------------------------


@dataclass(frozen=True)
class AlignConfig:
    apply: bool = False
    reverse: bool = False
    max_skew: float = 0.060
    clock_offset: float | str = 0.0
    crop: tuple[int, int] | None = None  # (height, width)
    padding: float = 1.25
    boxes: str = "dataset"  # dataset | find | path to a CSV
    labels: str = "auto"  # auto | thermal | rgb
    batch_size: int = 64


def frame_size(reader) -> tuple[int, int]:
    shape = reader.frame_shape
    return int(shape[1]), int(shape[0])


def _rgb_frames(batch) -> np.ndarray:
    """The RGB stream's pictures: its frames (modality rgb) or, failing that, its ``rgb`` field."""
    if batch.meta.modality == "rgb" or batch.rgb is None:
        return batch.frames
    return batch.rgb


def check_streams(thermal_reader, rgb_reader) -> None:
    if thermal_reader.meta.modality != "thermal":
        raise DataError(f"THERMAL must be a thermal dataset, this one's modality is {thermal_reader.meta.modality!r}",
                        path=str(thermal_reader.path))
    if len(rgb_reader.frame_shape) != 3 or rgb_reader.frame_shape[2] != 3:
        raise DataError(f"RGB frames must be (N, H, W, 3), got (N, {', '.join(map(str, rgb_reader.frame_shape))})",
                        path=str(rgb_reader.path))


def run_align(thermal_path: Path, rgb_path: Path, out: Path, transform: Transform, *, config: AlignConfig,
              provenance: dict[str, Any], force: bool = False, transform_where: str = "transform") -> dict[str, Any]:
    """Synchronise, (warp,) (crop,) and write the paired dataset; returns a JSON-able report."""
    from thermcli.io import create_writer, open_dataset
    from thermcli.progress import track

    with open_dataset(thermal_path) as thermal_reader, open_dataset(rgb_path) as rgb_reader:
        check_streams(thermal_reader, rgb_reader)
        rgb_size, thermal_size = frame_size(rgb_reader), frame_size(thermal_reader)
        check_sizes(transform, rgb_size, thermal_size, where=transform_where)
        sync = synchronise(thermal_reader, rgb_reader, max_skew=config.max_skew, clock_offset=config.clock_offset)
        apply = config.apply or config.crop is not None
        geometry = PairGeometry(transform, rgb_size, thermal_size, reverse=config.reverse) if apply else None

        labels_from = config.labels
        if labels_from == "auto":
            labels_from = "thermal" if "keypoints" in thermal_reader.fields or "boxes" in thermal_reader.fields else "rgb"
        label_reader = thermal_reader if labels_from == "thermal" else rgb_reader
        other_name = "rgb" if labels_from == "thermal" else "thermal"
        box_file = None
        if config.boxes not in ("dataset", "find"):
            box_file = read_box_file(config.boxes)
        elif config.crop is not None and config.boxes == "dataset" and "boxes" not in label_reader.fields:
            raise DataError("has no person boxes to crop around; use --boxes find or --boxes FILE.csv",
                            path=str(label_reader.path))

        meta_source = label_reader.meta
        meta = thermal_reader.meta.copy(
            keypoint_names=meta_source.keypoint_names,
            skeleton=meta_source.skeleton,
            sigmas=meta_source.sigmas,
            flip_pairs=meta_source.flip_pairs,
            box_class_names=meta_source.box_class_names or (["person"] if config.crop or config.boxes != "dataset" else None),
            class_names=thermal_reader.meta.class_names,
            attrs={
                **{k: v for k, v in thermal_reader.meta.attrs.items()},
                "align": {
                    "transform": transform.to_json(),
                    "geometry": ("rgb" if config.reverse else "thermal") if apply else "unwarped",
                    "labels_from": labels_from,
                    "crop": list(config.crop) if config.crop else None,
                    "padding": config.padding if config.crop else None,
                    "boxes": config.boxes if config.crop else None,
                },
            },
            provenance=provenance,
        )
        if apply and config.reverse:
            meta.attrs["align"]["note"] = "thermal frames warped into the RGB frame's geometry; NaN outside the thermal view"

        counts = {"pairs": int(len(sync.pairs)), "crops": 0, "pairs_without_person": 0}
        pairs = sync.pairs
        with create_writer(out, meta, force=force) as writer:
            starts = range(0, len(pairs), config.batch_size)
            for lo in track(starts, total=len(starts), description="align"):
                chunk = pairs[lo : lo + config.batch_size]
                batch = _read_rows(thermal_reader, chunk[:, 0])
                rgb_batch = _read_rows(rgb_reader, chunk[:, 1])
                paired = _pair_batch(batch, rgb_batch, chunk, sync, lo, geometry, labels_from, other_name, meta)
                if config.crop is not None:
                    paired, missing = _crop_batch(paired, config, box_file, meta)
                    counts["pairs_without_person"] += missing
                    counts["crops"] += len(paired) if paired is not None else 0
                if paired is not None and len(paired):
                    writer.append(paired)
            if writer.n == 0:
                raise DataError("no person found in any frame pair: nothing to write (try another --boxes source)",
                                path=str(thermal_path))
        return {
            "output": str(out),
            "rows": int(writer.n),
            **counts,
            "dropped": {"thermal": sync.dropped_thermal, "rgb": sync.dropped_rgb},
            "clock_offset_s": sync.offset,
            "max_abs_skew_ms": float(np.max(np.abs(sync.skew)) * 1000) if len(sync.skew) else 0.0,
            "max_skew_ms": config.max_skew * 1000,
            "transform": {"method": transform.method, "error_px": transform.error_px},
        }


def _read_rows(reader, rows: np.ndarray):
    """Rows (any order) of a dataset, reading one contiguous span (pairs are nearly sorted)."""
    lo, hi = int(rows.min()), int(rows.max()) + 1
    span = reader.read(lo, hi)
    return span.take(rows - lo)


def _pair_batch(thermal, rgb, chunk, sync, lo, geometry, labels_from, other_name, meta):
    """One batch of synchronised pairs as a dataset in the output geometry."""
    from thermcli.io import Dataset

    n = len(chunk)
    thermal_frames = thermal.frames
    rgb_frames = _rgb_frames(rgb)
    if geometry is not None:
        thermal_frames = geometry.frames("thermal", thermal_frames)
        rgb_frames = geometry.frames("rgb", rgb_frames)
        if thermal_frames.dtype.kind == "f":
            all_nan = np.isnan(thermal_frames).reshape(n, -1).all(axis=1)
            if all_nan.any():
                raise DataError("the transform maps no thermal pixel into the output frame (fields of view do not overlap)")
    source = thermal if labels_from == "thermal" else rgb
    other = rgb if labels_from == "thermal" else thermal
    keypoints = source.keypoints
    boxes = source.boxes
    columns = dict(thermal.columns)
    if geometry is not None:
        if keypoints is not None:
            keypoints = geometry.keypoints(labels_from, keypoints)
        if boxes is not None:
            boxes = geometry.boxes(labels_from, boxes)
        if other.keypoints is not None:
            columns[f"{other_name}_keypoints"] = geometry.keypoints(other_name, other.keypoints)
    elif other.keypoints is not None:
        columns[f"{other_name}_keypoints"] = other.keypoints.astype(np.float32)
    if boxes is not None and source.box_classes is None:
        box_classes = np.zeros(boxes.shape[:2], np.int32)
    else:
        box_classes = source.box_classes if boxes is not None else None
    columns["thermal_row"] = chunk[:, 0].astype(np.int64)
    columns["rgb_row"] = chunk[:, 1].astype(np.int64)
    columns["skew_s"] = sync.skew[lo : lo + n].astype(np.float64)
    if rgb.timestamp is not None:
        columns["rgb_timestamp"] = rgb.timestamp.astype(np.float64)
    for name, values in rgb.columns.items():
        columns.setdefault(f"rgb_{name}", values)
    return Dataset(
        frames=np.ascontiguousarray(thermal_frames),
        meta=meta,
        rgb=np.ascontiguousarray(rgb_frames),
        labels=thermal.labels if thermal.labels is not None else None,
        keypoints=keypoints,
        boxes=boxes,
        box_classes=box_classes,
        scores=source.scores if boxes is not None and source.scores is not None else None,
        subject=thermal.subject,
        sequence=thermal.sequence,
        timestamp=thermal.timestamp,
        columns=columns,
    )


def _crop_batch(paired, config: AlignConfig, box_file, meta):
    """One crop row per person: (crop dataset or None, pairs in which no person was found)."""
    from thermcli.io import Dataset
    from thermcli.ops.crops import crop_affine, crop_image, map_boxes, map_keypoints, padded_box
    from thermcli.ops.person_finder import find_people

    rows, people, boxes_per_row = [], [], []
    missing = 0
    for i in range(len(paired)):
        if config.boxes == "dataset":
            found = paired.boxes[i] if paired.boxes is not None else np.zeros((0, 4))
            found = [(p, b) for p, b in enumerate(found) if np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0]
        elif config.boxes == "find":
            relative = paired.meta.unit not in ("celsius", "kelvin")
            frame = paired.frames[i]
            if paired.meta.unit == "kelvin":
                frame = frame - 273.15
            found = [(p, b) for p, b in enumerate(find_people(frame, relative=relative))]
        else:
            row = int(paired.columns["thermal_row"][i])
            raw = box_file.get(row, np.zeros((0, 4)))
            found = [(p, b) for p, b in enumerate(raw)]
        if not found:
            missing += 1
        for person, box in found:
            rows.append(i)
            people.append(person)
            boxes_per_row.append(np.asarray(box, np.float64))
    if not rows:
        return None, missing
    size = config.crop
    thermal_crops, rgb_crops, affines, padded, kps, bxs = [], [], [], [], [], []
    for i, person, box in zip(rows, people, boxes_per_row):
        affine = crop_affine(box, size, config.padding)
        affines.append(affine)
        padded.append(padded_box(box, size, config.padding))
        thermal_crops.append(crop_image(paired.frames[i], affine, size))
        rgb_crops.append(crop_image(paired.rgb[i], affine, size))
        if paired.keypoints is not None and config.boxes == "dataset":
            kps.append(map_keypoints(affine, paired.keypoints[i, person]))
        elif paired.keypoints is not None:
            kps.append(map_keypoints(affine, _nearest_person(paired.keypoints[i], box)))
        bxs.append(map_boxes(affine, box[None])[0])
    idx = np.array(rows)
    columns = {name: values[idx] for name, values in paired.columns.items()}
    for name in list(columns):
        if name.endswith("_keypoints") and paired.columns[name].ndim == 4:
            columns[name] = np.stack([map_keypoints(a, kp[min(p, len(kp) - 1)])
                                      for a, kp, p in zip(affines, paired.columns[name][idx], people)])[:, None].astype(np.float32)
    columns["crop_affine"] = np.stack(affines).astype(np.float64)
    columns["crop_box"] = np.stack(padded).astype(np.float64)
    columns["pair_row"] = idx.astype(np.int64)
    columns["person"] = np.array(people, np.int64)
    out = Dataset(
        frames=np.stack(thermal_crops),
        meta=meta,
        rgb=np.stack(rgb_crops),
        labels=paired.labels[idx] if paired.labels is not None else None,
        keypoints=np.stack(kps)[:, None].astype(np.float32) if kps else None,
        boxes=np.stack(bxs)[:, None].astype(np.float32),
        box_classes=np.zeros((len(idx), 1), np.int32),
        subject=paired.subject[idx] if paired.subject is not None else None,
        sequence=paired.sequence[idx] if paired.sequence is not None else None,
        timestamp=paired.timestamp[idx] if paired.timestamp is not None else None,
        columns=columns,
    )
    return out, missing


def _nearest_person(keypoints: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The person (K, 3) whose labelled keypoints fall most inside ``box`` (found boxes carry no identity)."""
    x, y, w, h = box
    best, score = keypoints[0], -1
    for person in keypoints:
        lab = person[:, 2] > 0
        inside = lab & (person[:, 0] >= x) & (person[:, 0] <= x + w) & (person[:, 1] >= y) & (person[:, 1] <= y + h)
        if inside.sum() > score:
            best, score = person, inside.sum()
    if score <= 0:
        return np.zeros_like(keypoints[0])
    return best


def crop_to_frame(points: np.ndarray, crop_affine_matrix: np.ndarray) -> np.ndarray:
    """Map predictions (…, 2) in crop pixels back to the (aligned) frame with a row's ``crop_affine``."""
    from thermcli.ops.crops import apply_affine, invert_affine

    return apply_affine(invert_affine(crop_affine_matrix), points)


def write_transform(path: Path, transform: Transform, provenance: dict[str, Any], *, force: bool) -> None:
    from thermcli.errors import OutputExistsError
    from thermcli.io import write_text_atomic

    if path.exists() and not force:
        raise OutputExistsError(f"output {path} exists; pass --force to overwrite it", param="--save-transform")
    doc = transform.to_json()
    doc["provenance"] = provenance
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n", force=True)


def sample_pairs_for_auto(thermal_reader, rgb_reader, sync: SyncReport, count: int) -> tuple[list, list]:
    """``count`` synchronised frame pairs spread evenly over the recording."""
    picks = np.unique(np.linspace(0, len(sync.pairs) - 1, min(count, len(sync.pairs))).round().astype(int))
    rgb_frames, thermal_frames = [], []
    for k in picks:
        t_row, r_row = sync.pairs[k]
        thermal_frames.append(thermal_reader.read(int(t_row), int(t_row) + 1).frames[0])
        rgb_frames.append(_rgb_frames(rgb_reader.read(int(r_row), int(r_row) + 1))[0])
    return rgb_frames, thermal_frames


def estimate_for_streams(thermal_path: Path, rgb_path: Path, *, method: str, calib: Path | None = None,
                         points: Path | None = None, initial: np.ndarray | None = None, max_skew: float = 0.06,
                         clock_offset: float | str = 0.0, auto_pairs: int = 5, calib_options: dict | None = None,
                         ransac_px: float = 3.0) -> Transform:
    """Estimate the transform for two streams by ``method`` (calib | points | auto)."""
    from thermcli.io import open_dataset

    if method == "calib":
        transform = calibrate(calib, ransac_px=ransac_px, **(calib_options or {}))
    with open_dataset(thermal_path) as thermal_reader, open_dataset(rgb_path) as rgb_reader:
        check_streams(thermal_reader, rgb_reader)
        rgb_size, thermal_size = frame_size(rgb_reader), frame_size(thermal_reader)
        if method == "calib":
            if transform.source_intrinsics is None:
                _check_calib_sizes(transform, rgb_size, thermal_size, calib)
            return transform
        if method == "points":
            return transform_from_points(points, rgb_size=rgb_size, thermal_size=thermal_size, ransac_px=ransac_px)
        sync = synchronise(thermal_reader, rgb_reader, max_skew=max_skew, clock_offset=clock_offset)
        rgb_frames, thermal_frames = sample_pairs_for_auto(thermal_reader, rgb_reader, sync, auto_pairs)
        return transform_auto(rgb_frames, thermal_frames, initial=initial)


def _check_calib_sizes(transform: Transform, rgb_size, thermal_size, calib) -> None:
    check_sizes(transform, rgb_size, thermal_size, where=str(calib))


def align(streams: tuple[Path, Path] | None, out: Path, *, method: str, calib: Path | None = None,
          points: Path | None = None, transform_path: Path | None = None, initial_path: Path | None = None,
          calib_options: dict | None = None, ransac_px: float = 3.0, auto_pairs: int = 9,
          save_transform: Path | None = None, config: AlignConfig = AlignConfig(), provenance: dict[str, Any],
          force: bool = False) -> tuple[Transform, dict[str, Any] | None]:
    """What ``thermcli align`` does: get the transform (``method``: calib | points | auto |
    transform), write it when OUT (or ``save_transform``) is a .json, and otherwise synchronise,
    warp and crop the two streams into OUT. Returns (transform, report or None)."""
    if method == "transform":
        transform = read_transform(transform_path)
    elif streams is None:
        if method == "calib":
            transform = calibrate(calib, ransac_px=ransac_px, **(calib_options or {}))
        else:
            transform = transform_from_points(points, ransac_px=ransac_px)
    else:
        initial = read_transform(initial_path).matrix if initial_path is not None else None
        transform = estimate_for_streams(
            streams[0], streams[1], method=method, calib=calib, points=points, initial=initial,
            max_skew=config.max_skew, clock_offset=config.clock_offset, auto_pairs=auto_pairs,
            calib_options=calib_options, ransac_px=ransac_px,
        )
    estimate_only = out.suffix.lower() == ".json"
    if estimate_only or save_transform is not None:
        write_transform(out if estimate_only else save_transform, transform, provenance, force=force)
    if estimate_only:
        return transform, None
    report = run_align(streams[0], streams[1], out, transform, config=config, provenance=provenance, force=force,
                       transform_where=str(transform_path or calib or points or "the estimated transform"))
    return transform, report


def describe(transform: Transform) -> str:
    err = "n/a" if transform.error_px is None else f"{transform.error_px:.3f} px"
    return f"{transform.method}; reprojection error {err}"


__all__ = [
    "AlignConfig",
    "PairGeometry",
    "Transform",
    "calibrate",
    "crop_to_frame",
    "read_transform",
    "run_align",
    "synchronise",
    "transform_auto",
    "transform_from_points",
]
