"""A corpus of broken inputs, built fresh for each test: every command must meet each with
exit 1 or 2, one line naming the problem, no traceback, nothing written, the input unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from tests.conftest import make_dataset
from thermcli.io import write_dataset

DATASET_CASES = [
    "missing",
    "zero_byte",
    "truncated",
    "not_hdf5",
    "foreign_hdf5",
    "future_version",
    "wrong_dtype",
    "nan_frame",
    "inf_frame",
    "zero_frames",
    "absurd_shape",
    "mismatched_labels",
    "empty_folder",
    "external_storage",
    "external_link",
    "virtual_dataset",
    "external_link_in_group",
    "malformed_provenance",
    "nan_timestamp",
    "unknown_encoding",
]
CHECKPOINT_CASES = ["missing_pt", "zero_byte_pt", "corrupted_pt", "foreign_pt", "pickled_code_pt"]
COCO_CASES = ["coco_path_escape", "coco_absolute_path", "coco_not_json"]
IMAGE_CASES = ["zero_byte_jpg", "truncated_png", "not_a_video"]


def _raw(path: Path, shape, dtype="float32", fill=25.0, version=1, schema="thermcli.dataset", labels=None):
    with h5py.File(path, "w") as fh:
        fh.attrs["schema"] = schema
        fh.attrs["schema_version"] = version
        fh.attrs["meta"] = json.dumps({"unit": "celsius", "modality": "thermal", "class_names": ["INH", "EXH"]})
        fh.attrs["provenance"] = "{}"
        chunks = (1, *shape[1:]) if shape[0] else None
        ds = fh.create_dataset("frames", shape=shape, dtype=dtype, chunks=chunks)
        if fill is not None and shape[0] and shape[0] < 100:
            ds[...] = fill
        if labels is not None:
            fh["labels"] = labels
    return path


def build(case: str, root: Path) -> Path:
    """Create the broken input ``case`` under ``root`` and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    good = make_dataset(n=6, h=16, w=20)
    if case == "missing":
        return root / "missing.h5"
    if case == "zero_byte":
        (root / "zero.h5").write_bytes(b"")
        return root / "zero.h5"
    if case == "truncated":
        write_dataset(root / "full.h5", good)
        data = (root / "full.h5").read_bytes()
        (root / "full.h5").unlink()
        (root / "truncated.h5").write_bytes(data[: len(data) // 3])
        return root / "truncated.h5"
    if case == "not_hdf5":
        (root / "text.h5").write_text("frame,label\n1,2\n")
        return root / "text.h5"
    if case == "foreign_hdf5":
        with h5py.File(root / "foreign.h5", "w") as fh:
            fh["images"] = np.zeros((3, 4, 4))
        return root / "foreign.h5"
    if case == "future_version":
        return _raw(root / "future.h5", (3, 8, 8), version=99)
    if case == "wrong_dtype":
        return _raw(root / "f64.h5", (3, 8, 8), dtype="float64")
    if case == "nan_frame":
        path = _raw(root / "nan.h5", (3, 8, 8), labels=np.array([0, 1, 0], np.int64))
        with h5py.File(path, "a") as fh:
            fh["frames"][1] = np.nan
        return path
    if case == "inf_frame":
        path = _raw(root / "inf.h5", (3, 8, 8), labels=np.array([0, 1, 0], np.int64))
        with h5py.File(path, "a") as fh:
            fh["frames"][2, 0, 0] = np.inf
        return path
    if case == "zero_frames":
        return _raw(root / "empty.h5", (0, 8, 8))
    if case == "absurd_shape":
        return _raw(root / "absurd.h5", (10**9, 60, 80), fill=None)
    if case == "mismatched_labels":
        return _raw(root / "mismatch.h5", (4, 8, 8), labels=np.zeros(3, np.int64))
    if case in ("external_storage", "external_link", "virtual_dataset", "external_link_in_group"):
        return _outside(case, root)
    if case == "malformed_provenance":
        write_dataset(root / "prov.h5", good)
        with h5py.File(root / "prov.h5", "a") as fh:
            fh.attrs["provenance"] = '{"inputs": 5}'
        return root / "prov.h5"
    if case == "nan_timestamp":
        write_dataset(root / "nan_ts.h5", good)
        with h5py.File(root / "nan_ts.h5", "a") as fh:
            fh["timestamp"][2] = np.nan
        return root / "nan_ts.h5"
    if case == "unknown_encoding":
        write_dataset(root / "png_enc", good)
        doc = json.loads((root / "png_enc" / "thermcli.json").read_text())
        doc["encoding"] = {"type": "millikelvin", "bits": 16}
        (root / "png_enc" / "thermcli.json").write_text(json.dumps(doc))
        return root / "png_enc"
    if case == "empty_folder":
        (root / "empty_dir").mkdir()
        (root / "empty_dir" / "README.txt").write_text("no images here")
        return root / "empty_dir"
    if case == "missing_pt":
        return root / "missing.pt"
    if case == "zero_byte_pt":
        (root / "zero.pt").write_bytes(b"")
        return root / "zero.pt"
    if case == "corrupted_pt":
        (root / "corrupt.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
        return root / "corrupt.pt"
    if case == "foreign_pt":
        import torch

        torch.save({"model": {"w": torch.zeros(3)}}, root / "foreign.pt")
        return root / "foreign.pt"
    if case == "pickled_code_pt":
        import pickle

        import torch

        class Payload:
            def __reduce__(self):
                return (exec, ("open('PWNED', 'w').write('x')",))

        with open(root / "evil.pt", "wb") as fh:
            torch.save({"format": "thermcli.checkpoint", "x": Payload()}, fh, pickle_module=pickle)
        return root / "evil.pt"
    if case in ("coco_path_escape", "coco_absolute_path"):
        name = "../../etc/passwd.jpg" if case == "coco_path_escape" else "/etc/passwd.jpg"
        doc = {
            "images": [{"id": 1, "file_name": name, "width": 80, "height": 60}],
            "annotations": [],
            "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
        }
        (root / f"{case}.json").write_text(json.dumps(doc))
        return root / f"{case}.json"
    if case == "coco_not_json":
        (root / "coco.json").write_text("{not json")
        return root / "coco.json"
    if case == "zero_byte_jpg":
        (root / "cam").mkdir()
        (root / "cam" / "IR_0001.jpg").write_bytes(b"")
        return root / "cam" / "IR_0001.jpg"
    if case == "truncated_png":
        import cv2

        ok, buf = cv2.imencode(".png", np.full((32, 32), 128, np.uint8))
        (root / "cut.png").write_bytes(buf.tobytes()[:40])
        return root / "cut.png"
    if case == "not_a_video":
        (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
        return root / "clip.mp4"
    raise KeyError(case)


def secret_file(root: Path) -> Path:
    """A file outside the dataset that a crafted HDF5 file points at (stands in for /etc/passwd)."""
    secret = root / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 40)
    return secret


def _outside(case: str, root: Path) -> Path:
    """A thermcli-looking dataset whose frames (or a column) live outside the file."""
    shape = (3, 8, 8)
    path = root / f"{case}.h5"
    if case == "external_storage":
        secret = secret_file(root)
        with h5py.File(path, "w") as fh:
            _attrs(fh, unit="intensity")  # uint8 frames: without the check, the secret reads as pixels
            fh.create_dataset("frames", shape=shape, dtype="uint8", external=[(str(secret), 0, 3 * 8 * 8)])
        return path
    other = root / "other.h5"
    with h5py.File(other, "w") as fh:
        fh["frames"] = np.full(shape, 25.0, np.float32)
        fh["x"] = np.zeros(3, np.float32)
    with h5py.File(path, "w") as fh:
        _attrs(fh)
        if case == "external_link":
            fh["frames"] = h5py.ExternalLink(str(other), "/frames")
        elif case == "virtual_dataset":
            layout = h5py.VirtualLayout(shape=shape, dtype="float32")
            layout[:] = h5py.VirtualSource(str(other), "frames", shape=shape)
            fh.create_virtual_dataset("frames", layout)
        else:
            fh["frames"] = np.full(shape, 25.0, np.float32)
            fh.create_group("columns")["x"] = h5py.ExternalLink(str(other), "/x")
    return path


def _attrs(fh, unit: str = "celsius") -> None:
    fh.attrs["schema"] = "thermcli.dataset"
    fh.attrs["schema_version"] = 1
    fh.attrs["meta"] = json.dumps({"unit": unit, "modality": "thermal", "class_names": ["INH", "EXH"]})
    fh.attrs["provenance"] = "{}"
