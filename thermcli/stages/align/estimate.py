"""Estimating the ``Transform``: from a calibration target seen by both cameras, from clicked
point pairs, or automatically (ECC on edge maps over synchronised frame pairs)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from thermcli.errors import DataError
from thermcli.io.images import read_image
from thermcli.stages.align.transform import Transform

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


# ---- estimation: calibration target ----------------------------------------------------------


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
            image = read_image(path)
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
