"""The resolved options of an import, its report, and the per-file failure it records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thermcli.io.camera import DEFAULT_PLAUSIBLE

UNIT_CHOICES = ("auto", "intensity", "counts", "celsius", "kelvin")


@dataclass(frozen=True)
class ImportOptions:
    """Every option of an import, fully resolved (stored in the output's provenance)."""

    unit: str = "auto"
    modality: str | None = None  # None: from a COCO export's info, else thermal
    palette: str | None = None
    frames: tuple[int | None, int | None] | None = None
    stride: int = 1
    fps: float | None = None
    emissivity: float | None = None
    ambient: float | None = None
    distance: float | None = None  # m, FLIR .seq/.csq/.fff only
    humidity: float | None = None  # %, FLIR .seq/.csq/.fff only
    overrides: Path | None = None
    plausible: tuple[float, float] = DEFAULT_PLAUSIBLE
    skip_bad: bool = False
    pad: bool = False
    labels: tuple[Path, ...] = ()
    label_column: str = "label"
    class_names: tuple[str, ...] | None = None
    signals: tuple[Path, ...] = ()
    columns: tuple[str, ...] | None = None
    extra_rows: bool = False
    yolo: Path | None = None
    box_classes: tuple[str, ...] | None = None
    image_root: Path | None = None
    subject: str | None = None
    sequence: str | None = None
    subject_regex: str | None = None
    sequence_regex: str | None = None
    subject_column: str | None = None
    sequence_column: str | None = None
    batch_size: int = 64


@dataclass
class ImportReport:
    n: int = 0
    unit: str = ""
    frame_shape: tuple[int, ...] = ()
    fields: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Skip(Exception):
    """A per-file failure, recorded when skipping bad files."""

    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path
        self.message = message
