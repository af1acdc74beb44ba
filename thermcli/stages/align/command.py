"""What ``thermcli align`` does, end to end: get the transform by the chosen method, save it, and
apply it to the two streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.stages.align.estimate import calibrate, transform_auto, transform_from_points
from thermcli.stages.align.run import AlignConfig, _rgb_frames, check_streams, frame_size, run_align
from thermcli.stages.align.sync import SyncReport, synchronise
from thermcli.stages.align.transform import Transform, check_sizes, read_transform, write_transform


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
