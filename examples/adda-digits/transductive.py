"""Target accuracy on the target *training* images a run adapted on, each seed's source-only
(``source_only.pt``: stage 1's weights, the target's standardisation) and adapted (``best.pt``) model scored by ``thermcli eval``'s own code
(:func:`thermcli.stages.evaluate.run_eval`, in this process: one start-up for all the models).

The ADDA paper follows the MNIST/USPS protocol of Long et al. (2013), which is transductive: the
sampled target images are both the unlabelled adaptation data and the images scored. The
authors' released scripts score the target's training split too (``tools/eval_classification.py
<target> train``). The labels of these images are never used for training; they only score.

    python transductive.py RUN_DIR TARGET_TRAIN.h5 > RUN_DIR/transductive.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def accuracy(model: Path, data: Path) -> float:
    from thermcli.stages.evaluate import run_eval

    report = run_eval(model, data, metrics=["accuracy"], fail_under=None, device="cpu", batch_size=256, options={})
    return float(report["metrics"]["classification"]["accuracy"])


def mean_std(values: list[float]) -> dict:
    arr = np.array(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "values": values}


def main(run_dir: str, data: str) -> None:
    import torch

    torch.set_num_threads(1)  # `make -j2` scores both directions side by side
    run, target = Path(run_dir), Path(data)
    summary = json.loads((run / "summary.json").read_text())
    # the models each run wrote (paths as adapt saw them: relative to where it ran, as here)
    source_only = [accuracy(Path(r["outputs"]["source_only"]), target) for r in summary["runs"]]
    adapted = [accuracy(Path(r["outputs"]["adapted"]), target) for r in summary["runs"]]
    json.dump({"data": str(target), "seeds": summary["seeds"], "source_only": mean_std(source_only), "adapted": mean_std(adapted)},
              sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main(*sys.argv[1:])
