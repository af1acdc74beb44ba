"""People in a dataset as top-down pose samples: boxes → crops → normalised model input, heatmap
targets, inference with flip test, and predictions mapped back to frame pixels.

Shared by ``train --task keypoints``, ``distill --task keypoints``, ``eval --metric oks`` and
``annotate --model``. Frames stay in their unit until the model input is made: temperatures are
standardised per crop (mean, std ≥ 0.5 °C), 8-bit RGB by the ImageNet mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON, Meta
from thermcli.ops import heatmaps as H

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
MIN_STD_CELSIUS = 0.5


class PeopleRowsTask:
    """The sampling half of a keypoint training Task (``stages.trainer.Task``): the samples are
    the person rows ``self.train_idx``, drawn as a uniform permutation."""

    train_idx: np.ndarray

    def sample_count(self) -> int:
        return len(self.train_idx)

    def sample_weights(self):
        return None

    def person_rows(self, rows) -> np.ndarray:
        """The person rows for the loop's sample numbers ``rows``."""
        return self.train_idx[np.asarray(rows, dtype=np.int64)]


@dataclass
class People:
    """Every person slot of a dataset (or of its RGB side) with a box, one row each.

    ``frames`` (N, H, W[, 3]) the source images; ``row``/``slot`` (M,) where each person is;
    ``boxes`` (M, 4) and ``keypoints`` (M, K, 3) in the source image's pixels (None when the
    dataset has no keypoints); ``scale`` (2,) from thermal-frame pixels to these pixels.
    """

    frames: np.ndarray
    kind: str  # "thermal" (temperatures/counts, one channel) or "rgb"
    row: np.ndarray
    slot: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray | None
    meta: Meta
    n_rows: int
    n_slots: int
    scale: np.ndarray = field(default_factory=lambda: np.ones(2))
    subject: np.ndarray | None = None
    path: str = ""

    def __len__(self) -> int:
        return len(self.row)

    @property
    def num_keypoints(self) -> int:
        if self.keypoints is not None:
            return int(self.keypoints.shape[1])
        return len(self.meta.keypoint_names or COCO_KEYPOINT_NAMES)

    def take(self, index: np.ndarray) -> "People":
        index = np.asarray(index)
        return People(
            frames=self.frames, kind=self.kind, row=self.row[index], slot=self.slot[index], boxes=self.boxes[index],
            keypoints=None if self.keypoints is None else self.keypoints[index], meta=self.meta, n_rows=self.n_rows,
            n_slots=self.n_slots, scale=self.scale, subject=self.subject, path=self.path,
        )  # fmt: skip


def keypoint_meta(meta: Meta) -> dict[str, Any]:
    """Names, skeleton, sigmas and flip pairs of a dataset (COCO-17 defaults)."""
    names = meta.keypoint_names or list(COCO_KEYPOINT_NAMES)
    coco = len(names) == 17
    return {
        "keypoint_names": list(names),
        "skeleton": meta.skeleton or (COCO_SKELETON if coco else []),
        "sigmas": list(meta.sigmas or (COCO_SIGMAS if coco else [0.05] * len(names))),
        "flip_pairs": meta.flip_pairs or (COCO_FLIP_PAIRS if coco else []),
    }


def parse_subjects(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    return names or None


def load_people(
    path: str | Path,
    *,
    side: str = "frames",
    subjects: Sequence[str] | None = None,
    exclude_subjects: Sequence[str] | None = None,
    need_keypoints: bool = True,
) -> People:
    """Read a dataset's people. ``side="rgb"`` uses the paired RGB frames (boxes and keypoints,
    labelled in thermal-frame pixels, are scaled to the RGB frame's size: aligned pairs)."""
    from thermcli.io import read_dataset

    where = str(path)
    ds = read_dataset(path)
    keep = np.ones(len(ds), bool)
    if subjects or exclude_subjects:
        if ds.subject is None:
            raise DataError("--subjects needs a 'subject' field, and the dataset has none", path=where)
        subj = ds.subject.astype(str)
        if subjects:
            unknown = sorted(set(subjects) - set(subj))
            if unknown:
                raise UsageError(f"subject(s) {', '.join(unknown)} not in {where} (has {', '.join(sorted(set(subj)))})",
                                 param="--subjects")
            keep &= np.isin(subj, list(subjects))
        if exclude_subjects:
            keep &= ~np.isin(subj, list(exclude_subjects))
        if not keep.any():
            raise UsageError("no rows left after the subject selection", param="--subjects")
        ds = ds.take(np.nonzero(keep)[0])
    if need_keypoints and ds.keypoints is None:
        raise DataError("dataset has no keypoints (labels needed here)", path=where)
    n = len(ds)
    frame_hw = ds.frames.shape[1:3]
    if ds.boxes is not None:
        boxes = ds.boxes.astype(np.float64)
    elif ds.keypoints is not None:
        boxes = H_boxes_from_keypoints(ds.keypoints)
    else:
        boxes = np.tile([[[0.0, 0.0, frame_hw[1], frame_hw[0]]]], (n, 1, 1))
    kps = None if ds.keypoints is None else ds.keypoints.astype(np.float64)
    if side == "rgb":
        if ds.rgb is None:
            raise DataError("pairs have no RGB frames (the teacher needs the 'rgb' field; run thermcli align)",
                            path=where)
        frames = ds.rgb
        scale = np.array([ds.rgb.shape[2] / frame_hw[1], ds.rgb.shape[1] / frame_hw[0]])
        kind = "rgb"
    else:
        frames = ds.frames
        scale = np.ones(2)
        kind = "rgb" if (ds.meta.modality == "rgb" or frames.ndim == 4) else "thermal"
    valid = np.isfinite(boxes).all(-1) & (boxes[..., 2] > 1) & (boxes[..., 3] > 1)
    rows, slots = np.nonzero(valid)
    bx = boxes[rows, slots] * np.r_[scale, scale]
    kp = None
    if kps is not None:
        kp = kps[rows, slots].copy()
        kp[..., :2] *= scale
    return People(frames=frames, kind=kind, row=rows, slot=slots, boxes=bx, keypoints=kp, meta=ds.meta, n_rows=n,
                  n_slots=boxes.shape[1], scale=scale, subject=ds.subject, path=where)


def H_boxes_from_keypoints(keypoints: np.ndarray, pad: float = 0.1) -> np.ndarray:
    """(N, P, K, 3) → (N, P, 4) boxes around the labelled keypoints (+10 % each side)."""
    from thermcli.metrics.oks import _boxes_from_keypoints

    boxes = _boxes_from_keypoints(np.asarray(keypoints, np.float64))
    boxes[..., :2] -= boxes[..., 2:] * pad
    boxes[..., 2:] *= 1 + 2 * pad
    return boxes


def augmented_affines(people: People, index: np.ndarray, input_size: tuple[int, int], rng: np.random.Generator | None,
                      *, scale_range: float = 0.25, rotation: float = 30.0, flip_prob: float = 0.5):
    """Crop affines for ``index``; with ``rng``: random scale, rotation and horizontal flip.

    Returns (affines (B, 2, 3), flipped (B,) bool).
    """
    h, w = input_size
    center, size = H.box_to_center_scale(people.boxes[index], aspect=w / h)
    b = len(index)
    if rng is None:
        return H.crop_affines(center, size, input_size), np.zeros(b, bool)
    s = np.clip(rng.normal(1.0, scale_range / 2, b), 1 - scale_range, 1 + scale_range)
    r = np.where(rng.random(b) < 0.6, np.clip(rng.normal(0, rotation / 2, b), -rotation, rotation), 0.0)
    flip = rng.random(b) < flip_prob
    size = size * s[:, None]
    sx = (w - 1) / np.maximum(size[:, 0] - 1, 1e-3)
    sy = (h - 1) / np.maximum(size[:, 1] - 1, 1e-3)
    cos, sin = np.cos(np.deg2rad(r)), np.sin(np.deg2rad(r))
    lin = np.zeros((b, 2, 2))
    lin[:, 0, 0], lin[:, 0, 1] = sx * cos, -sx * sin
    lin[:, 1, 0], lin[:, 1, 1] = sy * sin, sy * cos
    affine = np.zeros((b, 2, 3))
    affine[:, :, :2] = lin
    affine[:, :, 2] = np.array([(w - 1) / 2, (h - 1) / 2]) - np.einsum("bij,bj->bi", lin, center)
    affine[flip, 0, :] *= -1
    affine[flip, 0, 2] += w - 1
    return affine, flip


def color_jitter(crops: np.ndarray, rng: np.random.Generator, *, strength: float = 0.4, grey_prob: float = 0.2,
                 shuffle_prob: float = 0.5) -> np.ndarray:
    """Photometric augmentation of RGB crops (B, H, W, 3) in [0, 1], drawn per crop: brightness,
    contrast and saturation × U(1 − strength, 1 + strength), the colour channels permuted
    (``shuffle_prob``: clothing and background colours vary between people) and grey
    (``grey_prob``: shape over colour, closer to a thermal image)."""
    b = len(crops)
    out = crops.astype(np.float32, copy=True)
    lo, hi = 1 - strength, 1 + strength
    out *= rng.uniform(lo, hi, (b, 1, 1, 1)).astype(np.float32)
    grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = grey.mean(axis=(1, 2), keepdims=True)[..., None]
    out = (out - mean) * rng.uniform(lo, hi, (b, 1, 1, 1)).astype(np.float32) + mean
    grey = (out @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    sat = rng.uniform(lo, hi, (b, 1, 1, 1)).astype(np.float32)
    sat[rng.random(b) < grey_prob] = 0.0
    out = (out - grey) * sat + grey
    for i in np.nonzero(rng.random(b) < shuffle_prob)[0]:
        out[i] = out[i][..., rng.permutation(3)]
    return np.clip(out, 0.0, 1.0)


def crop_inputs(people: People, index: np.ndarray, affines: np.ndarray, input_size: tuple[int, int], in_chans: int,
                *, jitter: np.random.Generator | None = None) -> np.ndarray:
    """Warp and normalise the crops → (B, in_chans, H, W) float32 (RGB crops colour-jittered
    with ``jitter``, a generator, when given)."""
    frames = people.frames[people.row[index]]
    if people.kind == "thermal":
        temps = frames.astype(np.float32)
        crops = np.stack([
            H.warp_crops(f[None], a[None], input_size, border_value=float(np.nanmedian(f)) if np.isfinite(f).any() else 0.0)[0]
            for f, a in zip(temps, affines)
        ]) if len(index) else np.zeros((0, *input_size), np.float32)  # fmt: skip
        mean = crops.mean(axis=(1, 2), keepdims=True)
        std = np.maximum(crops.std(axis=(1, 2), keepdims=True), MIN_STD_CELSIUS)
        x = ((crops - mean) / std)[:, None]
        if in_chans != 1:
            x = np.repeat(x, in_chans, axis=1)  # a grey image for an RGB model
        return x.astype(np.float32)
    crops = H.warp_crops(frames, affines, input_size, border_value=0.0).astype(np.float32) / 255.0
    if crops.ndim == 3:
        crops = np.repeat(crops[..., None], 3, axis=-1)
    if jitter is not None and len(crops):
        crops = color_jitter(crops, jitter)
    x = ((crops - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    if in_chans == 1:
        x = x.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def crop_targets(people: People, index: np.ndarray, affines: np.ndarray, flipped: np.ndarray, input_size, heatmap_size,
                 *, sigma: float, flip_pairs) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps of the people's keypoints in the (augmented) crops."""
    kp = people.keypoints[index].copy()
    kp[..., :2] = H.apply_affine(kp[..., :2], affines)
    if flipped.any() and flip_pairs:
        perm = list(range(kp.shape[1]))
        for a, b in flip_pairs:
            perm[a], perm[b] = perm[b], perm[a]
        kp[flipped] = kp[flipped][:, perm]
    kp[..., :2] = H.input_to_heatmap(kp[..., :2], input_size, heatmap_size)
    return H.gaussian_targets(kp, heatmap_size, sigma=sigma)


def model_input_chans(config: dict[str, Any]) -> int:
    return int(config.get("model_kwargs", {}).get("in_chans", 3))


def predict_people(model, people: People, *, input_size, batch_size: int = 64, flip_test: bool = True, flip_pairs=(),
                   in_chans: int = 1, device: Any = "cpu", decode: str = "dark") -> tuple[np.ndarray, np.ndarray]:
    """Run the model on every person's crop → keypoints (M, K, 3) in source-image pixels
    (x, y, heatmap peak) and person scores (M,) (mean peak)."""
    import torch

    model.eval()
    heatmap_size = tuple(model.heatmap_size)
    out_kp, out_score = [], []
    with torch.no_grad():
        for lo in range(0, len(people), batch_size):
            index = np.arange(lo, min(lo + batch_size, len(people)))
            affines, _ = augmented_affines(people, index, input_size, None)
            x = torch.from_numpy(crop_inputs(people, index, affines, input_size, in_chans)).to(device)
            hm = model(x)
            if flip_test:
                hm_flip = model(x.flip(-1))
                hm = (hm + H.flip_heatmaps(hm_flip, flip_pairs)) / 2
            coords, peak = H.decode_heatmaps(hm.float().cpu().numpy(), method=decode)
            xy = H.heatmap_to_input(coords, input_size, heatmap_size)
            xy = H.apply_affine(xy, H.invert_affines(affines))
            out_kp.append(np.concatenate([xy, peak[..., None]], -1))
            out_score.append(peak.mean(-1))
    k = people.num_keypoints
    if not out_kp:
        return np.zeros((0, k, 3)), np.zeros(0)
    return np.concatenate(out_kp), np.concatenate(out_score)


def to_frame_arrays(people: People, keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-person predictions (source pixels) → (N, P, K, 3) in thermal-frame pixels, (N, P) scores (NaN = none)."""
    k = keypoints.shape[1] if len(keypoints) else people.num_keypoints
    kp = np.full((people.n_rows, people.n_slots, k, 3), np.nan, np.float32)
    sc = np.full((people.n_rows, people.n_slots), np.nan, np.float32)
    frame_kp = keypoints.copy()
    frame_kp[..., :2] /= people.scale
    kp[people.row, people.slot] = frame_kp
    sc[people.row, people.slot] = scores
    return kp, sc


def evaluate_people(people: People, keypoints: np.ndarray, scores: np.ndarray, **kwargs: Any):
    """OKS evaluation of per-person predictions against the people's own labels (frame pixels)."""
    from thermcli.metrics import oks as O

    if people.keypoints is None:
        raise DataError("dataset has no keypoints to evaluate against", path=people.path)
    gt_kp = np.full((people.n_rows, people.n_slots, people.num_keypoints, 3), np.nan)
    gt_kp[..., 2] = 0
    gt_boxes = np.full((people.n_rows, people.n_slots, 4), np.nan)
    gt_kp[people.row, people.slot] = people.keypoints
    gt_boxes[people.row, people.slot] = people.boxes
    gt = O.gt_from_arrays(gt_kp, gt_boxes, keypoint_names=keypoint_meta(people.meta)["keypoint_names"])
    pred_kp, pred_sc = np.full_like(gt_kp, np.nan), np.full((people.n_rows, people.n_slots), np.nan)
    pred_kp[people.row, people.slot] = keypoints
    pred_sc[people.row, people.slot] = scores
    dt = O.dt_from_arrays(pred_kp, pred_sc)
    sigmas = kwargs.pop("sigmas", None) or keypoint_meta(people.meta)["sigmas"]
    return O.evaluate_oks(gt, dt, sigmas=sigmas, **kwargs)


def split_by_subject(people: People, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of people; whole subjects go to validation when subjects exist."""
    m = len(people)
    rng = np.random.default_rng(seed)
    if val_fraction <= 0 or m < 2:
        return np.arange(m), np.zeros(0, np.int64)
    if people.subject is not None:
        subj = people.subject.astype(str)[people.row]
        names = np.unique(subj)
        if len(names) >= 2:
            rng.shuffle(names)
            n_val = max(1, int(round(val_fraction * len(names))))
            val_names = names[:n_val]
            val = np.isin(subj, val_names)
            return np.nonzero(~val)[0], np.nonzero(val)[0]
    perm = rng.permutation(m)
    n_val = max(1, int(round(val_fraction * m)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
