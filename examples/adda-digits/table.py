"""Print the digits table (markdown) from runs/*/summary.json and runs/*/transductive.json, with
the paper's numbers beside.

Two target accuracies per run: on the target's **test set** (never seen in training), and on the
target **training images adapted on** (transductive: the protocol of Long et al. 2013 that the
ADDA paper follows, and the split the authors' scripts score; their labels never used for
training)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PAPER = {"mnist2usps": (0.752, 0.894), "usps2mnist": (0.571, 0.901)}
NAMES = {"mnist2usps": "MNIST → USPS", "usps2mnist": "USPS → MNIST"}


def _pm(summary: dict) -> str:
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def main(runs: str) -> None:
    print("| direction | method | test set: source only | test set: adapted | adapted-on images: source only | "
          "adapted-on images: adapted | paper: source only → ADDA | seconds a seed (wall) | whole direction (wall) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(Path(runs).glob("*/summary.json")):
        method, direction = path.parent.name.split("-", 1)
        s = json.loads(path.read_text())
        trans_path = path.parent / "transductive.json"
        if trans_path.is_file():
            t = json.loads(trans_path.read_text())
            trans = f"{_pm(t['source_only'])} | {_pm(t['adapted'])}"
        else:
            trans = "? | ?"
        per_seed = ", ".join(f"{r['seconds']:.0f}" for r in s["runs"])
        timing = path.parent.with_suffix(".time")
        wall = timing.read_text().strip() if timing.is_file() else "?"
        paper = PAPER.get(direction, (float("nan"),) * 2)
        print(
            f"| {NAMES.get(direction, direction)} | {method.upper()} | {_pm(s['target_acc_source_only'])} | "
            f"{_pm(s['target_acc_adapted'])} | {trans} | {paper[0]:.3f} → {paper[1]:.3f} | {per_seed} | {wall} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
