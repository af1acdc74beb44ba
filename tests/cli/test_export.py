"""`thermcli export` end to end, and import of an export gives back the same dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import read_dataset, write_dataset
from thermcli.ops.palette import apply_palette, window_to_uint8


def _same(a, b, fields=("frames", "boxes", "box_classes", "keypoints", "labels")):
    for name in fields:
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            np.testing.assert_array_equal(left, right, err_msg=name)


@pytest.fixture
def celsius_h5(tmp_path):
    ds = make_dataset(n=4, h=9, w=11, keypoints=True)
    ds.frames = np.round(ds.frames * 100) / 100  # on the 0.01 K grid: PNG round trip is exact
    ds.frames = ds.frames.astype(np.float32)
    path = tmp_path / "c.h5"
    write_dataset(path, ds)
    return path, read_dataset(path)


def test_png_sixteen_bit_roundtrip(cli, tmp_path, celsius_h5):
    path, ds = celsius_h5
    out = tmp_path / "png"
    result = cli("export", path, out, "--to", "png")
    assert result.exit_code == 0, result.output
    sidecar = json.loads((out / "thermcli.json").read_text())
    assert sidecar["encoding"]["type"] == "centikelvin"
    back = read_dataset(out)
    np.testing.assert_allclose(back.frames, ds.frames, atol=1e-4)
    _same(ds, back, fields=("boxes", "keypoints", "labels"))
    # and a plain import of the exported frame images with --unit celsius gives the same values
    assert cli("import", out / "frames", tmp_path / "again.h5", "--unit", "celsius").exit_code == 0
    np.testing.assert_allclose(read_dataset(tmp_path / "again.h5").frames, ds.frames, atol=1e-4)


def test_png_eight_bit_palette_and_window(cli, tmp_path, celsius_h5):
    path, ds = celsius_h5
    out = tmp_path / "png8"
    result = cli("export", path, out, "--to", "png", "--palette", "ironbow", "--window", "20:40")
    assert result.exit_code == 0, result.output
    back = read_dataset(out)
    assert back.meta.unit == "intensity" and back.frames.shape == (*ds.frames.shape, 3)
    want = apply_palette(window_to_uint8(ds.frames, 20, 40), "ironbow")
    np.testing.assert_array_equal(back.frames, want)
    assert back.meta.attrs["window"] == [20.0, 40.0]
    # importing the pseudo-colour images with the palette gives back the windowed intensity
    assert cli("import", out / "frames", tmp_path / "i.h5", "--palette", "ironbow").exit_code == 0
    np.testing.assert_array_equal(read_dataset(tmp_path / "i.h5").frames, window_to_uint8(ds.frames, 20, 40))


def test_coco_export_import_roundtrip_celsius(cli, tmp_path, celsius_h5):
    path, ds = celsius_h5
    out = tmp_path / "coco"
    assert cli("export", path, out, "--to", "coco").exit_code == 0
    assert cli("import", out / "annotations.json", tmp_path / "back.h5").exit_code == 0
    back = read_dataset(tmp_path / "back.h5")
    assert back.meta.unit == "celsius"
    np.testing.assert_allclose(back.frames, ds.frames, atol=1e-4)
    _same(ds, back, fields=("boxes", "keypoints", "labels", "timestamp"))
    assert list(back.subject) == list(ds.subject)  # carried in each image's "thermcli" record
    assert back.meta.class_names == ds.meta.class_names
    assert back.meta.keypoint_names == ds.meta.keypoint_names
    assert back.meta.skeleton == ds.meta.skeleton and back.meta.sigmas == ds.meta.sigmas


def test_yolo_needs_boxes(cli, tmp_path):
    path = tmp_path / "plain.h5"
    write_dataset(path, make_dataset(n=2))
    assert_clean_error(cli("export", path, tmp_path / "y", "--to", "yolo"), 1, "plain.h5", "boxes")
    assert not (tmp_path / "y").exists()


def test_unknown_format_and_palette(cli, tmp_path, celsius_h5):
    path, _ = celsius_h5
    assert_clean_error(cli("export", path, tmp_path / "o", "--to", "voc"), 2, "--to", "voc")
    assert_clean_error(cli("export", path, tmp_path / "o", "--palette", "nope"), 2, "--palette")
    assert_clean_error(cli("export", path, tmp_path / "o", "--window", "40:20"), 2, "--window")


def test_refuses_existing_output(cli, tmp_path, celsius_h5):
    path, _ = celsius_h5
    (tmp_path / "o").mkdir()
    assert_clean_error(cli("export", path, tmp_path / "o", "--to", "coco"), 2, "--force")


@pytest.mark.shared_data
def test_thermal_people_yolo_roundtrip(cli, tmp_path, shared_data):
    folder = shared_data / "thermal-people" / "valid"
    first = tmp_path / "people.h5"
    assert cli("import", folder / "images", first, "--yolo", folder / "labels").exit_code == 0
    original = read_dataset(first)
    assert original.meta.box_class_names == ["dog", "person"]
    # the boxes are the label files' own numbers, in pixels
    import cv2

    image_path = sorted((folder / "images").iterdir())[0]
    h, w = cv2.imread(str(image_path)).shape[:2]
    line = (folder / "labels" / (image_path.stem + ".txt")).read_text().split()
    cls, cx, cy, bw, bh = int(line[0]), *map(float, line[1:5])
    np.testing.assert_allclose(original.boxes[0, 0], [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h], rtol=1e-6)
    assert original.box_classes[0, 0] == cls

    exported = tmp_path / "yolo"
    assert cli("export", first, exported, "--to", "yolo").exit_code == 0
    assert "names: ['dog', 'person']" in (exported / "data.yaml").read_text()
    second = tmp_path / "again.h5"
    assert cli("import", exported / "images", second, "--yolo", exported / "labels").exit_code == 0
    again = read_dataset(second)
    _same(original, again, fields=("frames", "boxes", "box_classes"))
    assert again.meta.box_class_names == original.meta.box_class_names


@pytest.mark.shared_data
def test_coco_keypoints_export_loads_in_pycocotools(cli, tmp_path, shared_data):
    from pycocotools.coco import COCO

    source = shared_data / "coco-keypoints" / "test_coco.json"
    imported = tmp_path / "coco.h5"
    assert cli("import", source, imported, "--modality", "rgb").exit_code == 0
    ds = read_dataset(imported)
    assert ds.keypoints.shape[2:] == (17, 3) and ds.meta.keypoint_names[0] == "nose"
    out = tmp_path / "coco-out"
    assert cli("export", imported, out, "--to", "coco").exit_code == 0
    original, exported = COCO(str(source)), COCO(str(out / "annotations.json"))
    assert sorted(original.getAnnIds()) == sorted(exported.getAnnIds())
    for ann_id in original.getAnnIds():
        a, b = original.loadAnns(ann_id)[0], exported.loadAnns(ann_id)[0]
        np.testing.assert_allclose(b["keypoints"], a["keypoints"])
        np.testing.assert_allclose(b["bbox"], a["bbox"], rtol=1e-6)
        assert b["num_keypoints"] == a["num_keypoints"] and b["iscrowd"] == a["iscrowd"]
        np.testing.assert_allclose(b["area"], a["area"], rtol=1e-6)
        assert b["image_id"] == a["image_id"]
    for image_id in original.getImgIds():
        a, b = original.loadImgs(image_id)[0], exported.loadImgs(image_id)[0]
        assert (a["width"], a["height"]) == (b["width"], b["height"])
    assert exported.loadCats(1)[0]["skeleton"] == original.loadCats(1)[0]["skeleton"]
    # and import of the export gives back the same dataset
    again = tmp_path / "again.h5"
    assert cli("import", out / "annotations.json", again).exit_code == 0
    back = read_dataset(again)
    _same(ds, back, fields=("frames", "boxes", "box_classes", "keypoints"))
    assert back.meta.modality == "rgb"
    for name in ds.columns:
        np.testing.assert_array_equal(back.columns[name], ds.columns[name])
