"""Import camera files, image folders, videos and label files into one thermcli dataset.

The library API behind ``thermcli import``. Each SOURCE is one of:

- a folder of images (PNG/JPEG/TIFF/BMP, 8- or 16-bit, grey or colour) or radiometric files;
- one image or radiometric file (FLIR R-JPEG, InfiRay ``.irg``) — see ``thermcli.io.camera``;
- a video (``.mp4``, ``.avi``, …), frame by frame with timestamps ``index / fps``;
- a COCO JSON file (its images, with keypoints, boxes and ids — see ``thermcli.io.coco``).

Frames are streamed into the writer in batches; only per-frame labels and signals (small) are
held whole. A file that cannot be read is a per-file error: it stops the import (nothing is
written) unless ``skip_bad``, which leaves it out and reports it.

``run_import`` = ``validate_options`` → ``plan_import`` (what each SOURCE holds: ``sources``; the
tables beside it: ``tables``) → ``stream_import`` (read, pad and write the frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from thermcli.stages.importer.options import UNIT_CHOICES, ImportOptions, ImportReport
from thermcli.stages.importer.plan import ImportPlan, plan_import, validate_options
from thermcli.stages.importer.sources import RADIOMETRIC_SUFFIXES, read_unit_frames, units_of_source
from thermcli.stages.importer.stream import stream_import

__all__ = [
    "RADIOMETRIC_SUFFIXES",
    "UNIT_CHOICES",
    "ImportOptions",
    "ImportPlan",
    "ImportReport",
    "plan_import",
    "read_unit_frames",
    "run_import",
    "stream_import",
    "units_of_source",
    "validate_options",
]


def run_import(sources: list[Path], out: Path, *, options: ImportOptions, provenance: dict[str, Any], force: bool) -> ImportReport:
    """Import ``sources`` into the dataset ``out``; return what was written and skipped."""
    validate_options(options)
    report = ImportReport()
    plan = plan_import(sources, options, provenance, report)
    return stream_import(plan, out, options=options, report=report, force=force)
