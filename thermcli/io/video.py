"""Video files (``.mp4``, ``.avi``, …) frame by frame, through OpenCV.

Frames come back as 8-bit display intensity: ``(H, W)`` when the video is grey (all three decoded
channels equal, as in thermal videos saved by most cameras), else ``(H, W, 3)`` RGB. Timestamps
are ``index / fps`` seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from thermcli.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    n_frames: int
    fps: float
    height: int
    width: int
    grey: bool


def _open(path: Path):
    import cv2

    if not path.is_file():
        raise DataError("no such file", path=str(path))
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise DataError("cannot open video (unsupported codec or not a video)", path=str(path))
    return capture


def _to_frame(bgr: np.ndarray, grey: bool) -> np.ndarray:
    if bgr.ndim == 2:
        return bgr
    if grey:
        return np.ascontiguousarray(bgr[:, :, 0])
    return np.ascontiguousarray(bgr[:, :, ::-1])


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate, size and colour of a video.

    The count is measured by decoding (container headers are often wrong by a frame or two), so
    it is exact; this reads the file once.
    """
    import cv2

    path = Path(path)
    capture = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        ok, first = capture.read()
        if not ok or first is None:
            raise DataError("video holds no decodable frame", path=str(path))
        grey = first.ndim == 2 or bool(np.array_equal(first[:, :, 0], first[:, :, 1]) and np.array_equal(first[:, :, 0], first[:, :, 2]))
        n = 1
        while capture.grab():
            n += 1
    finally:
        capture.release()
    if not (fps > 0 and np.isfinite(fps)):
        raise DataError("video has no frame rate; give --fps", path=str(path))
    return VideoInfo(path=path, n_frames=n, fps=fps, height=int(first.shape[0]), width=int(first.shape[1]), grey=grey)


def iter_video(info: VideoInfo, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for the given increasing frame indices (decoding sequentially)."""
    capture = _open(info.path)
    wanted = iter(int(i) for i in indices)
    target = next(wanted, None)
    index = 0
    try:
        while target is not None:
            if index < target:
                if not capture.grab():
                    break
                index += 1
                continue
            ok, bgr = capture.read()
            if not ok or bgr is None:
                break
            yield index, _to_frame(bgr, info.grey)
            index += 1
            target = next(wanted, None)
    finally:
        capture.release()
    if target is not None:
        raise DataError(f"video ended before frame {target} (decoded {index})", path=str(info.path))
