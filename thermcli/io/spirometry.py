"""The breathing-spirometry recordings (``NNvid.mp4`` + ``NNdata.txt``) as thermcli datasets.

``NNdata.txt``: a ``++``-prefixed header, then one row per video frame, whitespace separated,
each value prefixed with ``$$``; columns ``flow volume position_x position_y radius average``;
``nan`` where a value is missing (the last row of each segment). Pitfall: ``position_x`` is the
ROI centre's **row** and ``position_y`` its **column** (checked on the frames: the circle sits
on the mouthpiece only that way round), both as pixel indices; a radius of 0 marks a lost ROI.
``read_segment`` therefore adds ``roi_cx``, ``roi_cy``, ``roi_r``: the circle in thermcli's pixel
coordinates (pixel (c, r) covers [c, c+1) × [r, r+1), so index + 0.5 is its centre), NaN where
the ROI is lost — ready for ``{"disc": ["roi_cx", "roi_cy", "roi_r"]}`` in ``thermcli roi``.

Writes a whole folder as one dataset (one ``sequence`` per segment)::

    python -m thermcli.io.spirometry ../shared/data/breathing-spirometry spiro.h5

A small reader kept here so the respiration example and its test do not depend on the general
``thermcli import`` (which reads the same files).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from thermcli.errors import DataError

FPS = 20.0
# INH/EXH labels from the flow, the same rule as the breathing-phase example
# (examples/breathing-spirometry/make_phase_dataset.py): the zero level is the mode of the flow
# histogram (0.005 bins) inside 0.38–0.42, where the data's README puts the pauses — segments
# 05–09 breathe without pauses and their global mode is a breathing plateau; within ±0.02 of
# it a frame is a pause (label −1, left out of metrics).
PAUSE_BAND = (0.38, 0.42)
PAUSE_MARGIN = 0.02


# a segment's flow channel is trusted as a breathing reference when it agrees with the
# spirometer's own volume channel (see ``flow_volume_agreement``): 9 of the 10 segments score
# 0.41–0.90, segment 02 scores 0.20 (its flow misses breaths the volume and the video show). The
# threshold was set after looking at these 10 segments; results are reported with and without it.
CHANNEL_AGREEMENT = 0.3


def flow_volume_agreement(flow: np.ndarray, volume: np.ndarray, *, reset: float = 0.1) -> float:
    """Pearson correlation between the flow and the volume's frame-to-frame change: volume is
    the integral of flow, so a working spirometer scores well above 0. The volume channel is
    reset now and then (a jump), so steps of ``reset`` or more are left out, as are NaN. NaN
    when fewer than 3 frames remain or a channel is constant."""
    f = np.asarray(flow, dtype=np.float64)[1:]
    dv = np.diff(np.asarray(volume, dtype=np.float64))
    ok = np.isfinite(f) & np.isfinite(dv) & (np.abs(dv) < reset)
    if ok.sum() < 3 or np.ptp(f[ok]) == 0 or np.ptp(dv[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(f[ok], dv[ok])[0, 1])


def read_nndata(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of an ``NNdata.txt`` file by name, float64 (N,), NaN where missing.

    The ``$$``/``++`` format is read by the generic table reader ``thermcli.io.signals``; this
    only insists that every column is numeric, as a spirometer log's must be.
    """
    from thermcli.io.signals import read_signal_table

    table = read_signal_table(path)
    text_columns = [name for name, values in table.items() if values.dtype != np.float64]
    if text_columns:
        raise DataError(f"columns {text_columns} are not numbers", path=str(path))
    return table


def read_video_grey(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video as (N, H, W) uint8 grey."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=str(path))
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
    finally:
        capture.release()
    if not frames:
        raise DataError("no frames could be decoded", path=str(path))
    return np.stack(frames)


def read_segment(folder: str | os.PathLike, segment: int | str, *, fps: float = FPS):
    """Segment ``NN`` of the folder as a ``Dataset``: intensity frames, timestamps (frame / fps),
    sequence and subject ids, the signal columns (+ ``zero_level``), and INH/EXH labels from the
    flow against its zero level (see ``PAUSE_BAND``; −1 for pauses and NaN flow)."""
    from thermcli.io import Dataset, Meta
    from thermcli.ops.respiration import flow_phase, zero_level

    folder = Path(folder)
    name = f"{int(segment):02d}" if str(segment).isdigit() else str(segment)
    frames = read_video_grey(folder / f"{name}vid.mp4")
    table = read_nndata(folder / f"{name}data.txt")
    n = min(len(frames), len(next(iter(table.values()))))
    frames = frames[:n]
    columns = {key: values[:n].astype(np.float32) for key, values in table.items()}
    if {"position_x", "position_y", "radius"} <= set(table):
        radius = table["radius"][:n]
        lost = ~(radius > 0)
        columns["roi_cx"] = np.where(lost, np.nan, table["position_y"][:n] + 0.5).astype(np.float32)
        columns["roi_cy"] = np.where(lost, np.nan, table["position_x"][:n] + 0.5).astype(np.float32)
        columns["roi_r"] = np.where(lost, np.nan, radius).astype(np.float32)
    flow = table["flow"][:n] if "flow" in table else None
    labels = np.full(n, -1, np.int64)
    if flow is not None:
        zero = zero_level(flow, within=PAUSE_BAND, bin_width=0.005)
        labels = flow_phase(flow, zero, pause=PAUSE_MARGIN)
        columns["zero_level"] = np.full(n, zero, np.float32)
    meta = Meta(unit="intensity", modality="thermal", class_names=["INH", "EXH"], attrs={"fps": fps, "source": str(folder)})
    return Dataset(
        frames=frames,
        meta=meta,
        labels=labels,
        subject=np.array(["s0"] * n, dtype=object),
        sequence=np.array([name] * n, dtype=object),
        timestamp=np.arange(n, dtype=np.float64) / fps,
        columns=columns,
    )


def segments(folder: str | os.PathLike) -> list[str]:
    """Segment names (``00``, ``01``, …) that have both a video and a data file."""
    folder = Path(folder)
    return sorted(p.name[:-7] for p in folder.glob("*vid.mp4") if (folder / f"{p.name[:-7]}data.txt").is_file())


def write_folder(folder: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> int:
    """Every segment of ``folder`` as one dataset at ``out`` (with provenance); returns the frame count."""
    from thermcli.io import Dataset, make_provenance, write_dataset

    names = segments(folder)
    if not names:
        raise DataError("no NNvid.mp4 + NNdata.txt pairs", path=str(folder))
    parts = [read_segment(folder, name) for name in names]
    dataset = Dataset.concat(parts)
    inputs = [Path(folder) / f"{name}{suffix}" for name in names for suffix in ("vid.mp4", "data.txt")]
    provenance = make_provenance("python -m thermcli.io.spirometry", {"folder": str(folder), "out": str(out)}, inputs=inputs)
    dataset.meta = dataset.meta.copy(provenance=provenance)
    write_dataset(out, dataset, force=force)
    return len(dataset)


if __name__ == "__main__":  # pragma: no cover - exercised by the example
    import sys

    from thermcli.errors import ThermcliError

    try:
        count = write_folder(sys.argv[1], sys.argv[2], force="--force" in sys.argv[3:])
    except (ThermcliError, IndexError) as exc:
        message = exc.one_line() if isinstance(exc, ThermcliError) else "usage: python -m thermcli.io.spirometry FOLDER OUT.h5 [--force]"
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"wrote {sys.argv[2]} ({count} frames)", file=sys.stderr)
