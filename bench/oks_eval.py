"""COCO keypoint evaluation speed: thermcli.metrics.oks vs pycocotools vs faster-coco-eval, on the
same synthetic set (bench/coco_eval.py's: 5,000 images × 3 people, perturbed predictions, some
missed, plus false positives), all in one run. Prints each wall time (evaluate + accumulate + summarize, GT and results already loaded
into each library's own objects) and the ratios; also checks the ten numbers agree."""

from __future__ import annotations

import contextlib
import copy
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from coco_eval import make_set  # noqa: E402  (the one synthetic COCO set of the benchmarks)


def time_pycocotools(gt, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        dets = coco.loadRes(copy.deepcopy(results))
        start = time.perf_counter()
        ev = COCOeval(coco, dets, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return time.perf_counter() - start, np.asarray(ev.stats)


def time_faster(gt, results):
    import logging

    from faster_coco_eval import COCO, COCOeval_faster

    logging.getLogger("faster_coco_eval").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(copy.deepcopy(gt))
        dets = coco.loadRes(copy.deepcopy(results))
        start = time.perf_counter()
        ev = COCOeval_faster(coco, dets, iouType="keypoints", print_function=lambda *a, **k: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return time.perf_counter() - start, np.asarray(ev.stats[:10])


def time_thermcli(gt, results):
    from thermcli.metrics import oks

    g = oks.gt_from_coco(gt)
    d = oks.dt_from_coco(results, g)
    start = time.perf_counter()
    res = oks.evaluate_oks(g, d)
    elapsed = time.perf_counter() - start
    return elapsed, np.array([res.stats[n] for n in oks.STAT_NAMES])


def main(n_images: int = 5000) -> dict[str, float]:
    gt, results, _ = make_set(n_images, seed=0, people=3)
    ours, ours_stats = time_thermcli(gt, results)
    ref, ref_stats = time_pycocotools(gt, results)
    try:
        fast, fast_stats = time_faster(gt, results)
    except Exception as exc:  # an optional comparison: report, do not fail
        print(f"faster-coco-eval failed: {type(exc).__name__}: {exc}")
        fast, fast_stats = float("nan"), None
    diff = float(np.max(np.abs(ours_stats - ref_stats)))
    print(f"{n_images} images x 3 people, {len(results)} detections")
    print(f"pycocotools       {ref:7.3f} s")
    print(f"faster-coco-eval  {fast:7.3f} s")
    print(f"thermcli oks      {ours:7.3f} s")
    print(f"speed-up vs pycocotools: {ref / ours:.1f}x  (goal >= 1x); vs faster-coco-eval: {fast / ours:.2f}x")
    print(f"max |thermcli - pycocotools| over the ten stats: {diff:.2e}")
    if fast_stats is not None:
        print(f"max |faster-coco-eval - pycocotools|: {float(np.max(np.abs(fast_stats - ref_stats))):.2e}")
    return {"pycocotools_s": ref, "faster_coco_eval_s": fast, "thermcli_s": ours, "ratio_vs_pycocotools": ref / ours}


if __name__ == "__main__":
    main()
