"""Person detector on real thermal frames (../shared/data/thermal-people), trained here on the CPU,
against the heuristic finder (``align --boxes find``), both scored on ``valid/`` in this run.

    .venv/bin/python scripts/results/detect_people.py [--epochs 6] [--arch ...] [--size 320]

Steps (each a thermcli command, recorded with its wall time in the result JSON):
  import train/ and valid/ with their YOLO labels (classes 0 = dog, 1 = person: named explicitly,
  the folder has no class file), train --task detect on train/ (best.pt on valid/ box AP50),
  predict valid/, eval --metric bbox; then person box recall at IoU 0.5 and precision at the score
  threshold (fixed beforehand: --threshold, default 0.5), and the heuristic finder's recall and
  precision on the same images. Writes scripts/results/detect_people.json (date, commit, machine,
  commands, numbers) and prints the lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "thermal-people"
sys.path.insert(0, str(ROOT))


def thermcli(*args, log: list) -> float:
    cmd = [sys.executable, "-m", "thermcli", *[str(a) for a in args]]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    log.append({"command": "thermcli " + " ".join(str(a) for a in args), "seconds": round(seconds, 1),
                "exit": done.returncode})
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return seconds


def person_boxes(boxes, classes, person: int, scores=None, threshold: float = 0.0):
    out = []
    for i in range(len(boxes)):
        keep = np.isfinite(boxes[i]).all(-1) & (classes[i] == person)
        if scores is not None:
            keep &= np.nan_to_num(scores[i], nan=-1) >= threshold
        out.append(boxes[i][keep].astype(np.float64))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", default="320x320")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", default="0.0005")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--weights", default="none")
    parser.add_argument("--work", default="/tmp/detect_people")
    a = parser.parse_args()
    import cv2

    from thermcli.io import read_dataset
    from thermcli.ops.person_finder import box_recall, find_people, pseudocolour_intensity

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    log: list = []
    for split in ("train", "valid"):
        thermcli("import", SHARED / split / "images", work / f"{split}.h5", "--yolo", SHARED / split / "labels",
                 "--box-classes", "dog,person", "--force", log=log)
    train_s = thermcli("train", work / "train.h5", "--task", "detect", "--arch", a.arch, "--input-size", a.size,
                       "--epochs", a.epochs, "--batch-size", a.batch_size, "--lr", a.lr, "--patience", "0",
                       "--scheduler", "cosine", "--weights", a.weights, "--val", work / "valid.h5", "--device", "cpu",
                       "--out", work / "run", "--force", log=log)
    thermcli("predict", work / "run" / "best.pt", work / "valid.h5", work / "pred.h5", "--force", log=log)
    thermcli("eval", work / "pred.h5", work / "valid.h5", "--metric", "bbox", "--json", log=log)
    gt, pred = read_dataset(work / "valid.h5"), read_dataset(work / "pred.h5")
    person = list(gt.meta.box_class_names).index("person")
    truth = person_boxes(gt.boxes, gt.box_classes, person)
    found = person_boxes(pred.boxes, pred.box_classes, person, pred.scores, a.threshold)
    m, n = box_recall(found, truth, iou=0.5)
    k = sum(len(f) for f in found)
    heur = []
    for image_path in sorted((SHARED / "valid" / "images").glob("*.jpg")):
        image = cv2.imread(str(image_path))[..., ::-1]
        heur.append(find_people(pseudocolour_intensity(image), relative=True, min_area=0.0005, min_height=0.04,
                                max_aspect=1.2))
    # the heuristic reads the JPEGs in name order, as import does
    hm, hn = box_recall(heur, truth, iou=0.5)
    hk = sum(len(f) for f in heur)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs (shared, loaded)".strip(),
        "arch": a.arch, "input_size": a.size, "epochs": a.epochs, "weights": a.weights,
        "train_seconds": round(train_s, 1), "threshold": a.threshold, "person_boxes": n,
        "detector": {"recall50": m / n, "precision": (m / k) if k else 0.0, "boxes": k},
        "heuristic": {"recall50": hm / hn, "precision": (hm / hk) if hk else 0.0, "boxes": hk},
        "commands": log,
    }
    (ROOT / "scripts" / "results" / "detect_people.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"detector {a.arch} ({a.epochs} epochs, {train_s / 60:.1f} min CPU): person recall@IoU0.5 "
          f"{m}/{n} = {m / n:.3f}, precision {result['detector']['precision']:.3f} at score ≥ {a.threshold}")
    print(f"heuristic finder (same valid/ images): recall@IoU0.5 {hm}/{hn} = {hm / hn:.3f}, "
          f"precision {result['heuristic']['precision']:.3f} ({hk} boxes)")


if __name__ == "__main__":
    main()
