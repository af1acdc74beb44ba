"""threshold and augment on real files: a FLIR T640 radiometric frame (°C, via flyr) and a
thermal-people frame with its person boxes (YOLO labels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cli.helpers_thr_aug import assert_same_data
from thermcli.io import Dataset, Meta, read_dataset, write_dataset
from thermcli.ops.threshold import auto_window, window_to_u8

pytestmark = pytest.mark.shared_data

PEOPLE_IMAGE = "train/images/IMG_0002 3_jpg.rf.5926b8d930f26a31af2f4e446163c016.jpg"


def radiometric_dataset(shared: Path) -> Dataset:
    import flyr

    celsius = flyr.unpack(str(shared / "radiometric/thermal_parser/FLIR_T640.jpg")).celsius.astype(np.float32)
    return Dataset(frames=celsius[None], meta=Meta(unit="celsius"), subject=np.array(["T640"], dtype=object))


def people_dataset(shared: Path) -> Dataset:
    folder = shared / "thermal-people"
    image = cv2.cvtColor(cv2.imread(str(folder / PEOPLE_IMAGE)), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    label = folder / PEOPLE_IMAGE.replace("images", "labels").replace(".jpg", ".txt")
    rows = np.loadtxt(label, ndmin=2)
    boxes = np.stack([(rows[:, 1] - rows[:, 3] / 2) * w, (rows[:, 2] - rows[:, 4] / 2) * h, rows[:, 3] * w, rows[:, 4] * h], 1)
    return Dataset(
        frames=image[None],
        meta=Meta(unit="intensity", box_class_names=["dog", "person"]),
        boxes=boxes[None].astype(np.float32),
        box_classes=rows[None, :, 0].astype(np.int32),
    )


def test_radiometric_frame_threshold_and_augment(cli, shared_data, tmp_path):
    src = tmp_path / "t640.h5"
    write_dataset(src, radiometric_dataset(shared_data))
    frame = read_dataset(src).frames[0]
    assert 25 < np.nanmin(frame) and np.nanmax(frame) < 98  # the file's documented range
    thr = tmp_path / "thr.h5"
    result = cli("threshold", "--range", "50:300:100", "--emit", "mask", src, thr)
    assert result.exit_code == 0, result.stderr
    masks = read_dataset(thr)
    u8 = window_to_u8(frame, *auto_window(frame))
    for row, level in enumerate((50, 150, 250)):
        np.testing.assert_array_equal(masks.frames[row], cv2.threshold(u8, level, 255, cv2.THRESH_BINARY)[1])
    assert 0 < (masks.frames[0] > 0).mean() < 1  # a real split, not an empty or full mask
    skin = tmp_path / "skin.h5"
    assert cli("threshold", "-m", "temperature", "--band", "30:37", src, skin).exit_code == 0
    kept = read_dataset(skin).frames[0]
    inside = (frame >= 30) & (frame <= 37)
    np.testing.assert_array_equal(kept[inside], frame[inside])
    assert np.all(kept[~inside] == np.float32(auto_window(frame)[0]))
    aug, again = tmp_path / "aug.h5", tmp_path / "again.h5"
    result = cli("augment", "-n", "3", "--seed", "2", "--offset", "2", "--noise", "80", "--lowres", "0.5", src, aug)
    assert result.exit_code == 0, result.stderr
    out = read_dataset(aug)
    assert out.frames.dtype == np.float32 and out.frames.shape == (3, 480, 640)
    # °C stay °C: medians move by the sampled gain/offset, not by a display rescale
    for row in range(3):
        g, o = out.columns["aug_gain"][row], out.columns["aug_offset"][row]
        assert abs(np.median(out.frames[row]) - (np.median(frame) * g + o)) < 1.0
    assert cli("augment", "--replay", aug, src, again).exit_code == 0
    assert_same_data(aug, again)


def test_thermal_people_frame_threshold_and_augment(cli, shared_data, tmp_path):
    src = tmp_path / "people.h5"
    write_dataset(src, people_dataset(shared_data))
    people = read_dataset(src)
    thr = tmp_path / "thr.h5"
    result = cli("threshold", "-m", "otsu", "--range", "255", "--emit", "stack", src, thr)
    assert result.exit_code == 0, result.stderr
    stacked = read_dataset(thr)
    grey = cv2.cvtColor(people.frames[0], cv2.COLOR_RGB2GRAY)
    ref = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    np.testing.assert_array_equal(stacked.frames[0, ..., 3], ref)
    np.testing.assert_array_equal(stacked.boxes, people.boxes)
    aug = tmp_path / "aug.h5"
    result = cli("augment", "-n", "2", "--flip", "1", "--rotate", "0", "--scale", "1", "--translate", "0", src, aug)
    assert result.exit_code == 0, result.stderr
    flipped = read_dataset(aug)
    w = people.frames.shape[2]
    box = people.boxes[0]
    np.testing.assert_allclose(flipped.boxes[0, :, 0], w - box[:, 0] - box[:, 2], atol=1e-3)
    np.testing.assert_allclose(flipped.boxes[0, :, 1:], box[:, 1:], atol=1e-3)
    np.testing.assert_array_equal(flipped.box_classes[0], people.box_classes[0])
    # the pixels were mirrored too: compare before the photometric noise, against the mirror
    mirror = people.frames[0][:, ::-1].astype(float)
    assert np.abs(flipped.frames[0].astype(float) - (mirror - 128) * flipped.columns["aug_gain"][0] - 128 - flipped.columns["aug_offset"][0]).mean() < 8
