"""YOLO box labels: one text file per image, a line ``class cx cy w h`` (normalised 0..1).

Boxes come back as thermcli's ``(P, 4)`` float32 ``x, y, w, h`` in pixels of the image.
Arithmetic runs in float64 and values are written with 12 significant digits, so a box survives
export → import to within 1e-4 px (bit for bit on the real thermal-people labels).
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import numpy as np

from thermcli.errors import DataError


def read_yolo_boxes(path: str | os.PathLike, *, width: int, height: int,
                    num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes (P, 4) float32 x, y, w, h pixels, classes (P,) int32)`` of one label file.

    A missing file means "no boxes" (YOLO's convention for background images). With
    ``num_classes`` (the length of the class list), a class id beyond it is an error.
    """
    path = Path(path)
    if not path.is_file():
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.int32)
    boxes, classes = [], []
    for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5:
            raise DataError(f"line {line_no}: expected 'class cx cy w h', got {line.strip()!r}", path=str(path))
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:5])
        except ValueError:
            raise DataError(f"line {line_no}: not numbers: {line.strip()!r}", path=str(path)) from None
        if cls < 0 or not all(np.isfinite([cx, cy, w, h])) or w < 0 or h < 0:
            raise DataError(f"line {line_no}: invalid box {line.strip()!r}", path=str(path))
        if num_classes is not None and cls >= num_classes:
            raise DataError(f"line {line_no}: class id {cls} is beyond the {num_classes} classes of the class list "
                            f"(ids 0..{num_classes - 1})", path=str(path))
        x = (cx - w / 2.0) * width
        y = (cy - h / 2.0) * height
        boxes.append((x, y, w * width, h * height))
        classes.append(cls)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.int32)
    return np.asarray(boxes, np.float64).astype(np.float32), np.asarray(classes, np.int32)


def format_yolo_boxes(boxes: np.ndarray, classes: np.ndarray, *, width: int, height: int) -> str:
    """Lines of a YOLO label file for ``boxes`` (P, 4) x, y, w, h pixels; NaN rows are skipped."""
    lines = []
    for box, cls in zip(np.asarray(boxes, np.float64), np.asarray(classes)):
        if not np.all(np.isfinite(box)):
            continue
        x, y, w, h = box
        cx = (x + w / 2.0) / width
        cy = (y + h / 2.0) / height
        lines.append(f"{int(cls)} {cx:.12g} {cy:.12g} {w / width:.12g} {h / height:.12g}")
    return "".join(line + "\n" for line in lines)


def read_yolo_names(folder: str | os.PathLike) -> list[str] | None:
    """Class names from a ``data.yaml`` (``names: [...]`` or a block list) or ``classes.txt``
    in ``folder`` or up to two folders above it; None when there is none."""
    folder = Path(folder).resolve()
    for base in (folder, folder.parent, folder.parent.parent):
        classes_txt = base / "classes.txt"
        if classes_txt.is_file():
            names = [line.strip() for line in classes_txt.read_text().splitlines() if line.strip()]
            if names:
                return names
        for yaml_name in ("data.yaml", "data.yml", "dataset.yaml"):
            data_yaml = base / yaml_name
            if data_yaml.is_file():
                names = _names_from_yaml(data_yaml.read_text(errors="replace"))
                if names:
                    return names
    return None


def _names_from_yaml(text: str) -> list[str] | None:
    """The ``names`` entry of a YOLO data.yaml, without a YAML dependency (flow list or block)."""
    match = re.search(r"^names\s*:\s*(\[.*?\])\s*$", text, flags=re.M | re.S)
    if match:
        try:
            value = ast.literal_eval(match.group(1))
            return [str(v) for v in value]
        except (ValueError, SyntaxError):
            return None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^names\s*:\s*$", line):
            names: dict[int, str] = {}
            for item in lines[i + 1 :]:
                m = re.match(r"^\s+(?:-\s*(.+)|(\d+)\s*:\s*(.+))$", item)
                if not m:
                    break
                if m.group(1) is not None:
                    names[len(names)] = m.group(1).strip().strip("'\"")
                else:
                    names[int(m.group(2))] = m.group(3).strip().strip("'\"")
            return [names[k] for k in sorted(names)] or None
    return None


def format_data_yaml(names: list[str]) -> str:
    return f"nc: {len(names)}\nnames: {names!r}\ntrain: images\nval: images\n"
