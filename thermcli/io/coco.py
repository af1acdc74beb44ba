"""COCO JSON (person keypoints or plain detection boxes) ↔ thermcli per-frame arrays.

Import: one frame per COCO image; its annotations become the P people of that frame —
``keypoints (P, K, 3)`` (x, y, visibility), ``boxes (P, 4)`` x, y, w, h, ``box_classes (P,)`` —
plus the columns ``image_id``, ``image_size`` (h, w), ``annotation_id``, ``area``, ``iscrowd`` so an
export writes back the same annotations. Padding rows (frames with fewer than P people) have a NaN
box, zero keypoints and annotation id −1. Segmentations are not carried.

Image paths are resolved under the dataset root (the JSON's folder, or ``image_root``); a
``file_name`` that escapes it (``../x.jpg``, an absolute path) is refused: a label file must not
make thermcli read arbitrary files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError


@dataclass
class CocoImage:
    image_id: int
    path: Path
    file_name: str
    width: int
    height: int
    annotations: list[dict[str, Any]]


@dataclass
class CocoSet:
    images: list[CocoImage]
    categories: list[dict[str, Any]]
    keypoint_names: list[str] | None
    skeleton: list[list[int]] | None  # 0-based
    info: dict[str, Any]
    max_people: int

    @property
    def category_names(self) -> list[str]:
        return [str(c.get("name", c.get("id"))) for c in self.categories]


def safe_join(root: Path, file_name: str, *, where: str) -> Path:
    """``root / file_name``, refusing names that are absolute or resolve outside ``root``."""
    if not isinstance(file_name, str) or not file_name:
        raise DataError(f"image file_name {file_name!r} is not a path", path=where)
    if os.path.isabs(file_name) or file_name.startswith(("/", "\\")) or (len(file_name) > 1 and file_name[1] == ":"):
        raise DataError(f"image path {file_name!r} is absolute; COCO file names must be relative to the dataset root", path=where)
    candidate = (root / file_name).resolve()
    root_resolved = root.resolve()
    if candidate != root_resolved and root_resolved not in candidate.parents:
        raise DataError(f"image path {file_name!r} escapes the dataset root {root}", path=where)
    return candidate


def _int(value: Any, what: str, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} {value!r} is not an integer", path=where) from None


def read_coco(path: str | os.PathLike, *, image_root: str | os.PathLike | None = None) -> CocoSet:
    """Parse and check a COCO JSON file (paths, ids, keypoint lengths)."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataError("no such file", path=where)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"not readable COCO JSON ({' '.join(str(exc).split())[:100]})", path=where) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DataError("not a COCO file: no 'images' list", path=where)
    root = Path(image_root) if image_root is not None else path.parent
    categories = [c for c in doc.get("categories", []) if isinstance(c, dict)]
    keypoint_category = next((c for c in categories if c.get("keypoints")), None)
    keypoint_names = [str(k) for k in keypoint_category["keypoints"]] if keypoint_category else None
    skeleton = None
    if keypoint_category and keypoint_category.get("skeleton"):
        skeleton = [[int(a) - 1, int(b) - 1] for a, b in keypoint_category["skeleton"]]  # COCO is 1-based
    images: dict[int, CocoImage] = {}
    for record in doc["images"]:
        if not isinstance(record, dict):
            raise DataError("an 'images' entry is not an object", path=where)
        image_id = _int(record.get("id"), "image id", where)
        if image_id in images:
            raise DataError(f"image id {image_id} appears twice", path=where)
        file_name = record.get("file_name")
        image_path = safe_join(root, file_name, where=where)
        width = _int(record.get("width", 0), "image width", where)
        height = _int(record.get("height", 0), "image height", where)
        images[image_id] = CocoImage(image_id, image_path, str(file_name), width, height, [])
    k = len(keypoint_names) if keypoint_names else None
    for ann in doc.get("annotations", []):
        if not isinstance(ann, dict):
            raise DataError("an 'annotations' entry is not an object", path=where)
        image_id = _int(ann.get("image_id"), "annotation image_id", where)
        if image_id not in images:
            raise DataError(f"annotation {ann.get('id')} refers to unknown image id {image_id}", path=where)
        if k is not None and ann.get("keypoints") is not None and len(ann["keypoints"]) != 3 * k:
            raise DataError(f"annotation {ann.get('id')} has {len(ann['keypoints'])} keypoint values, expected {3 * k}", path=where)
        bbox = ann.get("bbox")
        if bbox is not None and (not isinstance(bbox, list) or len(bbox) != 4):
            raise DataError(f"annotation {ann.get('id')} bbox {bbox!r} is not [x, y, w, h]", path=where)
        images[image_id].annotations.append(ann)
    ordered = list(images.values())
    max_people = max([len(im.annotations) for im in ordered] + [1])
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return CocoSet(ordered, categories, keypoint_names, skeleton, info, max_people)


def image_arrays(coco: CocoSet, image: CocoImage, people: int) -> dict[str, np.ndarray]:
    """Per-frame arrays of one image, padded to ``people`` rows."""
    k = len(coco.keypoint_names) if coco.keypoint_names else 0
    category_index = {c.get("id"): i for i, c in enumerate(coco.categories)}
    boxes = np.full((people, 4), np.nan, np.float32)
    classes = np.full((people,), -1, np.int32)
    keypoints = np.zeros((people, k, 3), np.float32)
    ann_ids = np.full((people,), -1, np.int64)
    area = np.full((people,), np.nan, np.float32)
    iscrowd = np.zeros((people,), np.uint8)
    for p, ann in enumerate(image.annotations):
        if ann.get("bbox") is not None:
            boxes[p] = np.asarray(ann["bbox"], np.float64)
        classes[p] = category_index.get(ann.get("category_id"), -1)
        if k and ann.get("keypoints") is not None:
            keypoints[p] = np.asarray(ann["keypoints"], np.float64).reshape(k, 3)
        ann_ids[p] = int(ann.get("id", -1))
        if ann.get("area") is not None:
            area[p] = float(ann["area"])
        iscrowd[p] = int(ann.get("iscrowd", 0))
    out = {
        "boxes": boxes,
        "box_classes": classes,
        "columns/annotation_id": ann_ids,
        "columns/area": area,
        "columns/iscrowd": iscrowd,
        "columns/image_id": np.int64(image.image_id),
    }
    if k:
        out["keypoints"] = keypoints
    return out


def _number(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


def build_coco(
    *,
    file_names: list[str],
    sizes: list[tuple[int, int]],
    image_ids: list[int],
    boxes: np.ndarray | None,
    box_classes: np.ndarray | None,
    keypoints: np.ndarray | None,
    annotation_ids: np.ndarray | None,
    area: np.ndarray | None,
    iscrowd: np.ndarray | None,
    category_names: list[str],
    keypoint_names: list[str] | None,
    skeleton: list[list[int]] | None,
    info: dict[str, Any],
) -> dict[str, Any]:
    """A COCO document from per-frame arrays (people with a NaN box and no visible keypoint are
    padding and skipped)."""
    categories = []
    for i, name in enumerate(category_names):
        category: dict[str, Any] = {"id": i + 1, "name": name, "supercategory": name}
        if keypoint_names is not None and name == "person" or (keypoint_names is not None and len(category_names) == 1):
            category["keypoints"] = list(keypoint_names)
            category["skeleton"] = [[int(a) + 1, int(b) + 1] for a, b in (skeleton or [])]
        categories.append(category)
    images, annotations = [], []
    next_id = 1
    used_ids = set(int(a) for a in np.asarray(annotation_ids).ravel() if a >= 0) if annotation_ids is not None else set()
    n = len(file_names)
    for i in range(n):
        h, w = sizes[i]
        images.append({"id": int(image_ids[i]), "file_name": file_names[i], "width": int(w), "height": int(h)})
        people = 0
        if boxes is not None:
            people = boxes.shape[1]
        elif keypoints is not None:
            people = keypoints.shape[1]
        for p in range(people):
            box = boxes[i, p] if boxes is not None else None
            kp = keypoints[i, p] if keypoints is not None else None
            has_box = box is not None and bool(np.all(np.isfinite(box)))
            has_kp = kp is not None and bool((kp[:, 2] > 0).any())
            ann_id = int(annotation_ids[i, p]) if annotation_ids is not None else -1
            if not has_box and not has_kp and ann_id < 0:
                continue
            if ann_id < 0:
                while next_id in used_ids:
                    next_id += 1
                ann_id = next_id
                used_ids.add(ann_id)
            ann: dict[str, Any] = {"id": ann_id, "image_id": int(image_ids[i])}
            cls = int(box_classes[i, p]) if box_classes is not None and box_classes[i, p] >= 0 else 0
            ann["category_id"] = cls + 1
            if has_box:
                ann["bbox"] = [_number(v) for v in box]
            elif kp is not None and has_kp:
                visible = kp[kp[:, 2] > 0]
                x0, y0 = visible[:, 0].min(), visible[:, 1].min()
                ann["bbox"] = [_number(x0), _number(y0), _number(visible[:, 0].max() - x0), _number(visible[:, 1].max() - y0)]
            else:
                ann["bbox"] = [0, 0, 0, 0]
            if area is not None and np.isfinite(area[i, p]):
                ann["area"] = float(area[i, p])
            else:
                ann["area"] = float(ann["bbox"][2]) * float(ann["bbox"][3])
            ann["iscrowd"] = int(iscrowd[i, p]) if iscrowd is not None else 0
            if kp is not None:
                ann["keypoints"] = [_number(v) for v in kp.reshape(-1)]
                ann["num_keypoints"] = int((kp[:, 2] > 0).sum())
            annotations.append(ann)
    return {"info": info, "images": images, "annotations": annotations, "categories": categories}
