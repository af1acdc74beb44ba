"""COCO evaluation speed, boxes and keypoints, all measured in one run on the same machine.

(a) Box AP on 5,000 generated images: thermcli.metrics.bbox vs pycocotools
    ``COCOeval(iouType='bbox')`` — evaluate + accumulate, ground truth and results already
    loaded into each library's own objects. Goal: ratio ≥ 1.
(b) End to end on 20,000 generated images (0–5 people an image, crowd regions, false
    positives; ~50k people, ~60k results): the CLI ``thermcli eval --metric oks|bbox --gt GT.json
    --pred RES.json --json`` (load + evaluate + report; typer's in-process entry, imports warmed
    by one small run first) vs faster-coco-eval's load + evaluate + accumulate + summarize of the
    same files. Goal: ratio ≥ 2, with the stats identical to faster-coco-eval's (asserted).

Usage: python bench/coco_eval.py [--images-a 5000] [--images-b 20000] [--repeats 3]
Prints each wall time (best of ``--repeats``) and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BOX_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
OKS_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def make_set(n_images: int, seed: int = 0, max_people: int = 5, people: int | None = None):
    """Ground truth with keypoints and boxes; keypoint results and box results (perturbed people,
    some missed, false positives, scores with ties). ``people``: exactly that many an image
    (else 0 to ``max_people``, drawn)."""
    rng = np.random.default_rng(seed)
    images, anns, kp_results, box_results = [], [], [], []
    aid = 1
    for i in range(1, n_images + 1):
        images.append({"id": i, "width": 640, "height": 480, "file_name": f"{i:06d}.jpg"})
        for _ in range(people if people is not None else int(rng.integers(0, max_people + 1))):
            w, h = rng.uniform(10, 250, 2)
            x, y = rng.uniform(0, 380, 2)
            vis = rng.choice([0, 1, 2], 17, p=[0.2, 0.2, 0.6])
            kp = np.column_stack([x + rng.random(17) * w, y + rng.random(17) * h, vis])
            kp[vis == 0, :2] = 0
            crowd = int(rng.random() < 0.03)
            anns.append({"id": aid, "image_id": i, "category_id": 1, "keypoints": np.round(kp, 2).ravel().tolist(),
                         "num_keypoints": int(np.count_nonzero(vis)), "bbox": np.round([x, y, w, h], 2).tolist(),
                         "area": round(float(w * h * 0.6), 3), "iscrowd": crowd})
            aid += 1
            if rng.random() < 0.1:  # missed
                continue
            score = round(float(rng.random()), 3)
            xy = kp[:, :2] + rng.normal(0, np.sqrt(w * h) / 30, (17, 2))
            kp_results.append({"image_id": i, "category_id": 1, "score": score,
                               "keypoints": np.round(np.column_stack([xy, np.ones(17)]), 2).ravel().tolist()})
            box = np.array([x, y, w, h]) + rng.normal(0, 0.06, 4) * [w, h, w, h]
            box[2:] = np.abs(box[2:])
            box_results.append({"image_id": i, "category_id": 1, "score": score, "bbox": np.round(box, 2).tolist()})
        for _ in range(int(rng.poisson(0.75))):  # false positives
            xy = rng.random((17, 2)) * 400
            score = round(float(rng.random() * 0.6), 3)
            kp_results.append({"image_id": i, "category_id": 1, "score": score,
                               "keypoints": np.round(np.column_stack([xy, np.ones(17)]), 2).ravel().tolist()})
            box_results.append({"image_id": i, "category_id": 1, "score": score,
                                "bbox": np.round([*rng.uniform(0, 400, 2), *rng.uniform(10, 200, 2)], 2).tolist()})
    categories = [{"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": [f"k{j}" for j in range(17)], "skeleton": [[1, 2]]}]
    return {"images": images, "annotations": anns, "categories": categories}, kp_results, box_results


# ---- (a) box AP, evaluation only -----------------------------------------------------------


def eval_pycocotools(gt, results, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(results))
        start = time.perf_counter()
        ev = COCOeval(coco, dets, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        elapsed = time.perf_counter() - start
        ev.summarize()
    return elapsed, np.asarray(ev.stats)


def eval_thermcli_boxes(gt, results):
    from thermcli.io.coco import eval_ground_truth, eval_results
    from thermcli.metrics.bbox import evaluate_boxes

    g = eval_ground_truth(gt, kind="bbox")
    d = eval_results(results, g, kind="bbox")
    start = time.perf_counter()
    res = evaluate_boxes(g, d)
    elapsed = time.perf_counter() - start
    return elapsed, np.array([res.stats[n] for n in BOX_STATS])


# ---- (b) end to end from files ---------------------------------------------------------------


def faster_end_to_end(gt_path: Path, res_path: Path, iou_type: str):
    import logging

    from faster_coco_eval import COCO, COCOeval_faster

    logging.getLogger("faster_coco_eval").setLevel(logging.ERROR)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_path))
        dets = coco.loadRes(str(res_path))
        ev = COCOeval_faster(coco, dets, iouType=iou_type, print_function=lambda *a, **k: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return time.perf_counter() - start, np.asarray(ev.stats[: 12 if iou_type == "bbox" else 10], np.float64)


def cli_end_to_end(gt_path: Path, res_path: Path, metric: str):
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    runner = CliRunner()
    start = time.perf_counter()
    result = runner.invoke(app, ["eval", "--metric", metric, "--gt", str(gt_path), "--pred", str(res_path), "--json"])
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"thermcli eval failed ({result.exit_code}): {result.output}")
    stats = json.loads(result.stdout)["metrics"][metric]
    names = BOX_STATS if metric == "bbox" else OKS_STATS
    return elapsed, np.array([stats[n] for n in names], np.float64)


def best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t, out = fn()
        times.append(t)
    return min(times), out


def main(argv=None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-a", type=int, default=5000)
    parser.add_argument("--images-b", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    out: dict[str, float] = {}

    gt, _, boxes = make_set(args.images_a, seed=1)
    ours, ours_stats = best(lambda: eval_thermcli_boxes(gt, boxes), args.repeats)
    ref, ref_stats = best(lambda: eval_pycocotools(gt, boxes, "bbox"), 1)
    diff = float(np.max(np.abs(ours_stats - ref_stats)))
    assert diff <= 1e-12, (ours_stats, ref_stats)
    print(f"(a) box AP, {args.images_a} images, {len(gt['annotations'])} objects, {len(boxes)} detections "
          f"(evaluate + accumulate)")
    print(f"    pycocotools      {ref:7.3f} s")
    print(f"    thermcli bbox    {ours:7.3f} s   ratio {ref / ours:5.1f}x (goal >= 1)   max |diff| {diff:.1e}")
    out.update(a_pycocotools_s=ref, a_thermcli_s=ours, a_ratio=ref / ours)

    gt, kps, boxes = make_set(args.images_b, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        det_gt = {**gt, "annotations": [{k: v for k, v in a.items() if k not in ("keypoints", "num_keypoints")}
                                         for a in gt["annotations"]]}
        paths = {"gt": root / "gt.json", "det_gt": root / "det_gt.json", "oks": root / "res_kp.json",
                 "bbox": root / "res_box.json"}
        for key, value in (("gt", gt), ("det_gt", det_gt), ("oks", kps), ("bbox", boxes)):
            paths[key].write_text(json.dumps(value))
        # warm the CLI's imports (typer, rich, thermcli) on a small set, as faster-coco-eval's are
        small_gt, small_kp, small_box = make_set(20, seed=3)
        for key, value in (("small_gt", small_gt), ("small_oks", small_kp), ("small_bbox", small_box)):
            (root / f"{key}.json").write_text(json.dumps(value))
        for metric in ("oks", "bbox"):
            cli_end_to_end(root / "small_gt.json", root / f"small_{metric}.json", metric)
            faster_end_to_end(root / "small_gt.json", root / f"small_{metric}.json",
                              "keypoints" if metric == "oks" else "bbox")
        print(f"(b) end to end, {args.images_b} images, {len(gt['annotations'])} people "
              f"({sum(a['iscrowd'] for a in gt['annotations'])} crowd), {len(kps)} results each")
        # oks: the keypoint file; bbox: the same people as a detection file (boxes only), and as
        # the keypoint file (every parser then also decodes 51 keypoint numbers a person)
        runs = (("oks", "gt", "keypoint GT"), ("bbox", "det_gt", "box GT"), ("bbox", "gt", "keypoint GT"))
        for metric, gt_key, label in runs:
            iou_type = "keypoints" if metric == "oks" else "bbox"
            fast, fast_stats = best(lambda g=gt_key, m=metric, t=iou_type: faster_end_to_end(paths[g], paths[m], t), args.repeats)
            ours, ours_stats = best(lambda g=gt_key, m=metric: cli_end_to_end(paths[g], paths[m], m), args.repeats)
            diff = float(np.max(np.abs(ours_stats - fast_stats)))
            assert np.array_equal(ours_stats, fast_stats) or diff <= 1e-12, (metric, ours_stats, fast_stats)
            print(f"    --metric {metric:4s} ({label:11s})  faster-coco-eval {fast:6.3f} s   thermcli CLI {ours:6.3f} s"
                  f"   ratio {fast / ours:4.2f}x (goal >= 2)   max |diff| {diff:.1e}")
            tag = f"b_{metric}_{gt_key}"
            out[f"{tag}_faster_s"] = fast
            out[f"{tag}_thermcli_s"] = ours
            out[f"{tag}_ratio"] = fast / ours
    return out


if __name__ == "__main__":
    main()
