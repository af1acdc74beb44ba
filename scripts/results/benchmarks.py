"""docs/results/benchmarks.md: the benchmarks under bench/, each against a baseline measured in
the same run (bench/run_all.py), with what each printed.

    .venv/bin/python scripts/results/benchmarks.py          # the quick ones (a few minutes)
    .venv/bin/python scripts/results/benchmarks.py --all    # also threshold_augment (about 6 min)
                                                            # and align_accuracy (about 3 min)
    .venv/bin/python scripts/results/benchmarks.py --render # re-render from the record
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record as R  # noqa: E402

NAME = "benchmarks"
SCRIPT = "scripts/results/benchmarks.py"
QUICK = ["startup", "palette_fit", "oks_eval", "train_throughput"]
SLOW = ["threshold_augment", "align_accuracy"]
ABOUT = {
    "startup": "`thermcli --help` and `thermcli info` on a small file against `python -c pass` (goal < 0.5 s)",
    "palette_fit": "pseudo-colour inversion: fit of each palette to thermal-people frames, KD-tree vs brute force",
    "oks_eval": "COCO keypoint eval (OKS), 5,000 images × 3 people: thermcli vs pycocotools and faster-coco-eval; max difference of the ten stats",
    "train_throughput": "thermcli's `fit` vs a bare PyTorch loop over the same tensors, small_cnn, batch 64, 1 thread (goal ≥ 0.9)",
    "threshold_augment": "`threshold`/`augment` throughput vs bare loops, peak RSS, `--workers 2` scaling (goals ≥ 0.8, < 600 MB, ≥ 1.6×)",
    "align_accuracy": "registration accuracy: target-based, `--auto` on synthetic scenes, tug and LLVIP",
}


def measure(names: list[str]) -> dict:
    command = ".venv/bin/python bench/run_all.py " + " ".join(names)
    seconds, text = R.run(command)
    table = (R.REPO / "bench" / "RESULTS.md").read_text()
    header, *rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines() if line.startswith("|")]
    rows = [r for r in rows if not set("".join(r)) <= set("-")]
    printed = {}
    for block in re.split(r"(?m)^## ", text)[1:]:
        name, _, rest = block.partition("\n")
        printed[name.strip()] = rest.strip()
    return R.new_record(NAME, SCRIPT, [command], threads="torch default (train_throughput: 1)", wall_seconds=round(seconds, 1),
                        table={"header": header, "rows": rows}, printed=printed)


def render(record: dict) -> None:
    t = record["table"]
    ran = list(record["printed"])
    body = [
        "Each benchmark prints a ratio against a baseline measured in the same process, so a slower",
        "machine moves both sides. Single runs on a shared 2-core VM vary by ±25 %; compare ratios,",
        "and repeat a run before reading much into a small difference.",
        "",
        R.table(["benchmark", "what it measures"], [[f"`bench/{n}.py`", ABOUT.get(n, "")] for n in ran]),
        "",
        R.table(t["header"], t["rows"]),
        "",
    ]
    missing = [n for n in QUICK + SLOW if n not in ran]
    if missing:
        body += [f"Not run for this page: {', '.join(f'`bench/{n}.py`' for n in missing)} (`{SCRIPT} --all` runs them;"
                 " alignment accuracy is on the [align page](align.md)).", ""]
    for name, text in record["printed"].items():
        body += [f"### `bench/{name}.py` printed", "", "```text", text, "```", ""]
    R.write_page(record, "Benchmarks", "\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--all", action="store_true", help="also the slow benchmarks")
    args = parser.parse_args()
    if args.render:
        record = R.load_record(NAME)
    else:
        record = measure(QUICK + (SLOW if args.all else []))
        R.save_record(record)
    render(record)


if __name__ == "__main__":
    main()
