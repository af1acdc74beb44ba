"""thermcli.metrics.bbox (and `thermcli eval --metric bbox`) against pycocotools'
COCOeval(iouType='bbox'): every stat and the whole precision/recall arrays to 1e-12."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import assert_clean_error
from thermcli.errors import DataError
from thermcli.io.coco import eval_ground_truth, eval_results
from thermcli.metrics import bbox as B

pytest.importorskip("pycocotools")


def reference(gt_json: dict, results: list[dict], *, max_dets=None, area_ranges=None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt_json)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dets, iouType="bbox")
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        if area_ranges is not None:
            ev.params.areaRng = [list(v) for v in area_ranges.values()]
            ev.params.areaRngLbl = list(area_ranges)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), ev.eval["precision"], ev.eval["recall"]


def ours(gt_json, results, **kwargs):
    gt = eval_ground_truth(copy.deepcopy(gt_json))
    return B.evaluate_boxes(gt, eval_results(copy.deepcopy(results), gt), **kwargs)


def assert_same(gt_json, results, **kwargs):
    ref_stats, ref_p, ref_r = reference(gt_json, results, **kwargs)
    res = ours(gt_json, results, **{k: v for k, v in kwargs.items() if v is not None})
    got = np.array([res.stats[n] for n in B.STAT_NAMES])
    assert np.max(np.abs(got - ref_stats)) <= 1e-12, (got, ref_stats)
    assert res.precision.shape == ref_p.shape and res.recall.shape == ref_r.shape
    assert np.max(np.abs(res.precision - ref_p)) <= 1e-12
    assert np.max(np.abs(res.recall - ref_r)) <= 1e-12
    return res


# ---- real COCO boxes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco_files():
    from tests.conftest import SHARED_DATA

    root = SHARED_DATA / "coco-keypoints"
    if not (root / "test_coco.json").is_file():
        pytest.skip(f"real data not present at {root}")
    return json.loads((root / "test_coco.json").read_text()), json.loads((root / "test_coco_det_AP_H_56.json").read_text())


def test_real_coco_detections_match_pycocotools(coco_files):
    gt, dets = coco_files
    res = assert_same(gt, dets)
    assert 0.5 < res.stats["AP"] < 1  # a real detector's boxes: neither trivial nor empty
    assert res.per_class["person"]["AP"] == res.stats["AP"]


@pytest.mark.parametrize("seed", range(6))
def test_real_coco_perturbed_and_marked_crowd(coco_files, seed):
    """The real boxes with some annotations turned into crowd regions, ties in the scores,
    perturbed detections and custom caps."""
    gt, dets = copy.deepcopy(coco_files[0]), copy.deepcopy(coco_files[1])
    rng = np.random.default_rng(seed)
    for ann in gt["annotations"]:
        ann["iscrowd"] = int(rng.random() < 0.2)
    for det in dets:
        det["score"] = round(det["score"], 1)  # ties
        det["bbox"] = (np.asarray(det["bbox"]) + rng.normal(0, 4 * seed, 4) * [1, 1, 0.5, 0.5]).tolist()
    assert_same(gt, dets, max_dets=[1, 5, [100, 3, 20][seed % 3]] if seed % 2 else None)


# ---- generated cases ---------------------------------------------------------------------------


def make_case(rng: np.random.Generator, *, n_images=12, n_classes=3, max_gt=6, crowd=0.15, empty=0.2,
              no_dets=0.2, extra=1.5, ties=True, many=0, zero_id=False):
    """A random COCO box set: sparse image and category ids (one category without objects),
    crowd regions, images without objects, images without detections, false positives,
    detections of categories the ground truth does not list, tied scores."""
    image_ids = sorted(rng.choice(np.arange(0, 10 * n_images), n_images, replace=False).tolist())
    cat_ids = sorted(rng.choice(np.arange(1, 10 * n_classes + 2), n_classes + 1, replace=False).tolist())
    used = cat_ids[:-1]  # the last category has no ground truth
    images = [{"id": int(i), "width": 640, "height": 480} for i in image_ids]
    anns, results = [], []
    aid = 0 if zero_id else 1
    for img in image_ids:
        count = 0 if rng.random() < empty else int(rng.integers(1, max_gt + 1))
        for _ in range(count):
            w, h = rng.uniform(2, 200, 2)
            x, y = rng.uniform(0, 440, 2)
            if rng.random() < 0.3:  # integer boxes: exact ties in IoU
                x, y, w, h = np.round([x, y, w, h])
                w, h = max(w, 1), max(h, 1)
            cat = int(rng.choice(used))
            anns.append({"id": int(aid), "image_id": int(img), "category_id": cat, "bbox": [float(x), float(y), float(w), float(h)],
                         "area": float(w * h * rng.uniform(0.4, 1.0)), "iscrowd": int(rng.random() < crowd)})
            aid += 1
            if rng.random() < no_dets:
                continue
            for _ in range(int(rng.integers(1, 3))):
                jitter = rng.normal(0, 0.15, 4) * [w, h, w, h]
                box = [x + jitter[0], y + jitter[1], max(w + jitter[2], 0.5), max(h + jitter[3], 0.5)]
                det_cat = cat if rng.random() < 0.9 else int(rng.choice(cat_ids))
                results.append({"image_id": int(img), "category_id": det_cat, "bbox": [float(v) for v in box],
                                "score": float(rng.random())})
        for _ in range(int(rng.poisson(extra)) + (many if img == image_ids[0] else 0)):
            w, h = rng.uniform(2, 200, 2)
            results.append({"image_id": int(img), "category_id": int(rng.choice(cat_ids + [999])),
                            "bbox": [float(v) for v in (*rng.uniform(0, 440, 2), w, h)], "score": float(rng.random())})
    if ties:
        for r in results:
            r["score"] = round(r["score"], 1)
    rng.shuffle(results)
    categories = [{"id": int(c), "name": f"class{c}"} for c in cat_ids]
    return {"images": images, "annotations": anns, "categories": categories}, results


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_classes=st.integers(1, 12), crowd=st.sampled_from([0.0, 0.2, 0.6]),
       empty=st.sampled_from([0.0, 0.3]), ties=st.booleans())
def test_generated_sets_match_pycocotools(seed, n_classes, crowd, empty, ties):
    gt, results = make_case(np.random.default_rng(seed), n_classes=n_classes, crowd=crowd, empty=empty, ties=ties)
    if not results:  # pycocotools' loadRes cannot take an empty list
        return
    assert_same(gt, results)


def test_many_classes_and_detections_beyond_max_dets():
    gt, results = make_case(np.random.default_rng(3), n_images=20, n_classes=40, max_gt=12, many=250)
    assert max(np.unique([r["image_id"] for r in results], return_counts=True)[1]) > 100
    assert_same(gt, results)
    assert_same(gt, results, max_dets=[1, 3, 7])
    assert_same(gt, results, max_dets=[5, 50, 120])


def test_custom_area_ranges_and_ground_truth_id_zero():
    gt, results = make_case(np.random.default_rng(8), n_images=15, zero_id=True)
    assert any(a["id"] == 0 for a in gt["annotations"])  # pycocotools counts a match to id 0 as none
    assert_same(gt, results)
    ranges = {"all": (0, 1e10), "small": (0, 400), "medium": (400, 4000), "large": (4000, 1e10), "tiny": (0, 50)}
    res = assert_same(gt, results, area_ranges=ranges)
    assert set(res.by_area) == set(ranges)


def test_perfect_and_empty_detections():
    gt, _ = make_case(np.random.default_rng(5), crowd=0.0)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"]]
    res = assert_same(gt, perfect)
    assert res.stats["AP"] == pytest.approx(1.0) and res.stats["AR100"] == pytest.approx(1.0)
    none = ours(gt, [])
    assert none.stats["AP"] == 0 and none.stats["AR100"] == 0


def test_box_iou_is_bbiou():
    from pycocotools import mask

    rng = np.random.default_rng(0)
    g = np.column_stack([rng.uniform(0, 50, (40, 2)), rng.uniform(0, 40, (40, 2))])
    d = np.column_stack([rng.uniform(0, 50, (30, 2)), rng.uniform(0, 40, (30, 2))])
    crowd = rng.random(40) < 0.5
    ref = mask.iou(d, g, crowd.astype(np.uint8).tolist())
    gi, di = np.meshgrid(np.arange(40), np.arange(30))
    ours_ = B.box_iou(g[gi.ravel()], d[di.ravel()], crowd[gi.ravel()]).reshape(30, 40)
    assert np.array_equal(ours_, ref)


def test_bad_files_are_named():
    gt, results = make_case(np.random.default_rng(1))
    g = eval_ground_truth(gt)
    with pytest.raises(DataError, match="not in the ground truth"):
        eval_results([dict(results[0], image_id=12345)], g)
    with pytest.raises(DataError, match="bbox"):
        eval_results([{k: v for k, v in results[0].items() if k != "bbox"}], g)
    with pytest.raises(DataError, match="4"):
        eval_results([dict(results[0], bbox=[1, 2, 3])], g)
    with pytest.raises(DataError, match="appears twice"):
        eval_ground_truth({**gt, "annotations": gt["annotations"][:1] * 2})
    with pytest.raises(DataError, match="not a COCO"):
        eval_ground_truth([1, 2])


# ---- through the CLI ---------------------------------------------------------------------------


@pytest.fixture
def coco_case(tmp_path):
    gt, results = make_case(np.random.default_rng(11), n_images=10, n_classes=3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    return tmp_path, gt, results


def test_cli_coco_json_equals_pycocotools(cli, coco_case):
    root, gt, results = coco_case
    result = cli("eval", "--metric", "bbox", "--gt", root / "gt.json", "--pred", root / "res.json", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    got = report["metrics"]["bbox"]
    ref, ref_p, _ = reference(gt, results)
    assert np.max(np.abs(np.array([got[n] for n in B.STAT_NAMES]) - ref)) <= 1e-12
    # per-class rows: AP of category k = mean of pycocotools' precision[:, :, k, all, 100] > -1
    for k, cat in enumerate(sorted(c["id"] for c in gt["categories"])):
        row = got["per_class"][f"class{cat}"]
        p = ref_p[:, :, k, 0, -1]
        assert row["AP"] == (pytest.approx(np.mean(p[p > -1]), abs=1e-12) if (p > -1).any() else None)
    # the provenance hashes the bytes that were parsed
    import hashlib

    digests = {r["path"]: r["sha256"] for r in report["provenance"]["inputs"]}
    assert digests[str((root / "gt.json").resolve())] == hashlib.sha256((root / "gt.json").read_bytes()).hexdigest()
    # the terminal view has the per-class table
    shown = cli("eval", "--metric", "bbox", "--gt", root / "gt.json", "--pred", root / "res.json")
    assert shown.exit_code == 0 and "class" + str(gt["categories"][0]["id"]) in shown.stdout and "AR100" in shown.stdout


def test_cli_fail_under_and_bad_input(cli, coco_case):
    root, gt, results = coco_case
    args = ("eval", "--metric", "bbox", "--gt", root / "gt.json", "--pred", root / "res.json")
    ap = json.loads(cli(*args, "--json").stdout)["metrics"]["bbox"]["AP"]
    assert cli(*args, "--fail-under", f"AP={ap - 0.01}").exit_code == 0
    failed = cli(*args, "--fail-under", f"AP={ap + 0.01}")
    assert failed.exit_code == 3 and "AP" in failed.stderr
    name = f"class{gt['categories'][0]['id']}"
    assert cli(*args, "--fail-under", f"AP50.{name}=1.01").exit_code == 3
    (root / "bad.json").write_text(json.dumps([dict(results[0], image_id=77777)]))
    assert_clean_error(cli("eval", "--metric", "bbox", "--gt", root / "gt.json", "--pred", root / "bad.json"),
                       1, "bad.json", "not in the ground truth")
    (root / "broken.json").write_text("[{")
    assert_clean_error(cli("eval", "--metric", "bbox", "--gt", root / "gt.json", "--pred", root / "broken.json"),
                       1, "broken.json", "not readable JSON")
    assert_clean_error(cli("eval", "--metric", "bbox", "--gt", root / "missing.json", "--pred", root / "res.json"),
                       1, "missing.json")


def _datasets(rng, n=8, p=4, classes=("person", "face")):
    from thermcli.io import Dataset, Meta

    boxes = np.full((n, p, 4), np.nan, np.float32)
    cls = np.full((n, p), -1, np.int32)
    for i in range(n):
        for j in range(int(rng.integers(0, p + 1))):
            boxes[i, j] = [*rng.uniform(0, 50, 2), *rng.uniform(4, 30, 2)]
            cls[i, j] = rng.integers(0, len(classes))
    iscrowd = (rng.random((n, p)) < 0.15).astype(np.uint8)
    meta = Meta(unit="celsius", box_class_names=list(classes))
    gt = Dataset(frames=np.zeros((n, 60, 80), np.float32), meta=meta, boxes=boxes, box_classes=cls,
                 columns={"iscrowd": iscrowd})
    pb = boxes + rng.normal(0, 2, boxes.shape).astype(np.float32)
    pb[..., 2:] = np.abs(pb[..., 2:])
    scores = np.where(np.isfinite(boxes[..., 0]), rng.random((n, p)), np.nan).astype(np.float32)
    fp = rng.random((n, p)) < 0.3  # false positives in empty slots
    pb[fp & ~np.isfinite(boxes[..., 0])] = [10, 10, 20, 20]
    scores[fp & ~np.isfinite(boxes[..., 0])] = 0.3
    pcls = np.where(np.isfinite(pb[..., 0]), np.maximum(cls, 0), -1).astype(np.int32)
    import copy

    pred_meta = copy.deepcopy(meta)
    pred_meta.attrs["predictions"] = {"task": "detect"}  # eval takes only predictions as SOURCE (issue 23)
    pred = Dataset(frames=np.zeros((n, 60, 80), np.float32), meta=pred_meta, boxes=pb, box_classes=pcls, scores=scores)
    return gt, pred


def test_cli_datasets_equal_pycocotools(cli, tmp_path):
    from thermcli.io import write_dataset

    gt_ds, pred_ds = _datasets(np.random.default_rng(2))
    write_dataset(tmp_path / "gt.h5", gt_ds)
    write_dataset(tmp_path / "pred.h5", pred_ds)
    result = cli("eval", tmp_path / "pred.h5", tmp_path / "gt.h5", "--metric", "bbox", "--json",
                 "--area-ranges", "small=0:100,medium=100:400,large=400:1e10")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["metrics"]["bbox"]
    # the same objects as COCO files (float32 values as float64, class c -> category c + 1)
    images = [{"id": i} for i in range(len(gt_ds))]
    anns, res = [], []
    for i in range(len(gt_ds)):
        for j in range(gt_ds.boxes.shape[1]):
            if np.isfinite(gt_ds.boxes[i, j]).all():
                b = gt_ds.boxes[i, j].astype(np.float64)
                anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(gt_ds.box_classes[i, j]) + 1,
                             "bbox": b.tolist(), "area": float(b[2] * b[3]), "iscrowd": int(gt_ds.columns["iscrowd"][i, j])})
            if np.isfinite(pred_ds.boxes[i, j]).all() and np.isfinite(pred_ds.scores[i, j]):
                res.append({"image_id": i, "category_id": int(pred_ds.box_classes[i, j]) + 1,
                            "bbox": pred_ds.boxes[i, j].astype(np.float64).tolist(), "score": float(pred_ds.scores[i, j])})
    coco = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "face"}]}
    ranges = {"all": (0, 1e10), "small": (0, 100), "medium": (100, 400), "large": (400, 1e10)}
    ref, _, _ = reference(coco, res, area_ranges=ranges)
    assert np.max(np.abs(np.array([got[n] for n in B.STAT_NAMES]) - ref)) <= 1e-12
    assert set(got["per_class"]) == {"person", "face"}
    # predictions without scores cannot be ranked: refused, named
    write_dataset(tmp_path / "noscore.h5", pred_ds.__class__(frames=pred_ds.frames, meta=pred_ds.meta, boxes=pred_ds.boxes))
    assert_clean_error(cli("eval", tmp_path / "noscore.h5", tmp_path / "gt.h5", "--metric", "bbox"), 1, "noscore.h5", "scores")


def test_cli_parses_each_json_once_for_both_families(cli, tmp_path, monkeypatch):
    """`--metric oks,bbox` on one keypoint + box file: each file is read and parsed once, the
    provenance takes the digest of those bytes (no second read), both families equal
    pycocotools."""
    import hashlib

    import orjson

    from tests.metrics.test_oks import _synthetic_gt, perturb
    from tests.metrics.test_oks import reference_stats as oks_reference
    from thermcli.io import provenance

    rng = np.random.default_rng(4)
    gt = _synthetic_gt(rng, n_images=12)
    results = perturb(gt, rng, with_bbox=True)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    parsed, reread = [], []
    real_loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda raw: parsed.append(len(raw)) or real_loads(raw))
    real_read = provenance.read_provenance
    monkeypatch.setattr(provenance, "read_provenance", lambda path: reread.append(str(path)) or real_read(path))
    monkeypatch.setattr(provenance, "sha256_path", lambda path: reread.append(str(path)) or "x" * 64)
    result = cli("eval", "--metric", "oks,bbox", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "res.json", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(parsed) == sorted([(tmp_path / "gt.json").stat().st_size, (tmp_path / "res.json").stat().st_size])
    assert reread == []
    report = json.loads(result.stdout)
    digests = [r["sha256"] for r in report["provenance"]["inputs"]]
    assert digests == [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("res.json", "gt.json")]
    ref_box, _, _ = reference(gt, results)
    ref_oks, _, _ = oks_reference(gt, results)
    got = report["metrics"]
    assert np.max(np.abs(np.array([got["bbox"][n] for n in B.STAT_NAMES]) - ref_box)) <= 1e-12
    from thermcli.metrics.oks import STAT_NAMES as OKS_NAMES

    assert np.max(np.abs(np.array([got["oks"][n] for n in OKS_NAMES]) - ref_oks)) <= 1e-12


def test_cli_refuses_options_that_do_not_apply(cli, coco_case):
    root, _, _ = coco_case
    args = ("eval", "--gt", root / "gt.json", "--pred", root / "res.json")
    assert_clean_error(cli(*args, "--metric", "bbox", "--sigmas", "0.1"), 2, "--sigmas")
    assert_clean_error(cli(*args, "--metric", "accuracy", "--area-ranges", "medium=0:400"), 2, "--area-ranges")
    assert cli(*args, "--metric", "bbox", "--area-ranges", "medium=0:400,large=400:1e10").exit_code == 0
