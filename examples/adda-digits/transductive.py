"""Target accuracy on the target *training* images a run adapted on, each seed's source-only
(``source.pt``) and adapted (``best.pt``) model scored with ``thermcli eval``.

The ADDA paper follows the MNIST/USPS protocol of Long et al. (2013), which is transductive: the
sampled target images are both the unlabelled adaptation data and the images scored. The
authors' released scripts score the target's training split too (``tools/eval_classification.py
<target> train``). The labels of these images are never used for training; they only score.

    python transductive.py RUN_DIR TARGET_TRAIN.h5 > RUN_DIR/transductive.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def accuracy(model: Path, data: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.json"
        cmd = [sys.executable, "-m", "thermcli", "--quiet", "eval", str(model), str(data), "--metric", "accuracy",
               "--device", "cpu", "--output", str(out)]
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return float(json.loads(out.read_text())["metrics"]["classification"]["accuracy"])


def summary(values: list[float]) -> dict:
    arr = np.array(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "values": values}


def main(run_dir: str, data: str) -> None:
    run, target = Path(run_dir), Path(data)
    summary_ = json.loads((run / "summary.json").read_text())
    seeds = summary_["seeds"]
    runs = summary_.get("runs") or [summary_]  # one seed: the summary is that run's result
    # the models each run wrote (paths as adapt saw them: relative to where it ran, as here)
    source_only = [accuracy(Path(r["outputs"]["source_only"]), target) for r in runs]
    adapted = [accuracy(Path(r["outputs"]["adapted"]), target) for r in runs]
    json.dump({"data": str(target), "seeds": seeds, "source_only": summary(source_only), "adapted": summary(adapted)},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(*sys.argv[1:])
