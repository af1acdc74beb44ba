"""The output geometry of an aligned pair: both streams' frames, points, keypoints and boxes mapped
into the thermal frame (or, reversed, the RGB frame), undistorted when the transform says so."""

from __future__ import annotations

import numpy as np

from thermcli.stages.align.transform import Transform


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
