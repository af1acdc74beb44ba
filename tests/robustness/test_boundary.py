"""Validation where data enters: nonsense that was accepted silently (exit 0, output written) or
failed later with a raw exception is now one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.conftest import assert_clean_error, make_dataset, sha256
from thermcli.errors import DataError
from thermcli.io import write_dataset

MALFORMED_PROVENANCE = ['"text"', "[1, 2]", '{"inputs": 5}', '{"inputs": [{"path": 3}]}', '{"inputs": ["x"]}',
                        '{"command": 7}', '{"inputs": [{"path": "a", "provenance": [1]}]}']


@pytest.mark.parametrize("text", MALFORMED_PROVENANCE)
def test_malformed_provenance_in_an_input_is_refused_not_copied(cli, tmp_path, text):
    from thermcli.io.provenance import read_provenance

    src = tmp_path / "in.h5"
    write_dataset(src, make_dataset())
    with h5py.File(src, "a") as fh:
        fh.attrs["provenance"] = text
    before = sha256(src)
    assert_clean_error(cli("info", src), 1, "in.h5", "provenance")
    assert_clean_error(cli("threshold", src, tmp_path / "out.h5"), 1, "in.h5", "provenance")
    assert not (tmp_path / "out.h5").exists() and sha256(src) == before
    assert read_provenance(src) is None  # lineage of an output never copies it


def test_well_formed_provenance_still_reads(cli, tmp_path):
    src = tmp_path / "in.h5"
    write_dataset(src, make_dataset())
    assert cli("threshold", src, tmp_path / "out.h5").exit_code == 0
    assert cli("info", tmp_path / "out.h5").exit_code == 0


def test_png_sidecar_with_an_unknown_encoding_is_refused(cli, tmp_path):
    folder = tmp_path / "png"
    write_dataset(folder, make_dataset())
    doc = json.loads((folder / "thermcli.json").read_text())
    doc["encoding"] = {"type": "millikelvin", "bits": 16}
    (folder / "thermcli.json").write_text(json.dumps(doc))
    assert_clean_error(cli("info", folder), 1, "png", "encoding", "millikelvin")
    assert_clean_error(cli("export", folder, tmp_path / "out"), 1, "encoding")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["a/b", "", ".", ".."])
def test_unusable_column_names_are_refused_before_writing(tmp_path, name):
    data = make_dataset()
    data.columns[name] = np.zeros(len(data), np.float32)
    with pytest.raises(DataError, match="column name"):
        write_dataset(tmp_path / "x.h5", data)
    assert list(tmp_path.iterdir()) == []


def test_roi_person_beyond_the_people_in_the_data(cli, tmp_path):
    src = tmp_path / "pose.h5"
    write_dataset(src, make_dataset(n=6, h=32, w=40, keypoints=True))  # one person slot
    args = ["roi", src, tmp_path / "r", "--anchor", "mouth=disc:nose:3"]
    assert_clean_error(cli(*args, "--person", "99"), 2, "--person", "1 person slot")
    assert not (tmp_path / "r").exists()
    assert cli(*args, "--person", "0").exit_code == 0


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40], ids=["zero-byte", "truncated"])
def test_unreadable_image_is_one_line_without_opencv_warnings(tmp_path, content):
    """OpenCV's "[ WARN ]" lines (C-level stderr, so through a real process) preceded the error."""
    folder = tmp_path / "cam"
    folder.mkdir()
    (folder / "IR_0001.png").write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "thermcli", "import", str(folder), str(tmp_path / "x.h5")],
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "WARN" not in done.stderr and "IR_0001.png" in lines[0]


def test_yolo_class_id_beyond_the_class_list(cli, tmp_path):
    import cv2

    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"f{i}.png"), np.full((12, 16), 40 * i, np.uint8))
    (labels / "classes.txt").write_text("dog\nperson\n")
    (labels / "f0.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (labels / "f1.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.4 0.4 0.1 0.1\n")
    assert_clean_error(cli("import", images, tmp_path / "x.h5", "--yolo", labels), 1, "f1.txt", "line 2", "class id 5")
    assert not (tmp_path / "x.h5").exists()
    (labels / "f1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert cli("import", images, tmp_path / "x.h5", "--yolo", labels).exit_code == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    root = tmp_path_factory.mktemp("boundary-model")
    write_dataset(root / "train.h5", make_dataset(n=12, h=16, w=20))
    result = CliRunner().invoke(app, ["train", str(root / "train.h5"), "--task", "classify", "--arch", "small_cnn", "--width", "4",
                                      "--epochs", "1", "--batch-size", "8", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "train.h5", root / "run" / "best.pt"


@pytest.mark.parametrize("change", [{"width": -4}, {"num_classes": 10**9}, {"dropout": float("nan")}],
                         ids=["negative-width", "absurd-classes", "nan-dropout"])
def test_checkpoint_with_an_impossible_config(cli, tmp_path, trained, change):
    import torch

    data, best = trained
    payload = torch.load(best, weights_only=True)
    config = json.loads(payload["config"])
    config["model_kwargs"].update(change)
    payload["config"] = json.dumps(config)
    torch.save(payload, tmp_path / "bad.pt")
    key = next(iter(change))
    assert_clean_error(cli("predict", tmp_path / "bad.pt", data, tmp_path / "p.h5"), 1, "bad.pt", key)
    assert_clean_error(cli("eval", tmp_path / "bad.pt", data), 1, "bad.pt", key)
    assert not (tmp_path / "p.h5").exists()
    # as initial weights: the file says it is a model that cannot exist (it was used silently)
    run = tmp_path / "run"
    train = ["train", data, "--task", "classify", "--arch", "small_cnn", "--width", "4", "--epochs", "1", "--out", run]
    assert_clean_error(cli(*train, "--weights", tmp_path / "bad.pt"), 1, "bad.pt", key)
    assert not run.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]
    assert cli(*train, "--weights", best).exit_code == 0  # the same file, config intact: used


# ---- COCO files: nonsense that was imported or scored silently -------------------------------------


def _keypoint_coco(root):
    """Two 8×8 images, two people with 2 keypoints each, and a box-only category (no keypoints
    needed there)."""
    import cv2

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(root / name), np.full((8, 8), 100, np.uint8))
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8},
                   {"id": 2, "file_name": "b.png", "width": 8, "height": 8}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2, 3, 4, 2], "bbox": [0, 0, 5, 6], "area": 30.0},
            {"id": 6, "image_id": 2, "category_id": 1, "keypoints": [2, 2, 2, 4, 4, 1], "bbox": [1, 1, 4, 4], "area": 16.0},
            {"id": 7, "image_id": 2, "category_id": 2, "bbox": [0, 0, 2, 2], "area": 4.0},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]},
                       {"id": 2, "name": "cup"}],
    }


def _set(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DROP = object()
IMPORT_NONSENSE = {
    "nan-keypoint": ((["annotations", 1, "keypoints", 3], float("nan")), "annotation 6", "keypoints"),
    "inf-bbox": ((["annotations", 0, "bbox", 2], float("inf")), "annotation 5", "bbox"),
    "nan-area": ((["annotations", 0, "area"], float("nan")), "annotation 5", "area"),
    "negative-box": ((["annotations", 1, "bbox", 3], -4), "annotation 6", "negative"),
    "no-keypoints": ((["annotations", 0, "keypoints"], _DROP), "annotation 5", "no 'keypoints'"),
}


@pytest.mark.parametrize("case", list(IMPORT_NONSENSE))
def test_coco_import_refuses_nonsense_annotations(cli, tmp_path, case):
    (path, value), *expected = IMPORT_NONSENSE[case]
    doc = _keypoint_coco(tmp_path)
    (tmp_path / "good.json").write_text(json.dumps(doc))
    assert cli("import", tmp_path / "good.json", tmp_path / "good.h5").exit_code == 0  # the cup needs no keypoints
    _set(doc, path, value)
    (tmp_path / "c.json").write_text(json.dumps(doc))
    assert_clean_error(cli("import", tmp_path / "c.json", tmp_path / "x.h5"), 1, "c.json", *expected)
    assert not (tmp_path / "x.h5").exists()


def _oks_case():
    rng = np.random.default_rng(3)
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "person"}], "annotations": []}
    results = []
    for aid, img in enumerate([1, 1, 2], start=1):
        kp = np.column_stack([rng.uniform(0, 80, 17), rng.uniform(0, 60, 17), np.full(17, 2)])
        gt["annotations"].append({"id": aid, "image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(),
                                  "num_keypoints": 17, "bbox": [0, 0, 40 + aid, 30], "iscrowd": 0})
        kp[:, :2] += rng.normal(0, 1, (17, 2))
        results.append({"image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9,
                        "bbox": [0, 0, 40, 30]})
    return gt, results


EVAL_NONSENSE = {  # (metric, which file, path, value, words of the message)
    "oks-nan-result": ("oks", "pred", [0, "keypoints", 4], float("nan"), ["result 0", "keypoints", "NaN"]),
    "oks-nan-score": ("oks", "pred", [2, "score"], float("nan"), ["result 2", "score", "NaN"]),
    "oks-nan-gt": ("oks", "gt", ["annotations", 1, "keypoints", 0], float("nan"), ["annotation 1 (id 2)", "keypoints"]),
    "oks-orphan-gt": ("oks", "gt", ["annotations", 2, "image_id"], 9, ["annotation 2 (id 3)", "image id 9", "no image"]),
    "bbox-nan-result": ("bbox", "pred", [1, "bbox", 0], float("nan"), ["result 1", "bbox", "NaN"]),
    "bbox-inf-area": ("bbox", "gt", ["annotations", 0, "area"], float("inf"), ["annotation 0 (id 1)", "area"]),
    "bbox-orphan-gt": ("bbox", "gt", ["annotations", 0, "image_id"], 7, ["annotation 0 (id 1)", "image id 7"]),
}


@pytest.mark.parametrize("case", list(EVAL_NONSENSE))
def test_eval_refuses_nonsense_in_coco_files(cli, tmp_path, case):
    metric, which, path, value, words = EVAL_NONSENSE[case]
    gt, results = _oks_case()
    if metric == "bbox":
        for ann in gt["annotations"]:
            del ann["keypoints"], ann["num_keypoints"]
        results = [{k: v for k, v in r.items() if k != "keypoints"} for r in results]
    docs = {"gt": gt, "pred": results}
    args = ["eval", "--metric", metric, "--gt", tmp_path / "gt.json", "--pred", tmp_path / "pred.json", "--json"]
    for name, doc in docs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    assert cli(*args).exit_code == 0
    _set(docs[which], path, value)
    (tmp_path / f"{which}.json").write_text(json.dumps(docs[which]))
    assert_clean_error(cli(*args, "--fail-under", "AP=0"), 1, f"{which}.json", *words)


@pytest.mark.parametrize("metric", ["oks", "bbox"])
def test_ground_truth_without_area_takes_the_box_area(cli, tmp_path, metric):
    """pycocotools fails on it (KeyError: 'area'); faster-coco-eval takes w·h, and so does thermcli
    (docs/commands/eval.md): the same numbers as the file with area = w·h written out."""
    gt, results = _oks_case()
    if metric == "bbox":
        for ann in gt["annotations"]:
            del ann["keypoints"], ann["num_keypoints"]
        results = [{k: v for k, v in r.items() if k != "keypoints"} for r in results]
    (tmp_path / "pred.json").write_text(json.dumps(results))
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    for ann in gt["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    (tmp_path / "gt_area.json").write_text(json.dumps(gt))
    reports = []
    for name in ("gt.json", "gt_area.json"):
        result = cli("eval", "--metric", metric, "--gt", tmp_path / name, "--pred", tmp_path / "pred.json", "--json",
                     "--area-ranges", "medium=0:1250,large=1250:1e10")
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout)["metrics"][metric])
    assert {k: v for k, v in reports[0].items() if k != "per_class"} == {k: v for k, v in reports[1].items() if k != "per_class"}
    assert reports[0]["APm"] != reports[0]["APl"] or reports[0]["APm"] > -1  # the areas split the people


@pytest.mark.parametrize("command", ["train", "distill"])
def test_frames_smaller_than_the_model_takes(cli, tmp_path, trained, command):
    """1×1 frames failed with "RuntimeError: Given input size: (16x1x1) ..."; now one line naming
    the file and the minimum size — and that minimum trains, one pixel less does not."""
    from thermcli.models.input_size import minimum_side
    from thermcli.models.registry import create_model

    side = minimum_side(create_model("small_cnn", in_chans=1, num_classes=2, width=4), 1, (1, 1))
    assert side is not None and side > 1
    args = {"train": ["train", "--task", "classify", "--arch", "small_cnn", "--width", "4", "--epochs", "1"],
            "distill": ["distill", "--task", "classify", "--teacher", trained[1], "--student", "small_cnn", "--width", "4",
                        "--epochs", "1"]}[command]
    write_dataset(tmp_path / "one.h5", make_dataset(n=12, h=1, w=1))
    assert_clean_error(cli(args[0], tmp_path / "one.h5", *args[1:], "--out", tmp_path / "r1"), 1, "one.h5", "1×1",
                       f"at least {side}×{side}")
    assert not (tmp_path / "r1").exists()
    if command == "train":
        write_dataset(tmp_path / "small.h5", make_dataset(n=12, h=side - 1, w=side - 1))
        assert cli(args[0], tmp_path / "small.h5", *args[1:], "--out", tmp_path / "r2").exit_code == 1
        write_dataset(tmp_path / "ok.h5", make_dataset(n=12, h=side, w=side))
        assert cli(args[0], tmp_path / "ok.h5", *args[1:], "--out", tmp_path / "r3").exit_code == 0
