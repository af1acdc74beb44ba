"""Import camera files, image folders, videos and label files into one thermcli dataset.

The library API behind ``thermcli import``. Each SOURCE is one of:

- a folder of images (PNG/JPEG/TIFF/BMP, 8- or 16-bit, grey or colour) or radiometric files;
- one image or radiometric file (FLIR R-JPEG, InfiRay ``.irg``) — see ``thermcli.io.camera``;
- a video (``.mp4``, ``.avi``, …), frame by frame with timestamps ``index / fps``;
- a FLIR radiometric video (``.seq``, ``.csq``, ``.fff``) — °C with the records' own time
  stamps, see ``thermcli.io.fff``;
- a COCO JSON file (its images, with keypoints, boxes and ids — see ``thermcli.io.coco``).

Frames are streamed into the writer in batches; only per-frame labels and signals (small) are
held whole. A file that cannot be read is a per-file error: it stops the import (nothing is
written) unless ``skip_bad``, which leaves it out and reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.camera import DEFAULT_PLAUSIBLE, radiometric_kind, read_radiometric
from thermcli.io.fff import is_flir_video
from thermcli.io.pngdir import IMAGE_SUFFIXES, decode_temperature
from thermcli.io.schema import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, Dataset, Meta
from thermcli.io.video import VideoInfo, is_video, probe_video

RADIOMETRIC_SUFFIXES = (".irg",)
# a batch is flushed at --batch-size frames or at this many bytes of frames, whichever comes
# first: large frames (a 1024×768 °C video frame is 3 MB) keep memory flat, and batches under
# glibc's 32 MB mmap threshold reuse their memory instead of faulting it in again every batch
_BATCH_BYTES = 24 << 20
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


@dataclass
class _Unit:
    source: Path
    kind: str  # "images", "radiometric", "video", "coco", "flir_video"
    files: list[Path]
    video: VideoInfo | None = None
    coco: Any = None
    source_index: int = 0  # which SOURCE argument it came from
    recording: Any = None  # thermcli.io.fff.FlirRecording of a "flir_video" unit

    @property
    def n(self) -> int:
        if self.recording is not None:
            return self.recording.n
        return self.video.n_frames if self.video is not None else len(self.files)

    @property
    def is_stream(self) -> bool:
        """One file holding many frames (its frames are not files of their own)."""
        return self.kind in ("video", "flir_video")


class _Skip(Exception):
    """A per-file failure, recorded when skipping bad files."""

    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


# ---- sources ------------------------------------------------------------------------------------


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or path.suffix.lower() in RADIOMETRIC_SUFFIXES


def _expand(source: Path, options: ImportOptions, report: ImportReport) -> list[_Unit]:
    where = str(source)
    if not source.exists():
        raise DataError("no such file or folder", path=where)
    if source.is_dir():
        entries = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [p for p in entries if _is_image(p)]
        videos = [p for p in entries if is_video(p)]
        recordings = [p for p in entries if is_flir_video(p)]
        if images:
            return [_image_unit(source, images)]
        if videos:
            return [u for v in videos if (u := _video_unit(v, options, report)) is not None]
        if recordings:
            return [u for r in recordings if (u := _flir_video_unit(r, options, report)) is not None]
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES + RADIOMETRIC_SUFFIXES)}) or videos in folder", path=where)
    suffix = source.suffix.lower()
    if suffix == ".json":
        from thermcli.io.coco import read_coco

        coco = read_coco(source, image_root=options.image_root)
        if not coco.images:
            raise DataError("COCO file lists no images", path=where)
        return [_Unit(source, "coco", [im.path for im in coco.images], coco=coco)]
    if is_flir_video(source):
        unit = _flir_video_unit(source, options, report)
        return [unit] if unit is not None else []
    if is_video(source):
        unit = _video_unit(source, options, report)
        return [unit] if unit is not None else []
    if _is_image(source):
        return [_image_unit(source, [source])]
    raise DataError("not an image, radiometric file, video or COCO JSON", path=where)


def _image_unit(source: Path, files: list[Path]) -> _Unit:
    radiometric = any(f.suffix.lower() in RADIOMETRIC_SUFFIXES or radiometric_kind(f) for f in files)
    return _Unit(source, "radiometric" if radiometric else "images", files)


def _video_unit(path: Path, options: ImportOptions, report: ImportReport) -> _Unit | None:
    try:
        info = probe_video(path)
    except DataError as exc:
        if options.fps is not None and "frame rate" in exc.message:
            raise
        if not options.skip_bad:
            raise
        report.skipped.append({"path": str(path), "error": exc.message})
        return None
    if options.fps is not None:
        info = VideoInfo(info.path, info.n_frames, float(options.fps), info.height, info.width, info.grey)
    return _Unit(path, "video", [path], video=info)


def _flir_video_unit(path: Path, options: ImportOptions, report: ImportReport) -> _Unit | None:
    """A FLIR .seq/.csq/.fff file, indexed (record headers only)."""
    from thermcli.io.fff import FlirRecording

    try:
        recording = FlirRecording(path)
    except DataError as exc:
        if not options.skip_bad:
            raise
        report.skipped.append({"path": str(path), "error": exc.message})
        return None
    return _Unit(path, "flir_video", [path], recording=recording)


def _iter_flir_video(u: _Unit, selection: np.ndarray, options: ImportOptions, overrides: dict, report: ImportReport):
    """(index, °C frame, extras) of the selected records; a bad frame is skipped with --skip-bad."""
    from thermcli.io.fff import Overrides
    from thermcli.stages.blocks import keep_freed_memory

    keep_freed_memory()  # frames and batches of a few MB each, reused rather than faulted in
    per_file = overrides.get(u.source.name) or overrides.get(str(u.source)) or {}
    values = Overrides(
        emissivity=per_file.get("emissivity", options.emissivity),
        ambient_c=per_file.get("ambient", options.ambient),
        distance_m=options.distance,
        humidity_pct=options.humidity,
    )
    for index in selection:
        try:
            frame = u.recording.frame(int(index), values, options.plausible)
        except DataError as exc:
            if not options.skip_bad:
                raise
            report.skipped.append({"path": f"{u.source} (frame {int(index)})", "error": exc.message})
            continue
        yield int(index), frame.celsius, {"timestamp": frame.timestamp}


def _flir_video_attrs(units: list[_Unit]) -> dict[str, Any]:
    """Camera (when every recording shares it) and one provenance entry per recording."""
    from thermcli.io.fff import recording_attrs

    recordings = [u for u in units if u.kind == "flir_video"]
    if not recordings:
        return {}
    cameras = [u.recording.first.camera_attrs() for u in recordings]
    attrs: dict[str, Any] = {"recordings": []}
    if all(c == cameras[0] for c in cameras):
        attrs["camera"] = cameras[0]
    for u, camera in zip(recordings, cameras):
        entry = recording_attrs(u.recording)
        if "camera" not in attrs:
            entry["camera"] = camera
        attrs["recordings"].append(entry)
    return attrs


def _selection(n: int, options: ImportOptions) -> np.ndarray:
    start, stop = options.frames or (None, None)
    return np.arange(n)[slice(start, stop, options.stride)]


# ---- per-frame tables -----------------------------------------------------------------------------


def _load_tables(paths: tuple[Path, ...], units: list[_Unit], n_sources: int, what: str, options: ImportOptions, report: ImportReport):
    """Tables aligned to units: one per SOURCE, one per unit, or one over all units' frames.
    Returns (table, offset) per unit: the unit's rows start at ``offset`` of its table."""
    from thermcli.io.signals import read_signal_table, table_length

    if not paths:
        return None
    tables = [read_signal_table(p) for p in paths]
    counts = [u.n for u in units]
    if len(tables) == 1:
        groups = [(list(range(len(units))), tables[0], paths[0])]
    elif len(tables) == n_sources:
        # a skipped source (--skip-bad) simply leaves its table unused
        groups = [([i for i, u in enumerate(units) if u.source_index == k], t, p) for k, (t, p) in enumerate(zip(tables, paths))]
    elif len(tables) == len(units):
        groups = [([i], t, p) for i, (t, p) in enumerate(zip(tables, paths))]
    else:
        raise UsageError(f"{len(tables)} tables for {n_sources} sources: give one per SOURCE or one for all", param=what)
    per_unit: list[tuple[dict[str, np.ndarray], int]] = [None] * len(units)  # type: ignore[list-item]
    for members, table, path in groups:
        need = sum(counts[i] for i in members)
        rows = table_length(table)
        if rows < need:
            raise DataError(f"has {rows} rows but its sources hold {need} frames", path=str(path))
        if rows > need:
            if not options.extra_rows:
                raise DataError(
                    f"has {rows} rows but its sources hold {need} frames (pass --extra-rows to drop the last {rows - need})",
                    path=str(path),
                )
            report.warnings.append(f"{path}: dropped its last {rows - need} row(s) beyond the {need} frames")
        offset = 0
        for i in members:
            per_unit[i] = (table, offset)
            offset += counts[i]
    return per_unit


def _check_columns(names: list[str], tables, param: str) -> None:
    import difflib

    available: list[str] = []
    for table, _ in tables:
        available = list(table)
        for name in names:
            if name not in table:
                close = difflib.get_close_matches(name, available, n=2)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise UsageError(f"no column {name!r} in the table (columns: {', '.join(available)}){hint}", param=param)


def _labels_from(values: np.ndarray, class_names: tuple[str, ...] | None, path: str) -> tuple[np.ndarray, list[str] | None]:
    if values.dtype == object:
        texts = [str(v).strip() for v in values]
        present = sorted({t for t in texts if t and t.lower() not in ("nan", "na", "none")})
        names = list(class_names) if class_names else present
        index = {name: i for i, name in enumerate(names)}
        labels = np.full(len(texts), -1, np.int64)
        for j, text in enumerate(texts):
            if not text or text.lower() in ("nan", "na", "none"):
                continue
            if text not in index:
                raise DataError(f"label {text!r} is not one of the class names {names}", path=path)
            labels[j] = index[text]
        return labels, names
    labels = np.where(np.isfinite(values), values, -1)
    if np.any(labels != np.round(labels)):
        raise DataError("label column holds non-integer numbers", path=path)
    labels = labels.astype(np.int64)
    names = list(class_names) if class_names else None
    if names is not None and labels.size and labels.max() >= len(names):
        raise DataError(f"label {int(labels.max())} is outside the {len(names)} class names", path=path)
    return labels, names


# ---- frame readers --------------------------------------------------------------------------------


def _read_plain(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise _Skip(path, "cannot read image (truncated or not an image)")
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[:, :, :3]
        image = np.ascontiguousarray(image[:, :, ::-1])  # BGR → RGB
        if image.shape[2] == 1:
            image = image[:, :, 0]
    return image


def _convert_image(image: np.ndarray, unit: str, options: ImportOptions, path: Path) -> np.ndarray:
    """One decoded image to the dataset's unit (palette inversion, centikelvin, floats)."""
    if options.palette is not None:
        from thermcli.ops.palette import invert_palette

        if image.dtype != np.uint8:
            raise _Skip(path, f"--palette needs 8-bit colour images, got {image.dtype}")
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        return invert_palette(image, options.palette)
    if unit == "intensity":
        if image.dtype != np.uint8:
            raise _Skip(path, f"holds {image.dtype} pixels, not 8-bit intensity (use --unit counts/celsius)")
        return image
    if unit == "counts":
        if image.dtype != np.uint16:
            raise _Skip(path, f"holds {image.dtype} pixels, not 16-bit counts")
        return image
    # celsius / kelvin
    if image.dtype == np.uint16:
        return decode_temperature(image, unit)  # the documented centikelvin encoding
    if image.dtype.kind == "f":
        return image.astype(np.float32)
    raise _Skip(path, f"holds {image.dtype} pixels; --unit {unit} needs 16-bit centikelvin PNG or float TIFF")


def _auto_unit(first: np.ndarray, path: Path) -> str:
    if first.dtype == np.uint8:
        return "intensity"
    if first.dtype == np.uint16:
        return "counts"
    raise UsageError(f"{path.name} holds {first.dtype} pixels: give --unit celsius or kelvin", param="--unit")


def _overrides_table(options: ImportOptions) -> dict[str, dict[str, float]]:
    if options.overrides is None:
        return {}
    from thermcli.io.signals import read_signal_table

    table = read_signal_table(options.overrides)
    if "file" not in table:
        raise UsageError("the overrides table needs a 'file' column (and emissivity and/or ambient)", param="--overrides")
    unknown = set(table) - {"file", "emissivity", "ambient"}
    if unknown:
        raise UsageError(f"unknown override columns {sorted(unknown)} (known: emissivity, ambient)", param="--overrides")
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(table["file"]):
        record = {}
        for key in ("emissivity", "ambient"):
            if key in table and np.isfinite(table[key][j]):
                record[key] = float(table[key][j])
        out[str(name)] = record
    return out


# ---- the import --------------------------------------------------------------------------------


def _group_id(path: Path, regex: str | None, param: str) -> str | None:
    if regex is None:
        return None
    try:
        match = re.search(regex, path.as_posix())
    except re.error as exc:
        raise UsageError(f"bad regular expression: {exc}", param=param) from None
    if match is None:
        raise UsageError(f"{regex!r} does not match {path.name}", param=param)
    return match.group(1) if match.groups() else match.group(0)


def _decide_unit(units: list[_Unit], options: ImportOptions) -> str:
    kinds = {u.kind for u in units}
    if kinds & {"radiometric", "flir_video"}:
        if not kinds <= {"radiometric", "flir_video"}:
            raise UsageError("mixes radiometric files with plain images or videos; import them separately", param="SOURCE")
        if options.unit not in ("auto", "celsius"):
            raise UsageError("radiometric files import as celsius", param="--unit")
        if options.palette:
            raise UsageError("radiometric files are already temperatures; --palette is for pseudo-colour images", param="--palette")
        return "celsius"
    if options.palette is not None:
        if options.unit not in ("auto", "intensity"):
            raise UsageError("--palette gives intensity; drop --unit", param="--unit")
        return "intensity"
    if options.unit != "auto":
        return options.unit
    if "video" in kinds:
        return "intensity"
    coco = next((u.coco for u in units if u.kind == "coco"), None)
    hint = ((coco.info or {}).get("thermcli") or {}).get("unit") if coco is not None else None
    if hint in UNIT_CHOICES[1:]:
        return hint
    for u in units:
        for path in u.files:
            try:
                return _auto_unit(_read_plain(path), path)
            except _Skip:
                continue  # an unreadable file is reported by the import itself
    return "intensity"


def _image_size(path: Path) -> tuple[int, int] | None:
    """(h, w) of an image file, None when unreadable (decodes it: --pad pays one extra read)."""
    try:
        image = _read_plain(path)
    except _Skip:
        return None
    return int(image.shape[0]), int(image.shape[1])


def _frame_size(path: Path, kind: str, options: ImportOptions) -> tuple[int, int] | None:
    """(h, w) of one file's frame: the header for images; radiometric files are decoded (their
    JPEG header gives the visible picture's size, not the thermal one)."""
    if kind != "radiometric":
        return _image_size(path)
    try:
        return tuple(read_radiometric(path, plausible=options.plausible).celsius.shape)  # type: ignore[return-value]
    except DataError:
        return None  # reported as a per-file error by the import itself


def run_import(sources: list[Path], out: Path, *, options: ImportOptions, provenance: dict[str, Any], force: bool) -> ImportReport:
    """Import ``sources`` into the dataset ``out``; return what was written and skipped."""
    from thermcli.io import create_writer

    if options.stride < 1:
        raise UsageError("must be ≥ 1", param="--stride")
    if options.emissivity is not None and not 0 < options.emissivity <= 1:
        raise UsageError("must be in (0, 1]", param="--emissivity")
    if options.distance is not None and not 0 <= options.distance < 1e5:
        raise UsageError("must be ≥ 0 (metres)", param="--distance")
    if options.humidity is not None and not 0 <= options.humidity <= 100:
        raise UsageError("must be in [0, 100] (percent)", param="--humidity")
    if options.palette is not None:
        from thermcli.ops.palette import palette_lut

        palette_lut(options.palette)  # unknown name → UsageError before any work
    for regex, param in ((options.subject_regex, "--subject-regex"), (options.sequence_regex, "--sequence-regex")):
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise UsageError(f"bad regular expression: {exc}", param=param) from None
    report = ImportReport()
    units: list[_Unit] = []
    for k, source in enumerate(sources):
        for unit_ in _expand(Path(source), options, report):
            unit_.source_index = k
            units.append(unit_)
    if not units:
        raise DataError("no readable source (every one was skipped)", path=str(sources[0]))
    if options.yolo is not None:
        if not Path(options.yolo).is_dir():
            raise DataError("no such folder", path=str(options.yolo))
        if any(u.kind in ("video", "coco", "flir_video") for u in units):
            raise UsageError("YOLO labels go with image folders (not videos or COCO files)", param="--yolo")
    for value, param in ((options.distance, "--distance"), (options.humidity, "--humidity")):
        if value is not None and any(u.kind != "flir_video" for u in units):
            raise UsageError("applies to FLIR radiometric video (.seq, .csq, .fff) only", param=param)
    unit = _decide_unit(units, options)
    overrides = _overrides_table(options)

    label_tables = _load_tables(options.labels, units, len(sources), "--labels", options, report)
    signal_tables = _load_tables(options.signals, units, len(sources), "--signals", options, report)
    if label_tables:
        _check_columns([options.label_column], label_tables, "--label-column")
    if signal_tables and options.columns:
        _check_columns(list(options.columns), signal_tables, "--columns")
    group_tables = [t for t in (label_tables, signal_tables) if t]
    for column, param in ((options.subject_column, "--subject-column"), (options.sequence_column, "--sequence-column")):
        if column is not None:
            if not group_tables or not any(column in t[0][0] for t in group_tables):
                raise UsageError(f"no column {column!r} in the --labels/--signals tables", param=param)
    signal_names: list[str] = []
    if signal_tables:
        table0 = signal_tables[0][0]
        signal_names = list(options.columns) if options.columns else [k for k, v in table0.items() if v.dtype != object]
        for name in signal_names:
            if table0[name].dtype == object:
                raise UsageError(f"column {name!r} is not numeric", param="--columns")

    # labels for every source frame (before selection)
    labels_all: list[np.ndarray] | None = None
    class_names: list[str] | None = list(options.class_names) if options.class_names else None
    if label_tables:
        labels_all = []
        values = [table[options.label_column][offset : offset + u.n] for (table, offset), u in zip(label_tables, units)]
        merged, class_names = _labels_from(np.concatenate(values), options.class_names, str(options.labels[0]))
        bounds = np.cumsum([0] + [u.n for u in units])
        labels_all = [merged[bounds[i] : bounds[i + 1]] for i in range(len(units))]

    # meta
    coco = next((u.coco for u in units if u.kind == "coco"), None)
    hint = ((coco.info or {}).get("thermcli") or {}) if coco is not None else {}
    modality = options.modality or (hint.get("modality") if hint.get("modality") in ("thermal", "rgb") else "thermal")
    if class_names is None and hint.get("class_names"):
        class_names = list(hint["class_names"])
    meta = Meta(unit=unit, modality=modality, class_names=class_names)
    if not options.labels and hint.get("label_kind") in ("multiclass", "multilabel"):
        meta.label_kind = hint["label_kind"]
    people = 0
    if coco is not None:
        people = max(u.coco.max_people for u in units if u.kind == "coco")
        meta.box_class_names = coco.category_names
        if coco.keypoint_names:
            meta.keypoint_names = coco.keypoint_names
            meta.skeleton = coco.skeleton
            k = len(coco.keypoint_names)
            if hint.get("sigmas") and len(hint["sigmas"]) == k:
                meta.sigmas = [float(v) for v in hint["sigmas"]]
            elif coco.keypoint_names == COCO_KEYPOINT_NAMES:
                meta.sigmas = list(COCO_SIGMAS)
            if hint.get("flip_pairs") is not None:
                meta.flip_pairs = [list(p) for p in hint["flip_pairs"]]
            elif coco.keypoint_names == COCO_KEYPOINT_NAMES:
                meta.flip_pairs = [list(p) for p in COCO_FLIP_PAIRS]
    if options.yolo is not None:
        from thermcli.io.yolo import read_yolo_names

        names = list(options.box_classes) if options.box_classes else read_yolo_names(options.yolo)
        meta.box_class_names = names
    attrs: dict[str, Any] = {"source": "thermcli import", "sources": [str(s) for s in sources]}
    if options.palette:
        attrs["palette"] = options.palette
        attrs["relative_intensity"] = True
        report.warnings.append(
            f"frames were converted from the {options.palette} palette to a relative 8-bit intensity, not °C: "
            "the camera's colour scale is not in the pixels"
        )
    attrs.update(_flir_video_attrs(units))
    meta.attrs = attrs
    meta.provenance = provenance

    # padding: a common frame size when images differ (COCO always, image folders with --pad)
    pad_shape: tuple[int, int] | None = None
    record_size = False
    if any(u.kind == "coco" for u in units):
        sizes = {(im.height, im.width) for u in units if u.kind == "coco" for im in u.coco.images}
        if len(sizes) > 1 or options.pad:
            pad_shape = (max(h for h, _ in sizes), max(w for _, w in sizes))
        record_size = True
    elif options.pad and all(u.kind in ("images", "radiometric") for u in units):
        sizes = {s for u in units for f in u.files if (s := _frame_size(f, u.kind, options)) is not None}
        if sizes:
            pad_shape = (max(h for h, _ in sizes), max(w for _, w in sizes))
        record_size = True

    yolo_people = 0
    yolo_cache: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def frames() -> Iterator[tuple[int, int, np.ndarray, dict[str, Any]]]:
        """(unit index, source index, frame, per-frame extras) of every selected frame."""
        for ui, u in enumerate(units):
            selection = _selection(u.n, options)
            if u.kind == "video":
                from thermcli.io.video import iter_video

                try:
                    for index, frame in iter_video(u.video, selection):
                        yield ui, index, frame, {"timestamp": index / u.video.fps}
                except DataError as exc:
                    if not options.skip_bad:
                        raise
                    report.skipped.append({"path": str(u.source), "error": exc.message})
                continue
            if u.kind == "flir_video":
                for index, frame, extras in _iter_flir_video(u, selection, options, overrides, report):
                    yield ui, index, frame, extras
                continue
            for index in selection:
                path = u.files[index]
                try:
                    if u.kind == "radiometric":
                        override = overrides.get(path.name) or overrides.get(str(path)) or {}
                        emissivity = override.get("emissivity", options.emissivity)
                        ambient = override.get("ambient", options.ambient)
                        try:
                            thermogram = read_radiometric(path, emissivity=emissivity, ambient=ambient, plausible=options.plausible)
                        except DataError as exc:
                            raise _Skip(path, exc.message) from None
                        frame = thermogram.celsius
                    else:
                        frame = _convert_image(_read_plain(path), unit, options, path)
                    extras: dict[str, Any] = {}
                    if options.fps is not None:
                        extras["timestamp"] = index / options.fps
                    if u.kind == "coco":
                        from thermcli.io.coco import image_arrays

                        image = u.coco.images[index]
                        if image.height and image.width and frame.shape[:2] != (image.height, image.width):
                            raise _Skip(path, f"is {frame.shape[1]}×{frame.shape[0]} but the COCO file says {image.width}×{image.height}")
                        extras.update(image_arrays(u.coco, image, people))
                    yield ui, int(index), frame, extras
                except _Skip as skip:
                    if not options.skip_bad:
                        raise DataError(skip.message, path=str(skip.path)) from None
                    report.skipped.append({"path": str(skip.path), "error": skip.message})

    def pad(frame: np.ndarray, path_hint: str) -> np.ndarray:
        if pad_shape is None:
            return frame
        h, w = frame.shape[:2]
        if h > pad_shape[0] or w > pad_shape[1]:
            raise _Skip(Path(path_hint), f"is larger than the padded size {pad_shape}")
        if (h, w) == pad_shape:
            return frame
        fill = np.nan if frame.dtype.kind == "f" else 0
        out_frame = np.full((*pad_shape, *frame.shape[2:]), fill, dtype=frame.dtype)
        out_frame[:h, :w] = frame
        return out_frame

    writer = None
    frame_shape: tuple[int, ...] | None = None
    batch: list[tuple[int, int, np.ndarray, dict[str, Any], tuple[int, int]]] = []
    # timestamps for all frames or none: videos carry their rate, image sequences need --fps
    has_timestamp = options.fps is not None or all(
        u.is_stream or (u.kind == "coco" and all("timestamp" in (im.extra or {}) for im in u.coco.images)) for u in units
    )

    def flush() -> None:
        nonlocal writer
        if not batch:
            return
        dataset = _batch_dataset(batch, meta, units, options, labels_all, signal_tables, signal_names, label_tables, has_timestamp, record_size)
        if options.yolo is not None:
            per_frame = []
            for ui, index, *_ in batch:
                path = units[ui].files[index]
                per_frame.append(yolo_cache.pop(path))
            p = max(yolo_people, 1)
            boxes = np.full((len(batch), p, 4), np.nan, np.float32)
            classes = np.full((len(batch), p), -1, np.int32)
            for j, (b, c) in enumerate(per_frame):
                boxes[j, : len(b)] = b
                classes[j, : len(c)] = c
            dataset.boxes, dataset.box_classes = boxes, classes
        if writer is None:
            writer = create_writer(out, meta, force=force)
        writer.append(dataset)
        batch.clear()

    try:
        if options.yolo is not None:
            # people per frame must be fixed before the first batch: count boxes first (small files)
            for u in units:
                for index in _selection(u.n, options):
                    label = Path(options.yolo) / (u.files[index].stem + ".txt")
                    if label.is_file():
                        count = sum(1 for line in label.read_text(errors="replace").splitlines() if line.strip())
                        yolo_people = max(yolo_people, count)
        for ui, index, frame, extras in frames():
            source_path = units[ui].source if units[ui].is_stream else units[ui].files[index]
            size = (int(frame.shape[0]), int(frame.shape[1]))
            try:
                frame = pad(frame, str(source_path))
                shape = tuple(frame.shape)
                if frame_shape is None:
                    frame_shape = shape
                elif shape != frame_shape:
                    raise _Skip(source_path, f"is {shape[1]}×{shape[0]}{'' if len(shape) == 2 else f'×{shape[2]}'}, "
                                f"but the first frame is {frame_shape[1]}×{frame_shape[0]} (pass --pad to pad to the largest)")
                if options.yolo is not None:
                    from thermcli.io.yolo import read_yolo_boxes

                    try:
                        yolo_cache[source_path] = read_yolo_boxes(
                            Path(options.yolo) / (source_path.stem + ".txt"), width=size[1], height=size[0]
                        )
                    except DataError as exc:
                        raise _Skip(Path(exc.path or source_path), exc.message) from None
            except _Skip as skip:
                if not options.skip_bad:
                    raise DataError(skip.message, path=str(skip.path)) from None
                report.skipped.append({"path": str(skip.path), "error": skip.message})
                continue
            batch.append((ui, index, frame, extras, size))
            if len(batch) >= options.batch_size or len(batch) * frame.nbytes >= _BATCH_BYTES:
                flush()
        if writer is None and not batch:
            raise DataError("no frames to import" + (" (every file was skipped)" if report.skipped else ""), path=str(sources[0]))
        if report.skipped:
            meta.attrs["skipped"] = report.skipped
            if writer is not None:
                writer.meta.attrs["skipped"] = report.skipped
        flush()
        writer.close()
        report.n = writer.n
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for u in units:
            if u.recording is not None:
                u.recording.close()
    report.unit = unit
    report.frame_shape = frame_shape or ()
    report.columns = sorted(signal_names)
    return report


def _batch_dataset(batch, meta, units, options, labels_all, signal_tables, signal_names, label_tables, has_timestamp, record_size) -> Dataset:
    frames = np.stack([item[2] for item in batch])
    kwargs: dict[str, Any] = {"frames": frames, "meta": meta}
    columns: dict[str, np.ndarray] = {}
    if has_timestamp:
        kwargs["timestamp"] = np.array([item[3].get("timestamp", 0.0) for item in batch], np.float64)
    if labels_all is not None:
        kwargs["labels"] = np.array([labels_all[ui][index] for ui, index, *_ in batch], np.int64)
    if signal_tables:
        for name in signal_names:
            columns[name] = np.array(
                [signal_tables[ui][0][name][signal_tables[ui][1] + index] for ui, index, *_ in batch], np.float64
            )
    for field_name, literal, regex, column in (
        ("subject", options.subject, options.subject_regex, options.subject_column),
        ("sequence", options.sequence, options.sequence_regex, options.sequence_column),
    ):
        values = None
        if literal is not None:
            values = [literal] * len(batch)
        elif column is not None:
            values = []
            for ui, index, *_ in batch:
                for tables in (label_tables, signal_tables):
                    if tables and column in tables[ui][0]:
                        table, offset = tables[ui]
                        cell = table[column][offset + index]
                        values.append(_id_text(cell))
                        break
        elif regex is not None:
            values = []
            for ui, index, *_ in batch:
                u = units[ui]
                path = u.source if u.is_stream else u.files[index]
                values.append(_group_id(path, regex, f"--{field_name}-regex"))
        if values is not None:
            kwargs[field_name] = np.array(values, dtype=object)
    extras = [item[3] for item in batch]
    for key in ("keypoints", "boxes", "box_classes"):
        if key in extras[0]:
            kwargs[key] = np.stack([e[key] for e in extras])
    # fields a thermcli COCO export stored per image, unless an option sets them
    if labels_all is None and all("labels" in e for e in extras):
        kwargs["labels"] = np.asarray([e["labels"] for e in extras], np.uint8 if meta.label_kind == "multilabel" else np.int64)
    for key in ("subject", "sequence"):
        if key not in kwargs and all(key in e for e in extras):
            kwargs[key] = np.array([str(e[key]) for e in extras], dtype=object)
    for key in [k for k in extras[0] if k.startswith("columns/")]:
        columns[key.removeprefix("columns/")] = np.stack([np.asarray(e[key]) for e in extras])
    if record_size:
        columns["image_size"] = np.array([item[4] for item in batch], np.int32)
    kwargs["columns"] = columns
    return Dataset(**kwargs)


def _id_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, (np.floating,)) and float(cell).is_integer():
        return str(int(cell))
    return str(cell)
