"""COCO files with nonsense in them are refused at the boundary, naming the file and the row."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_clean_error
from thermcli.errors import DataError
from thermcli.io.coco import eval_ground_truth, eval_results, read_coco

NAMES = [f"k{i}" for i in range(17)]


def gt_doc(**ann_extra):
    ann = {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 6], "area": 24.0, "num_keypoints": 1,
           "keypoints": [2, 2, 2] + [0] * 48, **ann_extra}
    return {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 8}], "annotations": [ann],
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES}]}


def test_an_annotation_of_an_image_the_file_does_not_list_is_refused():
    with pytest.raises(DataError, match="annotation 5 refers to image id 9, which no image has"):
        eval_ground_truth(gt_doc(image_id=9), kind="keypoints")


@pytest.mark.parametrize("field,value", [("bbox", [1, float("nan"), 4, 6]), ("area", float("inf")),
                                         ("keypoints", [float("nan"), 2, 2] + [0] * 48)])
def test_non_finite_ground_truth_is_refused_naming_the_annotation(field, value):
    with pytest.raises(DataError, match=f"annotation 5: {field} holds NaN or infinite"):
        eval_ground_truth(gt_doc(**{field: value}), kind="keypoints" if field != "bbox" else "bbox")


@pytest.mark.parametrize("field,value", [("score", float("nan")), ("keypoints", [2, float("inf"), 1] + [0] * 48)])
def test_non_finite_results_are_refused_naming_the_result(field, value):
    gt = eval_ground_truth(gt_doc(), kind="keypoints")
    result = {"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": [2, 2, 1] + [0] * 48}
    result[field] = value
    with pytest.raises(DataError, match=f"result 0: {field} holds NaN or infinite"):
        eval_results([result], gt, kind="keypoints")


def test_missing_area_is_the_box_area():
    doc = gt_doc()
    del doc["annotations"][0]["area"]
    assert eval_ground_truth(doc, kind="keypoints").areas.tolist() == [24.0]


def test_keypoint_file_with_an_annotation_without_keypoints_is_refused(tmp_path):
    doc = gt_doc()
    del doc["annotations"][0]["keypoints"]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="annotation 5 has no 'keypoints'"):
        read_coco(tmp_path / "c.json")


def test_nan_tokens_in_a_json_file_are_named(cli, tmp_path):
    doc = gt_doc(keypoints=[float("nan"), 2, 2] + [0] * 48)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(doc))  # Python writes NaN, which JSON does not have
    assert "NaN" in path.read_text()
    assert_clean_error(cli("eval", "--metric", "oks", "--gt", path, "--pred", path), 1, "gt.json", "NaN", "line 1")
    assert_clean_error(cli("import", path, tmp_path / "x.h5"), 1, "gt.json", "NaN")
    assert not (tmp_path / "x.h5").exists()


def test_orphan_ground_truth_through_eval_is_one_line(cli, tmp_path):
    doc = gt_doc(image_id=3)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(doc))
    preds = tmp_path / "res.json"
    preds.write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 1.0, "keypoints": [2, 2, 1] + [0] * 48}]))
    assert_clean_error(cli("eval", "--metric", "oks", "--gt", path, "--pred", preds), 1, "gt.json", "image id 3")
