"""What the SOURCE arguments hold (image folders, radiometric files, videos, COCO files) and
reading their frames: the dispatch of file kinds lives in ``units_of_source`` (recognising a
file) and ``read_unit_frames`` (reading one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.camera import radiometric_kind, read_radiometric
from thermcli.io.fff import is_flir_video
from thermcli.io.images import read_image
from thermcli.io.pngdir import IMAGE_SUFFIXES, decode_temperature
from thermcli.io.video import VideoInfo, is_video, probe_video
from thermcli.stages.importer.options import UNIT_CHOICES, ImportOptions, ImportReport, _Skip

RADIOMETRIC_SUFFIXES = (".irg",)


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


# ---- sources ------------------------------------------------------------------------------------


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or path.suffix.lower() in RADIOMETRIC_SUFFIXES


def units_of_source(source: Path, options: ImportOptions, report: ImportReport) -> list[_Unit]:
    """The dispatch of file kinds: what one SOURCE argument holds, as units of one kind each
    (``images``, ``radiometric``, ``video``, ``coco``). A new kind of file is recognised here and
    read in ``read_unit_frames``."""
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


def flir_video_attrs(units: list[_Unit]) -> dict[str, Any]:
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


# ---- frame readers --------------------------------------------------------------------------------


def read_unit_frames(u: _Unit, selection: np.ndarray, unit: str, options: ImportOptions,
                     overrides: dict[str, dict[str, float]], people: int,
                     report: ImportReport) -> Iterator[tuple[int, np.ndarray, dict[str, Any]]]:
    """(index, frame, per-frame extras) of the ``selection`` of one unit's frames, read as its
    kind is read — the other half of the dispatch of file kinds (``units_of_source``). A file
    that cannot be read stops the import, or with ``skip_bad`` is recorded in ``report`` and
    left out."""
    if u.kind == "flir_video":
        yield from _iter_flir_video(u, selection, options, overrides, report)
        return
    if u.kind == "video":
        from thermcli.io.video import iter_video

        try:
            for index, frame in iter_video(u.video, selection):
                yield index, frame, {"timestamp": index / u.video.fps}
        except DataError as exc:
            if not options.skip_bad:
                raise
            report.skipped.append({"path": str(u.source), "error": exc.message})
        return
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
            yield int(index), frame, extras
        except _Skip as skip:
            if not options.skip_bad:
                raise DataError(skip.message, path=str(skip.path)) from None
            report.skipped.append({"path": str(skip.path), "error": skip.message})


def _read_plain(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except DataError as exc:
        raise _Skip(path, exc.message) from None


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
