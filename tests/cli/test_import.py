"""`thermcli import` end to end: image folders, palettes, units, labels, ids and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.io import read_dataset
from thermcli.ops.palette import apply_palette


def _write(path, image):
    import cv2

    if image.ndim == 3:
        image = image[:, :, ::-1]
    assert cv2.imwrite(str(path), np.ascontiguousarray(image))


@pytest.fixture
def grey_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "grey"
    folder.mkdir()
    frames = rng.integers(0, 256, (5, 12, 16), dtype=np.uint8)
    for i, frame in enumerate(frames):
        _write(folder / f"frame{i:03d}_s{i % 2}.png", frame)
    return folder, frames


def test_grey_png_folder(cli, tmp_path, grey_folder):
    folder, frames = grey_folder
    out = tmp_path / "out.h5"
    result = cli("import", folder, out, "--fps", "10", "--subject-regex", r"_(s\d)\.png$")
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert ds.meta.unit == "intensity" and ds.meta.modality == "thermal"
    np.testing.assert_array_equal(ds.frames, frames)
    np.testing.assert_allclose(ds.timestamp, np.arange(5) / 10)
    assert list(ds.subject) == ["s0", "s1", "s0", "s1", "s0"]
    assert ds.meta.provenance["command"] == "thermcli import"


def test_frame_range_and_stride_on_folder(cli, tmp_path, grey_folder):
    folder, frames = grey_folder
    out = tmp_path / "out.h5"
    assert cli("import", folder, out, "--frames", "1:", "--stride", "2").exit_code == 0
    np.testing.assert_array_equal(read_dataset(out).frames, frames[1::2])


@pytest.mark.parametrize("palette", ["ironbow", "rainbow", "white-hot", "black-hot"])
def test_pseudo_colour_with_palette_gives_back_intensity(cli, tmp_path, palette):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 256, (3, 10, 14), dtype=np.uint8)
    folder = tmp_path / "colour"
    folder.mkdir()
    for i, frame in enumerate(values):
        _write(folder / f"{i}.png", apply_palette(frame, palette))
    out = tmp_path / "out.h5"
    result = cli("import", folder, out, "--palette", palette)
    assert result.exit_code == 0, result.output
    assert "relative" in result.stderr and "not °C" in result.stderr
    ds = read_dataset(out)
    np.testing.assert_array_equal(ds.frames, values)
    assert ds.meta.attrs["palette"] == palette


def test_colour_without_palette_keeps_rgb(cli, tmp_path):
    folder = tmp_path / "colour"
    folder.mkdir()
    image = np.random.default_rng(2).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    _write(folder / "a.png", image)
    out = tmp_path / "out.h5"
    assert cli("import", folder, out, "--modality", "rgb").exit_code == 0
    ds = read_dataset(out)
    np.testing.assert_array_equal(ds.frames[0], image)
    assert ds.meta.modality == "rgb"


def test_sixteen_bit_counts_and_centikelvin(cli, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    celsius = np.array([[20.0, 30.5], [36.6, -5.25]], np.float32)
    code = np.rint((celsius.astype(np.float64) + 273.15) * 100).astype(np.uint16)
    _write(folder / "a.png", code)
    assert cli("import", folder, tmp_path / "counts.h5").exit_code == 0
    counts = read_dataset(tmp_path / "counts.h5")
    assert counts.meta.unit == "counts"
    np.testing.assert_array_equal(counts.frames[0], code)
    assert cli("import", folder, tmp_path / "c.h5", "--unit", "celsius").exit_code == 0
    np.testing.assert_allclose(read_dataset(tmp_path / "c.h5").frames[0], celsius, atol=1e-4)


def test_float_tiff_needs_unit(cli, tmp_path):
    folder = tmp_path / "tiff"
    folder.mkdir()
    values = np.array([[21.5, 22.25], [30.0, 35.125]], np.float32)
    _write(folder / "a.tiff", values)
    assert_clean_error(cli("import", folder, tmp_path / "x.h5"), 2, "--unit")
    assert cli("import", folder, tmp_path / "c.h5", "--unit", "celsius").exit_code == 0
    np.testing.assert_array_equal(read_dataset(tmp_path / "c.h5").frames[0], values)


def test_labels_csv_with_class_names_and_subject_column(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    table = tmp_path / "labels.csv"
    table.write_text("phase,person\nEXH,p1\nINH,p1\n,p2\nEXH,p2\nINH,p2\n")
    out = tmp_path / "out.h5"
    result = cli("import", folder, out, "--labels", table, "--label-column", "phase", "--class-names", "INH,EXH",
                 "--subject-column", "person")
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert ds.meta.class_names == ["INH", "EXH"]
    assert ds.labels.tolist() == [1, 0, -1, 1, 0]
    assert list(ds.subject) == ["p1", "p1", "p2", "p2", "p2"]


def test_signals_whitespace_table(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    table = tmp_path / "data.txt"
    table.write_text("++a\t++b\t\n" + "".join(f"$${i}\t$${'nan' if i == 2 else i * 0.5}\t\n" for i in range(5)))
    out = tmp_path / "out.h5"
    assert cli("import", folder, out, "--signals", table, "--columns", "b").exit_code == 0
    ds = read_dataset(out)
    assert list(ds.columns) == ["b"]
    np.testing.assert_array_equal(ds.columns["b"], [0, 0.5, np.nan, 1.5, 2.0])


def test_wrong_column_name_is_usage_error(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    table = tmp_path / "labels.csv"
    table.write_text("phase\n" + "INH\n" * 5)
    result = cli("import", folder, tmp_path / "o.h5", "--labels", table, "--label-column", "phse")
    assert_clean_error(result, 2, "--label-column", "phse", "did you mean phase")
    result = cli("import", folder, tmp_path / "o.h5", "--signals", table, "--columns", "flow")
    assert_clean_error(result, 2, "--columns", "flow")
    assert not (tmp_path / "o.h5").exists()


def test_table_row_count_mismatch(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    table = tmp_path / "labels.csv"
    table.write_text("label\n0\n1\n")
    assert_clean_error(cli("import", folder, tmp_path / "o.h5", "--labels", table), 1, "labels.csv", "2 rows", "5 frames")


def test_missing_source(cli, tmp_path):
    assert_clean_error(cli("import", tmp_path / "nope", tmp_path / "o.h5"), 1, "nope", "no such")


def test_empty_folder(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_clean_error(cli("import", tmp_path / "empty", tmp_path / "o.h5"), 1, "empty", "no images")


def test_only_output_given(cli, tmp_path):
    assert_clean_error(cli("import", tmp_path / "o.h5"), 2, "SOURCE")


def test_unknown_palette(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    assert_clean_error(cli("import", folder, tmp_path / "o.h5", "--palette", "ironbw"), 2, "--palette", "ironbw")
    assert not (tmp_path / "o.h5").exists()


def test_bad_frame_range(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    assert_clean_error(cli("import", folder, tmp_path / "o.h5", "--frames", "5"), 2, "--frames")


def test_unreadable_video(cli, tmp_path):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video" * 10)
    assert_clean_error(cli("import", video, tmp_path / "o.h5"), 1, "broken.mp4")
    assert not (tmp_path / "o.h5").exists()


def test_truncated_image_fails_or_is_skipped(cli, tmp_path, grey_folder):
    folder, frames = grey_folder
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert_clean_error(cli("import", folder, tmp_path / "o.h5"), 1, "zz_broken.png")
    assert not (tmp_path / "o.h5").exists()
    result = cli("import", folder, tmp_path / "o.h5", "--skip-bad")
    assert result.exit_code == 0
    assert "skipped" in result.stderr and "zz_broken.png" in result.stderr
    ds = read_dataset(tmp_path / "o.h5")
    np.testing.assert_array_equal(ds.frames, frames)
    assert ds.meta.attrs["skipped"][0]["path"].endswith("zz_broken.png")


def test_mixed_sizes_need_pad(cli, tmp_path):
    folder = tmp_path / "sizes"
    folder.mkdir()
    _write(folder / "a.png", np.full((4, 6), 10, np.uint8))
    _write(folder / "b.png", np.full((8, 5), 20, np.uint8))
    assert_clean_error(cli("import", folder, tmp_path / "o.h5"), 1, "b.png", "--pad")
    assert cli("import", folder, tmp_path / "o.h5", "--pad").exit_code == 0
    ds = read_dataset(tmp_path / "o.h5")
    assert ds.frames.shape == (2, 8, 6)
    assert ds.columns["image_size"].tolist() == [[4, 6], [8, 5]]
    assert (ds.frames[1, :8, :5] == 20).all() and (ds.frames[1, :, 5] == 0).all()


def _coco_doc(file_name):
    return {
        "images": [{"id": 1, "file_name": file_name, "width": 4, "height": 4}],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}],
    }


@pytest.mark.parametrize("file_name", ["../../etc/passwd", "/etc/passwd", "images/../../secret.png"])
def test_coco_path_escape_is_refused(cli, tmp_path, file_name):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "coco.json").write_text(json.dumps(_coco_doc(file_name)))
    result = cli("import", root / "coco.json", tmp_path / "o.h5")
    assert_clean_error(result, 1, "coco.json", file_name)
    assert not (tmp_path / "o.h5").exists()


def test_json_output(cli, tmp_path, grey_folder):
    folder, _ = grey_folder
    result = cli("import", folder, tmp_path / "o.h5", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["frames"] == 5 and doc["unit"] == "intensity" and doc["frame_shape"] == [12, 16]


def test_png_folder_output_validates(cli, tmp_path, grey_folder):
    folder, frames = grey_folder
    assert cli("import", folder, tmp_path / "out").exit_code == 0
    assert cli("info", tmp_path / "out").exit_code == 0
    np.testing.assert_array_equal(read_dataset(tmp_path / "out").frames, frames)


def test_yolo_with_video_is_usage_error(cli, tmp_path):
    import cv2

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (16, 12))
    for i in range(3):
        writer.write(np.full((12, 16, 3), 40 * i, np.uint8))
    writer.release()
    (tmp_path / "labels").mkdir()
    assert_clean_error(cli("import", video, tmp_path / "o.h5", "--yolo", tmp_path / "labels"), 2, "--yolo")
    result = cli("import", video, tmp_path / "o.h5", "--frames", "1:")
    assert result.exit_code == 0, result.output
    ds = read_dataset(tmp_path / "o.h5")
    assert len(ds) == 2 and ds.frames.shape[1:] == (12, 16)
    np.testing.assert_allclose(ds.timestamp, [0.2, 0.4])
