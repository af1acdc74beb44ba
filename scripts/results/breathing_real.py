"""docs/results/breathing-real.md: INH/EXH classification on the real spirometry video
(examples/breathing-spirometry/run.sh), split by segment.

    .venv/bin/python scripts/results/breathing_real.py                # run.sh OUT 12 (minutes)
    .venv/bin/python scripts/results/breathing_real.py --seeds 1,2    # also retrain each input with
                                                                      # these seeds on the same split
    .venv/bin/python scripts/results/breathing_real.py --render       # re-render from the record
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record as R  # noqa: E402

NAME = "breathing-real"
SCRIPT = "scripts/results/breathing_real.py"
DATA = R.REPO.parent / "shared" / "data" / "breathing-spirometry"
EPOCHS = 12
RUN = "examples/breathing-spirometry/run.sh {out} {epochs}"
INPUTS = {  # run.sh's run folders and their train options
    "frames1": "--frames 1",
    "frames8": "--frames 8",
    "frames16": "--frames 16",
    "frames16c": "--frames 16 --window centered --normalize window",
    "frames32c": "--frames 32 --window centered --normalize window",
    "frames48c": "--frames 48 --window centered --normalize window",
}
RETRAIN = ("thermcli -q train {s}/train.h5 --val {s}/val.h5 {opts} --arch small_cnn --width 8 --epochs {epochs} --patience 5 "
           "--batch-size 64 --seed {seed} --device cpu --force --out {out}")
EVAL = "thermcli -q eval {out}/best.pt {s}/test.h5 --output {out}/test_metrics.json --force"


def _best_val(run: Path) -> float:
    return max(float(r["val_balanced_accuracy"]) for r in csv.DictReader(open(run / "metrics.csv")))


def measure(tmp: Path, seeds: list[int]) -> dict:
    if not DATA.is_dir():
        raise SystemExit(f"needs {DATA}")
    out = tmp / "run"
    env = R.env_with_venv(THERMCLI=f"{R.VENV_BIN}/python -m thermcli", PYTHON=f"{R.VENV_BIN}/python", OMP_NUM_THREADS="1")
    command = RUN.format(out=out, epochs=EPOCHS)
    seconds, _ = R.run(command, env=env)
    results = json.loads((out / "results.json").read_text())
    commands = ["OMP_NUM_THREADS=1 THERMCLI='.venv/bin/python -m thermcli' PYTHON=.venv/bin/python "
                + RUN.format(out="OUT", epochs=EPOCHS)]
    rows = {k: {"options": INPUTS[k], "seeds": {"0": {"val": v["val_balanced_accuracy"], "test": v["balanced_accuracy"]}},
                "test_frames": v["test_frames"], "support": v["support"]} for k, v in results.items()}
    for seed in seeds:
        for key, opts in INPUTS.items():
            run = tmp / f"{key}-seed{seed}"
            R.run(RETRAIN.format(s=out / "split", opts=opts, epochs=EPOCHS, seed=seed, out=run), env=env)
            R.run(EVAL.format(out=run, s=out / "split"), env=env)
            m = json.loads((run / "test_metrics.json").read_text())["metrics"]["classification"]
            rows[key]["seeds"][str(seed)] = {"val": _best_val(run), "test": m["balanced_accuracy"]}
        commands.append("OMP_NUM_THREADS=1 " + RETRAIN.format(s="OUT/split", opts="OPTIONS", epochs=EPOCHS, seed=seed, out="OUT/KEY-seed%d" % seed)
                        + "   # for each input's OPTIONS, then: " + EVAL.format(out="OUT/KEY-seed%d" % seed, s="OUT/split"))
    return R.new_record(NAME, SCRIPT, commands, threads=1, wall_seconds_run_sh=round(seconds, 1), epochs=EPOCHS, inputs=rows)


def render(record: dict) -> None:
    inputs = record["inputs"]
    seeds = sorted({s for v in inputs.values() for s in v["seeds"]}, key=int)
    chosen = max(inputs, key=lambda k: inputs[k]["seeds"]["0"]["val"])
    header = ["input (`thermcli train` options)", "validation (02 + 07), seed 0", "test (04 + 06), seed 0"]
    if len(seeds) > 1:
        header += [f"test, seeds {' / '.join(seeds)}", "mean ± sd"]
    rows = []
    import statistics

    for key, v in inputs.items():
        val, test = v["seeds"]["0"]["val"], v["seeds"]["0"]["test"]
        bold = key == chosen
        row = [f"`{v['options']}`" + (" (**chosen on validation**)" if bold else ""),
               f"**{val:.3f}**" if bold else f"{val:.3f}", f"**{test:.3f}**" if bold else f"{test:.3f}"]
        if len(seeds) > 1:
            tests = [v["seeds"][s]["test"] for s in seeds if s in v["seeds"]]
            row += [" / ".join(f"{x:.3f}" for x in tests), f"{statistics.mean(tests):.3f} ± {statistics.stdev(tests):.3f}"]
        rows.append(row)
    any_row = next(iter(inputs.values()))
    support = any_row["support"]
    c = inputs[chosen]["seeds"]["0"]
    best_test = max(inputs, key=lambda k: inputs[k]["seeds"]["0"]["test"])
    support_text = ", ".join(f"{n} {k}" for k, n in support.items())
    best_note = "" if best_test == chosen else (
        f" The best test score in the table ({inputs[best_test]['seeds']['0']['test']:.3f}, "
        f"`{inputs[best_test]['options']}`) is not a validated choice.")
    f48 = inputs.get("frames48c", {}).get("seeds", {}).get("0")
    f48_text = f"{f48['val']:.3f} / {f48['test']:.3f}" if f48 else "?"
    body = f"""
`examples/breathing-spirometry/run.sh OUT {record['epochs']}` builds an INH/EXH dataset from
`../shared/data/breathing-spirometry/` (`make_phase_dataset.py`: an 80×80 crop centred on each
segment's median mouth ROI — the mouthpiece — resized to 40×40, 8-bit intensity; the spirometer's
flow against its zero level gives the label, pauses are label −1 and not scored), splits it **by
segment** (`split --by sequence --seed 0`: train 00 01 03 05 08 09, validation 02 + 07, test
04 + 06 — {any_row['test_frames']} labelled test frames: {support_text}), and trains `small_cnn
--width 8` for each input ({record['epochs']} epochs, patience 5, batch 64, CPU, one thread; best
epoch by validation balanced accuracy). `run.sh` took {record['wall_seconds_run_sh']:.0f} s.

Balanced accuracy (INH/EXH):

{R.table(header, rows)}

**Reported result**, by the rule "choose on validation, look at the test once":
**{c['test']:.3f}** on the two unseen segments (`{inputs[chosen]['options']}`, validation
{c['val']:.3f}).{best_note}

Caveats:

- Ten segments of one person: training sees 6 recordings, validation 2. Two validation segments
  cannot rank configurations whose test scores differ by several points, and the training seed
  alone moves the test score by several points (`--seeds 1,2` measures it).
- Single runs on this data do not reproduce from one machine or session to the next: for
  `--frames 48` centred the README reported validation 0.801 / test 0.758, issue 17 got
  0.754 / 0.857 from the same `run.sh`, and this run gives {f48_text}; the validated choice
  moves between the 32- and 48-frame windows with it. Read the test column as ±0.1.
- The video is display intensity with its own gain, not °C; the thermal response lags the flow by
  1–7 frames, so centred windows see both sides of a transition.
- The model-free baseline on the same test segments, `thermcli roi --signal breathing --phase
  level` on the mouth ROI, is on the [respiration page](respiration.md).
"""
    R.write_page(record, "Breathing phase on real data (`examples/breathing-spirometry/`)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only re-render the page from its record")
    parser.add_argument("--seeds", default="", help="extra training seeds, e.g. 1,2")
    args = parser.parse_args()
    if args.render:
        record = R.load_record(NAME)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            record = measure(Path(tmp), [int(s) for s in args.seeds.split(",") if s.strip()])
        R.save_record(record)
    render(record)


if __name__ == "__main__":
    main()
