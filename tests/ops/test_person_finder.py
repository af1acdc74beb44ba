"""The built-in thermal person finder: synthetic frames, the tug sample, and its box recall on
the real thermal-people images (pseudo-colour, so a palette heuristic gives relative intensity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from thermcli.ops.person_finder import box_iou, box_recall, find_people, pseudocolour_intensity

cv2 = pytest.importorskip("cv2")


def test_box_iou_reference():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 5, 10, 10], [20, 20, 5, 5]])
    np.testing.assert_allclose(box_iou(a, b), [[25 / 175, 0.0]])


def test_two_people_and_a_warm_cup():
    frame = np.full((60, 80), 22.0, np.float32) + np.random.default_rng(0).normal(0, 0.08, (60, 80)).astype(np.float32)
    frame[8:50, 10:20] = 30.0  # person 1
    frame[10:55, 50:62] = 31.0  # person 2
    frame[12:16, 12:18] = 34.5  # a warm face inside person 1
    frame[55:57, 30:32] = 45.0  # a hot cup: too small
    boxes = find_people(frame)
    assert len(boxes) == 2
    assert box_iou(boxes, np.array([[9.5, 7.5, 10, 42], [49.5, 9.5, 12, 45]])).max(axis=1).min() > 0.9


def test_finds_the_tug_subjects():
    folder = REPO / "sample_data" / "tug"
    if not folder.is_dir():
        pytest.skip("sample_data/tug is not in this checkout")
    from thermcli.io import read_dataset

    thermal = read_dataset(folder / "thermal.h5")
    found = [find_people(frame) for frame in thermal.frames]
    matched, total = box_recall(found, [b for b in thermal.boxes[:, 0]], iou=0.5)
    assert matched / total >= 0.9, (matched, total)


def test_pseudocolour_heuristic_orders_a_rainbow():
    ramp = np.arange(256, dtype=np.uint8)[None, :].repeat(4, axis=0)
    rgb = cv2.applyColorMap(ramp, cv2.COLORMAP_RAINBOW)[..., ::-1]  # OpenCV's rainbow: red hot end
    intensity = pseudocolour_intensity(np.ascontiguousarray(rgb))[0]
    # cold end below warm end, and mostly monotonic
    assert intensity[:32].mean() < intensity[128:160].mean() < intensity[-32:].mean() or \
        intensity[:32].mean() > intensity[-32:].mean()
    assert abs(np.corrcoef(np.arange(256), intensity)[0, 1]) > 0.8


def _thermal_people(shared_data: Path):
    root = shared_data / "thermal-people"
    for image_path in sorted(root.glob("*/images/*.jpg")):
        label = image_path.parent.parent / "labels" / (image_path.stem + ".txt")
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()] if label.exists() else []
        image = cv2.imread(str(image_path))[..., ::-1]
        h, w = image.shape[:2]
        people = np.array(
            [[(float(r[1]) - float(r[3]) / 2) * w, (float(r[2]) - float(r[4]) / 2) * h, float(r[3]) * w, float(r[4]) * h]
             for r in rows if r[0] == "1"]
        ).reshape(-1, 4)
        yield image, people


def test_box_recall_on_thermal_people(shared_data):
    """Measured recall (IoU ≥ 0.5) of the finder on real pseudo-colour thermal images; the README
    reports the number. Outdoor scenes (hot ground, dogs, sky) are beyond an intensity finder."""
    found, truth = [], []
    for image, people in _thermal_people(shared_data):
        found.append(find_people(pseudocolour_intensity(image), relative=True, min_area=0.0005, min_height=0.04,
                                 max_aspect=1.2))
        truth.append(people)
    matched, total = box_recall(found, truth, iou=0.5)
    assert total == 124
    recall = matched / total
    print(f"thermal-people box recall @IoU0.5: {matched}/{total} = {recall:.3f}")
    assert 0.35 <= recall <= 1.0
