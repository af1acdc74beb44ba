"""thermcli.metrics.oks against pycocotools' COCOeval(iouType='keypoints')."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from thermcli.errors import DataError
from thermcli.metrics import oks as O

pycocotools = pytest.importorskip("pycocotools")


def reference_stats(gt_json: dict, results: list[dict], *, sigmas=None, area_ranges=None, max_dets=None) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt_json)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dets, iouType="keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        if area_ranges is not None:
            ev.params.areaRng = [list(v) for v in area_ranges.values()]
            ev.params.areaRngLbl = list(area_ranges)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), ev.eval["precision"], ev.eval["recall"]


def ours(gt_json, results, **kwargs):
    gt = O.gt_from_coco(copy.deepcopy(gt_json))
    dt = O.dt_from_coco(copy.deepcopy(results), gt)
    return O.evaluate_oks(gt, dt, **kwargs)


def assert_same(gt_json, results, **kwargs):
    ref_stats, ref_p, ref_r = reference_stats(gt_json, results, **kwargs)
    kw = {k: v for k, v in kwargs.items() if v is not None}
    res = ours(gt_json, results, **kw)
    got = np.array([res.stats[n] for n in O.STAT_NAMES])
    assert np.max(np.abs(got - ref_stats)) <= 1e-12, (got, ref_stats)
    assert np.max(np.abs(res.precision - ref_p)) <= 1e-12
    assert np.max(np.abs(res.recall - ref_r)) <= 1e-12
    return res


def perturb(gt_json: dict, rng: np.random.Generator, *, noise=6.0, drop=0.1, extra=0.3, with_bbox=False) -> list[dict]:
    """Predictions: ground truth moved by noise proportional to size, some dropped, some spurious."""
    results = []
    images = [img["id"] for img in gt_json["images"]]
    for ann in gt_json["annotations"]:
        if rng.random() < drop:
            continue
        kp = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        scale = np.sqrt(max(ann["area"], 1.0)) / 40
        xy = kp[:, :2] + rng.normal(0, noise * scale * rng.uniform(0.2, 2.0), kp[:, :2].shape)
        if (kp[:, 2] == 0).all():  # unlabelled person: guess around its box
            x, y, w, h = ann["bbox"]
            xy = np.column_stack([x + rng.random(len(kp)) * w, y + rng.random(len(kp)) * h])
        out = np.column_stack([xy, rng.random(len(kp))])
        res = {"image_id": ann["image_id"], "category_id": 1, "keypoints": out.ravel().tolist(),
               "score": float(np.round(rng.random(), 2))}  # rounded: ties in scores happen
        if with_bbox:
            x0, y0 = xy.min(0)
            x1, y1 = xy.max(0)
            res["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        results.append(res)
    k = len(gt_json["annotations"][0]["keypoints"]) // 3 if gt_json["annotations"] else 17
    for _ in range(int(extra * len(gt_json["annotations"]))):  # false positives
        img = images[rng.integers(len(images))]
        xy = rng.random((k, 2)) * 300
        res = {"image_id": img, "category_id": 1,
               "keypoints": np.column_stack([xy, np.ones(k)]).ravel().tolist(), "score": float(rng.random())}
        if with_bbox:
            res["bbox"] = [0.0, 0.0, 300.0, 300.0]
        results.append(res)
    return results


@pytest.fixture(scope="module")
def coco_gt(request):
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "coco-keypoints" / "test_coco.json"
    if not path.is_file():
        pytest.skip(f"real data not present at {path}")
    return json.loads(path.read_text())


def test_exact_ground_truth_as_predictions(coco_gt):
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in coco_gt["annotations"]
        if a["num_keypoints"] > 0
    ]
    res = assert_same(coco_gt, results)
    assert res.stats["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(12))
def test_perturbed_real_coco_matches_pycocotools(coco_gt, seed):
    rng = np.random.default_rng(seed)
    results = perturb(coco_gt, rng, noise=[2, 6, 15][seed % 3], with_bbox=seed % 2 == 1)
    assert_same(coco_gt, results)


def _synthetic_gt(rng, n_images=30, max_people=5, k=17, crowd=True, zero=True):
    images, anns = [], []
    aid = 1
    for i in range(n_images):
        images.append({"id": int(1000 + 7 * i)})
        for _ in range(rng.integers(0, max_people + 1)):
            w, h = rng.uniform(5, 250, 2)
            x, y = rng.uniform(0, 300, 2)
            kp = np.column_stack([x + rng.random(k) * w, y + rng.random(k) * h, rng.choice([0, 1, 2], k, p=[0.3, 0.2, 0.5])])
            kp[kp[:, 2] == 0, :2] = 0
            is_crowd = crowd and rng.random() < 0.1
            if is_crowd or (zero and rng.random() < 0.1):
                kp[:] = 0
            anns.append({
                "id": aid, "image_id": int(1000 + 7 * i), "category_id": 1, "keypoints": kp.ravel().tolist(),
                "num_keypoints": int(np.count_nonzero(kp[:, 2])), "bbox": [float(x), float(y), float(w), float(h)],
                "area": float(w * h * rng.uniform(0.4, 0.9)), "iscrowd": int(is_crowd),
            })
            aid += 1
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


@pytest.mark.parametrize("seed", range(20))
def test_random_sets_with_crowds_zero_keypoints_and_caps(seed):
    rng = np.random.default_rng(100 + seed)
    gt = _synthetic_gt(rng, max_people=[3, 8, 25][seed % 3])
    results = perturb(gt, rng, noise=[3, 10][seed % 2], drop=0.2, extra=1.5 if seed % 4 == 0 else 0.3,
                      with_bbox=seed % 5 == 0)
    assert_same(gt, results)


def test_more_than_20_detections_in_an_image_are_capped():
    rng = np.random.default_rng(7)
    gt = _synthetic_gt(rng, n_images=3, max_people=3, crowd=False, zero=False)
    results = perturb(gt, rng, noise=2, drop=0.0, extra=0.0)
    # 40 extra detections with low scores in image 0 plus copies with high scores
    for j in range(40):
        r = dict(results[j % len(results)])
        r["score"] = 0.9 if j % 2 else 0.01
        r["image_id"] = gt["images"][0]["id"]
        results.append(r)
    res = assert_same(gt, results)
    assert res.stats["AP"] >= 0


def test_custom_sigmas_keypoint_set_and_area_ranges():
    rng = np.random.default_rng(3)
    gt = _synthetic_gt(rng, k=5, n_images=25, max_people=4)
    results = perturb(gt, rng, noise=5)
    sigmas = [0.05, 0.1, 0.03, 0.07, 0.2]
    ranges = {"all": (0, 1e10), "medium": (0, 2000.0), "large": (2000.0, 1e10)}
    assert_same(gt, results, sigmas=sigmas, area_ranges=ranges)
    assert_same(gt, results, sigmas=sigmas, max_dets=[2, 20])


def test_thermal_sized_people_warn_and_get_minus_one():
    rng = np.random.default_rng(5)
    gt = _synthetic_gt(rng, n_images=10, crowd=False, zero=False)
    for ann in gt["annotations"]:
        ann["area"] = float(rng.uniform(50, 600))  # 80×60 frames: everyone below 32² px²
    results = perturb(gt, rng, noise=1)
    res = assert_same(gt, results)
    assert res.stats["APm"] == -1 and res.stats["APl"] == -1
    assert "medium" in O.area_warning(O.gt_from_coco(gt))
    custom = ours(gt, results, area_ranges={"all": (0, 1e10), "medium": (0, 300), "large": (300, 1e10)})
    assert custom.stats["APm"] > -1 and custom.stats["APl"] > -1


def test_ground_truth_id_zero_quirk_is_reproduced():
    rng = np.random.default_rng(9)
    gt = _synthetic_gt(rng, n_images=6, max_people=3, crowd=False, zero=False)
    gt["annotations"][0]["id"] = 0
    assert_same(gt, perturb(gt, rng, noise=1, drop=0))


def test_per_keypoint_and_pixel_error():
    rng = np.random.default_rng(11)
    keypoints = np.zeros((4, 1, 17, 3))
    keypoints[..., 0] = rng.uniform(10, 60, (4, 1, 17))
    keypoints[..., 1] = rng.uniform(10, 50, (4, 1, 17))
    keypoints[..., 2] = 2
    boxes = np.tile([[[5.0, 5.0, 60.0, 50.0]]], (4, 1, 1))
    gt = O.gt_from_arrays(keypoints, boxes)
    pred = keypoints.copy()
    pred[..., 0] += 3.0  # every keypoint 3 px to the right
    pred[..., 2] = 1.0
    res = O.evaluate_oks(gt, O.dt_from_arrays(pred, np.ones((4, 1))))
    assert res.mean_pixel_error == pytest.approx(3.0)
    assert res.matched == 4 and res.unmatched == 0
    sig = np.asarray(O.COCO_SIGMAS)
    expected = np.exp(-9 / (2 * sig) ** 2 / (60 * 50 + O.EPS) / 2)
    got = [res.per_keypoint[f"k{j}"]["oks"] for j in range(17)]
    assert np.allclose(got, expected, atol=1e-12)


def test_arrays_roundtrip_through_coco_matches_pycocotools():
    rng = np.random.default_rng(2)
    keypoints = np.zeros((8, 2, 17, 3))
    keypoints[..., :2] = rng.uniform(0, 80, (8, 2, 17, 2))
    keypoints[..., 2] = rng.choice([0, 2], (8, 2, 17), p=[0.2, 0.8])
    boxes = np.tile([[[2.0, 2.0, 70.0, 55.0]]], (8, 2, 1))
    boxes[3, 1] = np.nan  # no second person in frame 3
    keypoints[3, 1] = 0
    gt = O.gt_from_arrays(keypoints, boxes)
    pred = keypoints + np.concatenate([rng.normal(0, 2, keypoints[..., :2].shape), np.zeros(keypoints[..., 2:].shape)], -1)
    dt = O.dt_from_arrays(pred, rng.random((8, 2)))
    res = O.evaluate_oks(gt, dt)
    ref, _, _ = reference_stats(O.gt_to_coco(gt), O.dt_to_coco(dt))
    assert np.max(np.abs(np.array([res.stats[n] for n in O.STAT_NAMES]) - ref)) <= 1e-12


def test_bad_predictions_are_named():
    rng = np.random.default_rng(1)
    gt_json = _synthetic_gt(rng, n_images=3, max_people=2)
    gt = O.gt_from_coco(gt_json)
    with pytest.raises(DataError, match="not in the ground truth"):
        O.dt_from_coco([{"image_id": 5, "category_id": 1, "keypoints": [0] * 51, "score": 1}], gt)
    with pytest.raises(DataError, match="has 5 keypoints; the ground truth has 17"):
        O.dt_from_coco([{"image_id": 1000, "category_id": 1, "keypoints": [0] * 15, "score": 1}], gt)


def test_no_predictions_gives_zero():
    rng = np.random.default_rng(4)
    gt_json = _synthetic_gt(rng, n_images=4, max_people=3, crowd=False, zero=False)
    res = ours(gt_json, [])
    assert res.stats["AP"] == 0 and res.stats["AR"] == 0


def test_crops_map_back_to_frames_and_group_by_frame():
    from thermcli.io import Dataset, Meta
    from thermcli.ops.heatmaps import apply_affine, crop_affines

    rng = np.random.default_rng(6)
    frame_kp = np.zeros((4, 1, 17, 3))
    frame_kp[..., 0] = rng.uniform(10, 70, (4, 1, 17))
    frame_kp[..., 1] = rng.uniform(5, 55, (4, 1, 17))
    frame_kp[..., 2] = 2
    affine = crop_affines(rng.uniform(20, 60, (4, 2)), rng.uniform(20, 40, (4, 2)) * [0.75, 1], (64, 48))
    crop_kp = frame_kp.copy()
    crop_kp[:, 0, :, :2] = apply_affine(frame_kp[:, 0, :, :2], affine)
    crops = Dataset(frames=np.zeros((4, 64, 48), np.float32), meta=Meta(unit="celsius"),
                    columns={"crop_affine": affine, "pair_row": np.array([0, 0, 1, 2])})
    from thermcli.stages.evaluate_coco import crops_to_frames

    back, _, ids = crops_to_frames(crops, crop_kp, None)
    assert np.allclose(back, frame_kp, atol=1e-9)
    gt = O.gt_from_arrays(back, np.tile([[[0.0, 0.0, 80.0, 60.0]]], (4, 1, 1)), image_ids=ids)
    assert gt.all_image_ids.tolist() == [0, 1, 2] and gt.image_ids.tolist() == [0, 0, 1, 2]
