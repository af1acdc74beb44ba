"""Face sub-region geometry and the face-box tracker: property tests (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermcli.ops.face_regions import FACE_REGIONS, box_iou, face_subregions, pick_face, track_boxes

coord = st.floats(-50, 200, allow_nan=False)
size = st.floats(1, 150, allow_nan=False)


@given(coord, coord, size, size)
def test_subregions_inside_the_face_box_at_their_fractions(x, y, w, h):
    sub = face_subregions(np.array([[x, y, w, h]]))
    assert set(sub) == set(FACE_REGIONS)
    for name, (fx0, fy0, fx1, fy1) in FACE_REGIONS.items():
        bx, by, bw, bh = sub[name][0]
        assert bx >= x - 1e-9 and by >= y - 1e-9
        assert bx + bw <= x + w + 1e-9 and by + bh <= y + h + 1e-9
        # back to fractions of the face box
        np.testing.assert_allclose([(bx - x) / w, (by - y) / h, (bx + bw - x) / w, (by + bh - y) / h],
                                   [fx0, fy0, fx1, fy1], atol=1e-9)


@given(coord, coord, size, size, st.floats(0.1, 10), coord, coord)
def test_subregions_follow_translation_and_scale(x, y, w, h, s, dx, dy):
    a = face_subregions(np.array([[x, y, w, h]]))
    b = face_subregions(np.array([[x * s + dx, y * s + dy, w * s, h * s]]))
    for name in FACE_REGIONS:
        expected = a[name][0] * [s, s, s, s] + [dx, dy, 0, 0]
        np.testing.assert_allclose(b[name][0], expected, rtol=1e-9, atol=1e-6)


def test_regions_are_ordered_top_to_bottom_and_mirrored():
    r = FACE_REGIONS
    assert r["forehead"][3] <= r["periorbital_left"][1] and r["periorbital_left"][3] <= r["nose"][1]
    assert r["nose"][3] <= r["mouth"][1]
    # left and right eyes mirror each other about the box's vertical centre line
    lx0, ly0, lx1, ly1 = r["periorbital_left"]
    rx0, ry0, rx1, ry1 = r["periorbital_right"]
    assert (lx0, lx1) == pytest.approx((1 - rx1, 1 - rx0)) and (ly0, ly1) == (ry0, ry1)


def test_nan_face_gives_nan_regions_and_bad_fractions_raise():
    sub = face_subregions(np.array([[np.nan] * 4, [0, 0, 10, 10]]))
    assert np.isnan(sub["nose"][0]).all() and np.isfinite(sub["nose"][1]).all()
    with pytest.raises(ValueError):
        face_subregions(np.zeros((1, 4)), {"x": (0.5, 0.1, 0.4, 0.2)})


@given(coord, coord, size, size, coord, coord, size, size)
def test_iou_symmetric_bounded_and_one_on_itself(x, y, w, h, x2, y2, w2, h2):
    a, b = np.array([x, y, w, h]), np.array([x2, y2, w2, h2])
    assert box_iou(a, b) == pytest.approx(box_iou(b, a))
    assert 0.0 <= box_iou(a, b) <= 1.0 + 1e-12
    assert box_iou(a, a) == pytest.approx(1.0)


def test_pick_face_takes_the_best_above_threshold():
    boxes = np.array([[0, 0, 5, 5], [10, 10, 5, 5], [np.nan] * 4], float)
    scores = np.array([0.6, 0.9, np.nan])
    assert pick_face(boxes, scores, 0.5).tolist() == [10, 10, 5, 5]
    assert np.isnan(pick_face(boxes, scores, 0.95)).all()
    assert np.isnan(pick_face(np.zeros((0, 4)), np.zeros(0), 0.0)).all()


boxes_or_miss = st.one_of(st.none(), st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(5, 40), st.floats(5, 40)))


@settings(max_examples=60)
@given(st.lists(boxes_or_miss, min_size=1, max_size=40), st.floats(0.05, 1.0), st.integers(0, 6))
def test_tracker_holds_then_loses_and_never_invents_a_box(seq, alpha, hold):
    det = np.array([b if b is not None else (np.nan,) * 4 for b in seq], float)
    tracked, held, lost = track_boxes(det, alpha=alpha, hold=hold)
    found = np.isfinite(det).all(1)
    # every frame is exactly one of: detected, held, lost
    assert np.array_equal(found.astype(int) + held + lost, np.ones(len(det), int))
    assert np.isnan(tracked[lost]).all() and np.isfinite(tracked[~lost]).all()
    # a held frame repeats the previous frame's box; at most `hold` held frames in a row
    for i in np.flatnonzero(held):
        assert i > 0 and np.array_equal(tracked[i], tracked[i - 1])
    run = 0
    for h in held:
        run = run + 1 if h else 0
        assert run <= hold
    # before the first detection nothing is tracked
    if found.any():
        assert lost[:np.argmax(found)].all()
    # the smoothed box stays inside the hull of the detections seen so far
    if found.any():
        lo, hi = np.nanmin(det[found], 0), np.nanmax(det[found], 0)
        assert (tracked[~lost] >= lo - 1e-9).all() and (tracked[~lost] <= hi + 1e-9).all()


def test_tracker_ema_and_no_smoothing():
    det = np.array([[0, 0, 10, 10], [2, 0, 10, 10], [4, 0, 10, 10]], float)
    tracked, _, _ = track_boxes(det, alpha=0.5)
    assert tracked[:, 0].tolist() == [0.0, 1.0, 2.5]
    raw, _, _ = track_boxes(det, alpha=1.0)
    assert np.array_equal(raw, det)


def test_tracker_restarts_on_a_jump_and_a_new_recording():
    det = np.array([[0, 0, 10, 10], [80, 80, 10, 10], [81, 80, 10, 10], [81, 80, 10, 10]], float)
    tracked, _, _ = track_boxes(det, alpha=0.5)
    assert tracked[1].tolist() == [80, 80, 10, 10]  # no overlap: restart, not a blend
    det2 = np.array([[0, 0, 10, 10], [np.nan] * 4, [np.nan] * 4], float)
    _, held, lost = track_boxes(det2, hold=5, recordings=["a", "a", "b"])
    assert held.tolist() == [False, True, False] and lost.tolist() == [False, False, True]
    with pytest.raises(ValueError):
        track_boxes(det, alpha=0.0)
    with pytest.raises(ValueError):
        track_boxes(det, hold=-1)
