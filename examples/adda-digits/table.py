"""Print the digits table (markdown) from runs/*/summary.json, with the paper's numbers beside."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PAPER = {"mnist2usps": (0.752, 0.894), "usps2mnist": (0.571, 0.901)}
NAMES = {"mnist2usps": "MNIST → USPS", "usps2mnist": "USPS → MNIST"}


def main(runs: str) -> None:
    print("| direction | method | source only (ours) | adapted (ours) | paper source only → ADDA | seconds a seed (wall) | whole direction (wall) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(Path(runs).glob("*/summary.json")):
        method, direction = path.parent.name.split("-", 1)
        s = json.loads(path.read_text())
        so, ad = s["target_acc_source_only"], s["target_acc_adapted"]
        per_seed = ", ".join(f"{r['seconds']:.0f}" for r in s["runs"])
        timing = path.parent.with_suffix(".time")
        wall = timing.read_text().strip() if timing.is_file() else "?"
        paper = PAPER.get(direction, (float("nan"),) * 2)
        print(
            f"| {NAMES.get(direction, direction)} | {method.upper()} | {so['mean']:.3f} ± {so['std']:.3f} | "
            f"{ad['mean']:.3f} ± {ad['std']:.3f} | {paper[0]:.3f} → {paper[1]:.3f} | {per_seed} | {wall} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
