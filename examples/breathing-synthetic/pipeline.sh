#!/usr/bin/env bash
# The breathing-phase (INH/EXH) pipeline on the synthetic sample data, stage by stage, each stage
# evaluated on subjects it never saw. Usage:
#   examples/breathing-synthetic/pipeline.sh OUT_DIR [EPOCHS]
# Writes OUT_DIR/stages.json (balanced accuracy of every stage on the test subjects) and
# OUT_DIR/<stage>/ run folders. EPOCHS (default 30) bounds every training step; the demo uses fewer.
set -euo pipefail
OUT=${1:?usage: pipeline.sh OUT_DIR [EPOCHS]}
EPOCHS=${2:-30}
TC=${THERMCLI:-thermcli}
DATA=${DATA:-sample_data/breathing.h5}
SEED=${SEED:-0}
mkdir -p "$OUT"
run() { echo "+ $TC $*" >&2; $TC -q "$@"; }
# REUSE=1 keeps a step's existing output (to rerun only what follows a change)
have() { [ "${REUSE:-0}" = 1 ] && [ -e "$1" ]; }
common=(--epochs "$EPOCHS" --patience 6 --batch-size 64 --seed "$SEED" --device cpu --force)

# 1. group-aware split: 4 training subjects, 2 for validation, 2 never seen until the test
have "$OUT/split/test.h5" || run split "$DATA" "$OUT/split" --by subject --fractions 0.5,0.25,0.25 --seed "$SEED" --force
S=$OUT/split

# 2. baseline: a small CNN from scratch on the training subjects
have "$OUT/baseline/best.pt" || run train "$S/train.h5" --val "$S/val.h5" --arch small_cnn --width 8 --out "$OUT/baseline" "${common[@]}"

# 3. transfer: a wider CNN pretrained on a different, larger population (8 other subjects,
#    `synth --seed 101`), then fine-tuned on the training subjects with gradual unfreezing.
#    (ImageNet weights would play this role with --weights imagenet; they are not downloadable here.)
have "$OUT/source.h5" || run synth breathing "$OUT/source.h5" --seed $((SEED + 101)) --scale "${SOURCE_SCALE:-2}" --force
have "$OUT/source/best.pt" || run train "$OUT/source.h5" --val "$S/val.h5" --arch small_cnn --width 16 --out "$OUT/source" "${common[@]}"
have "$OUT/transfer/best.pt" || run train "$S/train.h5" --val "$S/val.h5" --arch small_cnn --width 16 --weights "$OUT/source/best.pt" \
    --finetune gradual:2 --lr 3e-4 --out "$OUT/transfer" "${common[@]}"

# 4. + thresholding: every training frame plus three binary-threshold copies of it (levels 50, 150,
#    250 of the frame's 1–99 % window; pixels below the level set to the window's floor;
#    --keep-original keeps the frame itself, so the copies enlarge the data rather than replace it),
#    then one augmented copy of each (rotation, shift, flip, °C offset, sensor noise) kept beside it:
#    8 frames per frame
have "$OUT/thr.h5" || run threshold --method binary --range 50:250:100 --keep-original "$S/train.h5" "$OUT/thr.h5" --force
have "$OUT/train_plus.h5" || run augment --copies 1 --keep-original --seed "$SEED" --rotate 8 --translate 0.08 \
    --offset 0.5 --noise 40 --flip 0.5 "$OUT/thr.h5" "$OUT/train_plus.h5" --force
have "$OUT/thresholding/best.pt" || run train "$OUT/train_plus.h5" --val "$S/val.h5" --arch small_cnn --width 16 --weights "$OUT/source/best.pt" \
    --finetune gradual:2 --lr 3e-4 --out "$OUT/thresholding" "${common[@]}"

# 5. + distillation: the fine-tuned wide CNN teaches a cheaper student (Hinton, T = 4, α = 0.7). The
#    student starts, like its teacher, from the source population (its own architecture pretrained
#    there: a student from scratch on 4 subjects stays near the baseline), then learns from the
#    teacher's soft targets and the labels on the thresholded + augmented training frames.
W=${STUDENT_WIDTH:-12}
have "$OUT/source_student/best.pt" || run train "$OUT/source.h5" --val "$S/val.h5" --arch small_cnn --width "$W" --out "$OUT/source_student" "${common[@]}"
have "$OUT/distillation/best.pt" || run distill "$OUT/train_plus.h5" --teacher "$OUT/thresholding/best.pt" --student small_cnn --width "$W" \
    --weights "$OUT/source_student/best.pt" --lr 3e-4 -T 4 --alpha 0.7 --val "$S/val.h5" --out "$OUT/distillation" "${common[@]}"

# 6. + contrastive: the same distillation with a contrastive term on the student's embeddings
have "$OUT/contrastive/best.pt" || run distill "$OUT/train_plus.h5" --teacher "$OUT/thresholding/best.pt" --student small_cnn --width "$W" \
    --weights "$OUT/source_student/best.pt" --lr 3e-4 -T 4 --alpha 0.7 --contrastive-weight 0.3 --margin 1.0 --val "$S/val.h5" \
    --out "$OUT/contrastive" "${common[@]}"

# 7. + ensemble: SVM + random forest on the contrastive student's embeddings, soft-voting with the
#    student's own softmax; the SVM's C and the three weights chosen on the validation subjects
have "$OUT/ensemble/ensemble.skops" || run train "$OUT/train_plus.h5" --val "$S/val.h5" --head svm+rf --features "$OUT/contrastive/best.pt" \
    --trees 200 --seed "$SEED" --out "$OUT/ensemble" --force

# every stage on the test subjects
for stage in baseline transfer thresholding distillation contrastive; do
    run eval "$OUT/$stage/best.pt" "$S/test.h5" --output "$OUT/$stage/test_metrics.json" --force
done
run eval "$OUT/ensemble/ensemble.skops" "$S/test.h5" --output "$OUT/ensemble/test_metrics.json" --force
run eval "$OUT/contrastive/best.pt" "$S/test.h5" --metric cost --repeats 10 --output "$OUT/contrastive/cost.json" --force
run eval "$OUT/thresholding/best.pt" "$S/test.h5" --metric cost --repeats 10 --output "$OUT/thresholding/cost.json" --force

${PYTHON:-python} - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = []
for stage in ("baseline", "transfer", "thresholding", "distillation", "contrastive", "ensemble"):
    m = json.loads((out / stage / "test_metrics.json").read_text())["metrics"]["classification"]
    rows.append({"stage": stage, "balanced_accuracy": m["balanced_accuracy"], "accuracy": m["accuracy"],
                 "f1_macro": m["f1"]["macro"], "test_frames": m["n"]})
cost = {s: json.loads((out / s / "cost.json").read_text())["metrics"]["cost"] for s in ("thresholding", "contrastive")}
ens = json.loads((out / "ensemble" / "ensemble.json").read_text())
doc = {"stages": rows, "ensemble": {"weights": ens["weights"], "svm_c": ens["svm_c"], "validation": ens["validation"]},
       "cost": {s: {"params": c["params"]["total"], "flops": c["flops"], "latency_ms": c["latency_ms"]}
                                for s, c in cost.items()}}
(out / "stages.json").write_text(json.dumps(doc, indent=2) + "\n")
for r in rows:
    print(f"{r['stage']:14s} balanced accuracy {r['balanced_accuracy']:.4f}  accuracy {r['accuracy']:.4f}  (n={r['test_frames']})")
PY
