"""Per-frame tables, YOLO and COCO readers: properties and edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.errors import DataError
from thermcli.io.coco import read_coco, safe_join
from thermcli.io.signals import read_signal_table
from thermcli.io.yolo import _names_from_yaml, format_yolo_boxes, read_yolo_boxes


def test_signal_table_prefixes_and_nan(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("++flow      \t++volume\t\r\n$$0.5\t$$-0.1\t\r\n$$0.4\t$$nan\t\t\r\n")
    table = read_signal_table(path)
    assert list(table) == ["flow", "volume"]
    np.testing.assert_array_equal(table["flow"], [0.5, 0.4])
    assert table["volume"][0] == -0.1 and np.isnan(table["volume"][1])


def test_signal_table_csv_with_text_and_no_header(tmp_path):
    (tmp_path / "a.csv").write_text("frame,phase\n0,INH\n1,EXH\n")
    table = read_signal_table(tmp_path / "a.csv")
    assert table["phase"].dtype == object and list(table["phase"]) == ["INH", "EXH"]
    (tmp_path / "b.txt").write_text("1 2\n3 4\n")
    assert list(read_signal_table(tmp_path / "b.txt")) == ["col0", "col1"]


def test_signal_table_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_signal_table(tmp_path / "missing.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="row 3"):
        read_signal_table(tmp_path / "ragged.csv")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DataError, match="no rows"):
        read_signal_table(tmp_path / "empty.csv")


boxes_strategy = st.lists(
    st.tuples(
        st.floats(0, 300, width=32), st.floats(0, 200, width=32), st.floats(0.5, 100, width=32), st.floats(0.5, 100, width=32)
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(boxes=boxes_strategy, width=st.integers(16, 2000), height=st.integers(16, 2000))
def test_yolo_text_roundtrip(tmp_path_factory, boxes, width, height):
    """12 significant digits: back to within 1e-4 px (bit for bit on thermal-people, see tests/cli)."""
    values = np.asarray(boxes, np.float32)
    classes = np.arange(len(values), dtype=np.int32) % 3
    path = tmp_path_factory.mktemp("yolo") / "a.txt"
    path.write_text(format_yolo_boxes(values, classes, width=width, height=height))
    back, back_classes = read_yolo_boxes(path, width=width, height=height)
    np.testing.assert_allclose(back, values, atol=1e-4, rtol=1e-6)
    np.testing.assert_array_equal(back_classes, classes)


def test_yolo_skips_nan_rows_and_reads_missing_as_empty(tmp_path):
    boxes = np.array([[1, 2, 3, 4], [np.nan] * 4], np.float32)
    text = format_yolo_boxes(boxes, np.array([0, -1]), width=10, height=10)
    assert text.count("\n") == 1
    b, c = read_yolo_boxes(tmp_path / "none.txt", width=10, height=10)
    assert b.shape == (0, 4) and c.shape == (0,)
    (tmp_path / "bad.txt").write_text("0 0.5 0.5\n")
    with pytest.raises(DataError, match="line 1"):
        read_yolo_boxes(tmp_path / "bad.txt", width=10, height=10)


def test_yolo_names_from_yaml_forms():
    assert _names_from_yaml("nc: 2\nnames: ['dog', 'person']\n") == ["dog", "person"]
    assert _names_from_yaml("names:\n  0: dog\n  1: person\n") == ["dog", "person"]
    assert _names_from_yaml("names:\n  - a\n  - b\n") == ["a", "b"]


def test_safe_join(tmp_path):
    assert safe_join(tmp_path, "images/a.png", where="x") == (tmp_path / "images" / "a.png").resolve()
    for bad in ("../a.png", "/etc/passwd", "images/../../a.png", "C:\\x.png"):
        with pytest.raises(DataError):
            safe_join(tmp_path, bad, where="x")


def test_coco_keypoint_length_checked(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}],
        "annotations": [{"id": 1, "image_id": 1, "keypoints": [1, 2, 2], "bbox": [0, 0, 1, 1]}],
        "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}],
    }
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="3 keypoint values, expected 6"):
        read_coco(tmp_path / "c.json")
    doc["annotations"][0]["keypoints"] = [1, 2, 2, 3, 4, 1]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    coco = read_coco(tmp_path / "c.json")
    assert coco.skeleton == [[0, 1]] and coco.keypoint_names == ["a", "b"]
    doc["annotations"][0]["image_id"] = 7
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="unknown image id 7"):
        read_coco(tmp_path / "c.json")
