"""``thermcli align``: RGB↔thermal registration, time synchronisation and person crops.

The library API behind the command:

- ``calibrate(DIR, ...)``, ``transform_from_points(CSV, ...)``, ``transform_auto(...)`` estimate
  a ``Transform`` (RGB→thermal homography + how it was made and how well it fits);
- ``read_transform`` / ``Transform.to_json`` store it as JSON for later recordings;
- ``synchronise(thermal, rgb, ...)`` pairs the two streams' frames by timestamp;
- ``run_align(...)`` does all of it and writes the paired (warped, cropped) dataset.

Modules: ``transform`` (the Transform and its JSON), ``estimate`` (calibration target, point
pairs, automatic), ``sync`` (timestamps), ``geometry`` (the output frame), ``run`` (applying it)
and ``command`` (the command's driver).
"""

from __future__ import annotations

from thermcli.stages.align.command import align, estimate_for_streams, sample_pairs_for_auto
from thermcli.stages.align.estimate import (
    IMAGE_SUFFIXES,
    calibrate,
    calibration_views,
    default_initial,
    read_intrinsics_file,
    read_point_pairs,
    transform_auto,
    transform_from_points,
)
from thermcli.stages.align.geometry import PairGeometry
from thermcli.stages.align.run import (
    AlignConfig,
    check_streams,
    crop_to_frame,
    frame_size,
    read_box_file,
    run_align,
)
from thermcli.stages.align.sync import SyncReport, synchronise
from thermcli.stages.align.transform import (
    TRANSFORM_KIND,
    Transform,
    check_sizes,
    describe,
    read_transform,
    write_transform,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "TRANSFORM_KIND",
    "AlignConfig",
    "PairGeometry",
    "SyncReport",
    "Transform",
    "align",
    "calibrate",
    "calibration_views",
    "check_sizes",
    "check_streams",
    "crop_to_frame",
    "default_initial",
    "describe",
    "estimate_for_streams",
    "frame_size",
    "read_box_file",
    "read_intrinsics_file",
    "read_point_pairs",
    "read_transform",
    "run_align",
    "sample_pairs_for_auto",
    "synchronise",
    "transform_auto",
    "transform_from_points",
    "write_transform",
]
