"""COCO JSON (person keypoints or plain detection boxes) ↔ thermcli per-frame arrays.

Import: one frame per COCO image; its annotations become the P people of that frame —
``keypoints (P, K, 3)`` (x, y, visibility), ``boxes (P, 4)`` x, y, w, h, ``box_classes (P,)`` —
plus the columns ``image_id``, ``image_size`` (h, w), ``annotation_id``, ``area``, ``iscrowd`` so an
export writes back the same annotations. Padding rows (frames with fewer than P people) have a NaN
box, zero keypoints and annotation id −1. Segmentations are not carried.

Image paths are resolved under the dataset root (the JSON's folder, or ``image_root``); a
``file_name`` that escapes it (``../x.jpg``, an absolute path) is refused: a label file must not
make thermcli read arbitrary files.

The same parser feeds COCO evaluation (``thermcli eval --metric oks|bbox --gt GT.json --pred
RES.json``): :func:`read_json` reads a file once (orjson) and hashes the bytes it read (so
provenance needs no second read), :func:`eval_ground_truth` / :func:`eval_results` turn the
documents into flat arrays, checked as pycocotools' ``COCO``/``COCO.loadRes`` check them.
"""

from __future__ import annotations

import hashlib
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
    extra: dict[str, Any] | None = None  # per-frame fields a thermcli export stored ("thermcli" key)


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
    doc = read_json(path, "COCO JSON").value
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
        extra = record.get("thermcli") if isinstance(record.get("thermcli"), dict) else None
        images[image_id] = CocoImage(image_id, image_path, str(file_name), width, height, [], extra)
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
        _check_annotation(ann, keypoint_category, where)
        images[image_id].annotations.append(ann)
    ordered = list(images.values())
    max_people = max([len(im.annotations) for im in ordered] + [1])
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return CocoSet(ordered, categories, keypoint_names, skeleton, info, max_people)


def _finite_numbers(values: Any) -> bool:
    try:
        return bool(np.isfinite(np.asarray(values, np.float64)).all())
    except (TypeError, ValueError):
        return False


def _check_annotation(ann: dict, keypoint_category: dict | None, where: str) -> None:
    """Refuse an annotation an import would carry as nonsense: NaN/inf or non-numeric keypoints,
    box or area, a negative box size, or no keypoints in a file whose keypoint category it is."""
    name = f"annotation {ann.get('id')}"
    for field in ("keypoints", "bbox", "area"):
        value = ann.get(field)
        if value is not None and not _finite_numbers(value):
            raise DataError(f"{name}: {field!r} holds a value that is not a finite number", path=where)
    bbox = ann.get("bbox")
    if bbox is not None and (bbox[2] < 0 or bbox[3] < 0):
        raise DataError(f"{name}: 'bbox' {bbox!r} has a negative width or height", path=where)
    if keypoint_category is not None and ann.get("keypoints") is None:
        if ann.get("category_id", keypoint_category.get("id")) == keypoint_category.get("id"):
            raise DataError(f"{name} has no 'keypoints', though its category "
                            f"{keypoint_category.get('name', keypoint_category.get('id'))!r} has keypoints", path=where)


def image_arrays(coco: CocoSet, image: CocoImage, people: int) -> dict[str, np.ndarray]:
    """Per-frame arrays of one image, padded to ``people`` rows."""
    k = len(coco.keypoint_names) if coco.keypoint_names else 0
    category_index = {c.get("id"): i for i, c in enumerate(coco.categories)}
    boxes = np.full((people, 4), np.nan, np.float32)
    classes = np.full((people,), -1, np.int32)
    keypoints = np.zeros((people, k, 3), np.float32)
    ann_ids = np.full((people,), -1, np.int64)
    area = np.full((people,), np.nan, np.float64)  # COCO areas feed OKS: keep them exact
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
    # per-frame fields of a thermcli export (labels, ids, timestamps, columns), typed by info
    dtypes = ((coco.info or {}).get("thermcli") or {}).get("columns") or {}
    for key, value in (image.extra or {}).items():
        if key in ("labels", "subject", "sequence", "timestamp"):
            out[key] = value
        elif key == "columns" and isinstance(value, dict):
            for name, column in value.items():
                out[f"columns/{name}"] = np.asarray(column, dtype=np.dtype(dtypes.get(name, "float64")))
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
    image_extras: list[dict[str, Any]] | None = None,
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
        if image_extras is not None and image_extras[i]:
            images[-1]["thermcli"] = image_extras[i]
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


# ---- one read of a JSON file; COCO documents for evaluation --------------------------------


@dataclass
class JsonFile:
    """A JSON document read once: its value and the SHA-256 of the bytes that were parsed."""

    path: Path
    value: Any
    sha256: str


def read_json(path: str | os.PathLike, what: str = "JSON") -> JsonFile:
    """Read and parse ``path`` once (orjson), hashing the same bytes for provenance.

    Raises :class:`DataError` naming the file when it is missing or not JSON. NaN and Infinity
    (not JSON, but what Python writes) are read, for the field checks to refuse by row and field.
    """
    import orjson

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"no such {what} file", path=str(path)) from None
    except IsADirectoryError:
        raise DataError(f"{what} is a folder, not a JSON file", path=str(path)) from None
    except OSError as exc:
        raise DataError(f"{what} is not readable ({exc.strerror or exc})", path=str(path)) from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # NaN/Infinity (what Python's json.dump writes for them) or a number beyond a double:
        # orjson only says "unexpected character"; read leniently, so that the checks of the
        # fields refuse the value naming its row and field
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            raise DataError(f"{what} is not readable JSON ({' '.join(str(exc).split())[:80]})", path=str(path)) from None
    return JsonFile(path, value, hashlib.sha256(raw).hexdigest())


@dataclass
class CocoAnnotations:
    """Ground-truth objects as flat arrays, one row each (pycocotools' ``COCO`` index, flattened).

    ``boxes`` (G, 4) xywh; ``areas`` (G,) px² (COCO: the segment's area); ``image_ids`` /
    ``category_ids`` / ``ids`` (G,); ``iscrowd`` (G,) bool; for keypoints also ``keypoints``
    (G, K, 3) x, y, visibility and ``num_keypoints`` (G,). ``all_image_ids``: every image of the
    set, sorted (images without objects still count: their detections are false positives);
    ``all_category_ids``: the categories evaluated, sorted; ``category_order``: category ids in
    the file's order (a dataset's class index ``c`` is ``category_order[c]``).
    """

    boxes: np.ndarray
    areas: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    ids: np.ndarray
    iscrowd: np.ndarray
    all_image_ids: np.ndarray
    all_category_ids: np.ndarray
    keypoints: np.ndarray | None = None
    num_keypoints: np.ndarray | None = None
    keypoint_names: list[str] | None = None
    category_names: dict[int, str] | None = None
    category_order: np.ndarray | None = None

    @property
    def num_joints(self) -> int:
        return 0 if self.keypoints is None else int(self.keypoints.shape[1])

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class CocoResults:
    """Detections (a COCO results list) as flat arrays: ``scores``, ``areas``, ``image_ids``,
    ``category_ids`` (D,), ``boxes`` (D, 4) xywh for box results, ``keypoints`` (D, K, 3) for
    keypoint results. Ids are 1..D in input order, as ``COCO.loadRes`` assigns them."""

    scores: np.ndarray
    areas: np.ndarray
    image_ids: np.ndarray
    category_ids: np.ndarray
    keypoints: np.ndarray | None = None
    boxes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)


def _column(items: list, key: str, dtype, what: str, where: str, default: Any = None) -> np.ndarray:
    """``[item[key] for item in items]`` as an array; a missing key or a bad value → DataError."""
    try:
        if default is None:
            values = [item[key] for item in items]
        else:
            values = [item.get(key, default) for item in items]
        return np.array(values, dtype=dtype).reshape(len(items))
    except (KeyError, TypeError, ValueError, AttributeError):
        for i, item in enumerate(items):
            value = item.get(key, default) if isinstance(item, dict) else None
            try:
                if value is None:
                    raise TypeError
                np.array(value, dtype=dtype).reshape(())
            except (TypeError, ValueError):
                shown = "missing" if value is None else repr(value)[:40]
                raise DataError(f"{what} {i}: {key!r} is {shown}", path=where) from None
        raise DataError(f"{what}: bad {key!r} values", path=where) from None


def _flat_rows(items: list, key: str, width: int | None, what: str, where: str) -> np.ndarray:
    """``[item[key] for item in items]``, each a flat list of ``width`` numbers → (n, width)."""
    n = len(items)
    try:
        lengths = np.fromiter((len(item[key]) for item in items), np.int64, n)
    except (KeyError, TypeError):
        bad = next(i for i, item in enumerate(items) if not isinstance(item, dict) or not isinstance(item.get(key), list))
        raise DataError(f"{what} {bad} has no {key!r} list", path=where) from None
    if width is None:
        width = int(lengths[0]) if n else 0
    wrong = np.nonzero(lengths != width)[0]
    if wrong.size:
        i = int(wrong[0])
        if key == "keypoints" and width % 3 == 0:
            raise DataError(f"{what} {i} has {int(lengths[i]) // 3} keypoints; the ground truth has {width // 3}",
                            path=where)
        raise DataError(f"{what} {i} has {int(lengths[i])} {key} values, expected {width}", path=where)
    from itertools import chain

    try:
        rows = np.fromiter(chain.from_iterable(item[key] for item in items), np.float64, n * width).reshape(n, width)
    except (TypeError, ValueError):
        raise DataError(f"{what}: {key!r} holds a value that is not a number", path=where) from None
    _check_finite(rows, key, what, where, items)
    return rows


def _check_finite(values: np.ndarray, key: str, what: str, where: str, items: list) -> None:
    """NaN or inf in a numeric field: a one-line error naming the row (its id where it has one)."""
    if len(values) == 0:
        return
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        item_id = items[i].get("id") if isinstance(items[i], dict) else None
        shown = f"{what} {i}" + (f" (id {item_id})" if item_id is not None else "")
        raise DataError(f"{shown}: {key!r} holds NaN or infinity ({int(bad.sum())} such {what}s)", path=where)


def eval_ground_truth(doc: Any, *, where: str = "ground truth", kind: str = "bbox") -> CocoAnnotations:
    """A COCO ground-truth document (images, annotations, categories) → :class:`CocoAnnotations`.

    ``kind``: ``"bbox"`` (every annotation needs a ``bbox``) or ``"keypoints"`` (every annotation
    needs ``keypoints``; a missing ``bbox`` is [0, 0, 0, 0], a missing ``num_keypoints`` the count
    of visible keypoints). A missing ``area`` is the box's w·h, as faster-coco-eval derives it
    (pycocotools fails with KeyError). An annotation of an image the file does not list is an
    error naming it (pycocotools silently leaves it out); one of an unlisted category is left
    out, as pycocotools leaves it out. NaN/inf in keypoints, boxes, areas: an error naming the row.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list) or not isinstance(doc.get("images"), list):
        raise DataError("not a COCO ground-truth file (needs 'images' and 'annotations' lists)", path=where)
    images = doc["images"]
    if not all(isinstance(img, dict) for img in images):
        raise DataError("an 'images' entry is not an object", path=where)
    all_image_ids = np.unique(_column(images, "id", np.int64, "image", where))
    categories = [c for c in doc.get("categories") or [] if isinstance(c, dict)]
    category_order = _column(categories, "id", np.int64, "category", where) if categories else np.array([1], np.int64)
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in categories}
    keypoint_names = None
    for cat in categories:
        if cat.get("keypoints"):
            keypoint_names = [str(k) for k in cat["keypoints"]]
            break
    anns = doc["annotations"]
    if not all(isinstance(a, dict) for a in anns):
        raise DataError("an 'annotations' entry is not an object", path=where)
    n = len(anns)
    ids = _column(anns, "id", np.int64, "annotation", where, default=-1)
    missing = ids == -1
    if missing.any():  # thermcli's lenience: ids by position where the file has none
        ids = np.where(missing, np.arange(1, n + 1), ids)
    if n and np.unique(ids).size != n:
        values, counts = np.unique(ids, return_counts=True)
        raise DataError(f"annotation id {int(values[counts > 1][0])} appears twice", path=where)
    keypoints = num_keypoints = None
    if kind == "keypoints":
        width = 3 * len(keypoint_names) if keypoint_names else None
        flat = _flat_rows(anns, "keypoints", width, "annotation", where)
        if flat.shape[1] % 3:
            raise DataError(f"keypoints length {flat.shape[1]} is not a multiple of 3", path=where)
        k = flat.shape[1] // 3 if n else (len(keypoint_names) if keypoint_names else 17)
        keypoints = flat.reshape(n, k, 3)
        visible = np.count_nonzero(keypoints[..., 2] > 0, axis=1)
        num_keypoints = np.array([a.get("num_keypoints", v) for a, v in zip(anns, visible.tolist())], np.int64)
        has_box = np.fromiter(("bbox" in a for a in anns), bool, n)
        boxes = np.zeros((n, 4))
        if has_box.any():
            boxed = [a for a in anns if "bbox" in a]
            boxes[has_box] = _flat_rows(boxed, "bbox", 4, "annotation", where)
    elif kind == "bbox":
        boxes = _flat_rows(anns, "bbox", 4, "annotation", where)
    else:
        raise ValueError(f"kind {kind!r}")
    box_areas = boxes[:, 2] * boxes[:, 3]
    areas = _column(anns, "area", np.float64, "annotation", where, default=np.nan) if n else np.zeros(0)
    areas = np.where(np.fromiter(("area" in a for a in anns), bool, n), areas, box_areas) if n else areas
    _check_finite(areas, "area", "annotation", where, anns)
    image_ids = _column(anns, "image_id", np.int64, "annotation", where)
    orphans = np.nonzero(~np.isin(image_ids, all_image_ids))[0]
    if orphans.size:
        i = int(orphans[0])
        raise DataError(f"annotation {i} (id {int(ids[i])}) refers to image id {int(image_ids[i])}, which no image has "
                        f"({orphans.size} such annotations)", path=where)
    return CocoAnnotations(
        boxes=boxes,
        areas=areas,
        image_ids=image_ids,
        category_ids=_column(anns, "category_id", np.int64, "annotation", where, default=1),
        ids=ids,
        iscrowd=_column(anns, "iscrowd", np.int64, "annotation", where, default=0).astype(bool),
        all_image_ids=all_image_ids,
        all_category_ids=np.unique(category_order),
        keypoints=keypoints,
        num_keypoints=num_keypoints,
        keypoint_names=keypoint_names,
        category_names=names,
        category_order=category_order,
    )


def eval_results(results: Any, gt: CocoAnnotations, *, where: str = "predictions", kind: str = "bbox") -> CocoResults:
    """A COCO results list (image_id, category_id, score, bbox | keypoints) → :class:`CocoResults`.

    Checked as ``COCO.loadRes`` checks it: every image id must be in the ground truth. Box
    results: area = w·h. Keypoint results: when the first result has a ``bbox``, every area is its
    box's area, else the extent of the keypoints (``COCO.loadRes``'s rule).
    """
    if not isinstance(results, list):
        raise DataError("not a COCO results file (expected a JSON list of detections)", path=where)
    if not all(isinstance(r, dict) for r in results):
        raise DataError("a result is not an object", path=where)
    n = len(results)
    image_ids = _column(results, "image_id", np.int64, "result", where)
    unknown = np.setdiff1d(image_ids, gt.all_image_ids)
    if unknown.size:
        shown = ", ".join(str(int(v)) for v in unknown[:5])
        raise DataError(
            f"predictions for {unknown.size} image id(s) not in the ground truth ({shown}{', …' if unknown.size > 5 else ''})",
            path=where,
        )
    keypoints = boxes = None
    if kind == "keypoints":
        k = gt.num_joints
        flat = _flat_rows(results, "keypoints", 3 * k, "result", where)
        keypoints = flat.reshape(n, k, 3)
        if n and isinstance(results[0].get("bbox"), list) and len(results[0]["bbox"]) > 0:
            try:  # COCO.loadRes: the first result decides; then area = box area for all
                b = _flat_rows(results, "bbox", 4, "result", where)
            except DataError:
                raise DataError("the first result has a bbox, so every result needs one", path=where) from None
            areas = b[:, 2] * b[:, 3]
        else:
            areas = keypoint_extent_area(keypoints)
    elif kind == "bbox":
        boxes = _flat_rows(results, "bbox", 4, "result", where)
        areas = boxes[:, 2] * boxes[:, 3]
    else:
        raise ValueError(f"kind {kind!r}")
    scores = _column(results, "score", np.float64, "result", where, default=1.0)
    _check_finite(scores, "score", "result", where, results)
    return CocoResults(
        scores=scores,
        areas=areas,
        image_ids=image_ids,
        category_ids=_column(results, "category_id", np.int64, "result", where, default=1),
        keypoints=keypoints,
        boxes=boxes,
    )


def keypoint_extent_area(keypoints: np.ndarray) -> np.ndarray:
    """Area of the box spanned by all K keypoints (visible or not), as ``COCO.loadRes`` computes it."""
    if keypoints.shape[0] == 0:
        return np.zeros(0)
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
