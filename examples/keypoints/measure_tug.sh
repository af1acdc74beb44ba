#!/usr/bin/env bash
# The pose paper's comparison on the tug sample generator, subjects split train/val/test:
#   RGB teacher (RGB labels) → thermal student distilled with β = 0.4 and no thermal labels,
#   vs (a) the same student supervised on thermal labels, (b) the teacher on thermal frames,
#   plus the β sweep 0, 0.1, 0.4, 0.7, 1.0 (one command, cached teacher outputs).
# CPU sizes (crops 64x48, 32 subjects); for the paper's sizes use --input-size 256x192 and --scale 16+.
# Usage: [SEEDS="1 2"] [ABLATION=1] examples/keypoints/measure_tug.sh [WORK_DIR] [EPOCHS]
set -euo pipefail
W=${1:-/tmp/thermcli-keypoints}
EPOCHS=${2:-40}
T="python -m thermcli"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$W"
SIZE=64x48
[ -e "$W/tug/thermal.h5" ] || $T synth tug "$W/tug" --scale 8 --seed 1
[ -e "$W/pairs.h5" ] || python examples/keypoints/pair_tug.py "$W/tug" "$W/pairs.h5" --upscale 2
[ -e "$W/split/test.h5" ] || $T split "$W/pairs.h5" "$W/split" --by subject \
    --val s21,s22,s23,s24 --test s25,s26,s27,s28,s29,s30,s31,s32 --force
# RGB teacher on RGB crops with RGB-side labels: 40 epochs, then resumed to 80 (the measured run)
$T train "$W/split/train.h5" --val "$W/split/val.h5" --task keypoints --side rgb --arch mobilenet_v3_small \
    --input-size $SIZE --sigma 1.5 --epochs "$EPOCHS" --batch-size 32 --lr 2e-3 --patience 10 --device cpu \
    --out "$W/teacher" --force
rm -rf "$W/teacher80" && cp -r "$W/teacher" "$W/teacher80"
$T train "$W/split/train.h5" --val "$W/split/val.h5" --task keypoints --side rgb --arch mobilenet_v3_small \
    --input-size $SIZE --sigma 1.5 --epochs $((2 * EPOCHS)) --batch-size 32 --lr 2e-3 --patience 10 --device cpu \
    --out "$W/teacher80" --resume
python examples/keypoints/teacher_rgb_ap.py "$W/teacher80/best.pt" "$W/split/test.h5" > "$W/teacher_on_rgb.json"
# (b) the teacher applied to thermal frames directly
$T eval "$W/teacher80/best.pt" "$W/split/test.h5" --metric oks --output "$W/teacher_on_thermal.json" --force
# (a) the same student supervised on thermal labels
$T train "$W/split/train.h5" --val "$W/split/val.h5" --task keypoints --side frames --arch mobilenet_v3_small \
    --input-size $SIZE --sigma 1.5 --epochs "$EPOCHS" --batch-size 32 --lr 2e-3 --patience 10 --device cpu \
    --out "$W/supervised" --force
$T eval "$W/supervised/best.pt" "$W/split/test.h5" --metric oks --output "$W/supervised.json" --force
# the β sweep, one command: one student per β, teacher outputs cached once on the plain crop + 7
# augmented crops of each pair; the student = MobileNetV3-Small + a learned 1×1 adapter into the
# teacher's latent space (--adapter, the default) + the teacher's frozen decoder. Its β = 0.4 run is
# the distilled student of the comparison (no thermal labels; selected by the validation distillation loss).
$T distill "$W/split/train.h5" --task keypoints --teacher "$W/teacher80/best.pt" --student mobilenet_v3_small \
    --beta 0,0.1,0.4,0.7,1.0 --target teacher --teacher-copies 8 --epochs "$EPOCHS" --batch-size 32 --lr 2e-3 \
    --patience 10 --device cpu --cache "$W/teacher_cache.h5" --test "$W/split/test.h5" --out "$W/sweep" --force
$T eval "$W/sweep/beta_0.4/best.pt" "$W/split/test.h5" --metric oks --output "$W/distilled.json" --force
# the headline distilled student: the same β = 0.4 run given 80 epochs (early stopping on the
# validation distillation loss; --test val.h5 prints the validation subjects' AP, the test subjects stay unseen)
$T distill "$W/split/train.h5" --task keypoints --teacher "$W/teacher80/best.pt" --student mobilenet_v3_small \
    --beta 0.4 --target teacher --teacher-copies 8 --epochs $((2 * EPOCHS)) --batch-size 32 --lr 2e-3 --patience 10 \
    --device cpu --cache "$W/teacher_cache.h5" --test "$W/split/val.h5" --out "$W/distilled80" --force
$T eval "$W/distilled80/best.pt" "$W/split/test.h5" --metric oks --output "$W/distilled80.json" --force
# more seeds of the headline run (SEEDS="1 2"; each seed draws its own augmented crops: its own cache)
for s in ${SEEDS:-}; do
    $T distill "$W/split/train.h5" --task keypoints --teacher "$W/teacher80/best.pt" --student mobilenet_v3_small \
        --beta 0.4 --target teacher --teacher-copies 8 --epochs $((2 * EPOCHS)) --batch-size 32 --lr 2e-3 --patience 10 \
        --device cpu --seed "$s" --cache "$W/teacher_cache_seed$s.h5" --test "$W/split/val.h5" --out "$W/distilled80_seed$s" --force
    $T eval "$W/distilled80_seed$s/best.pt" "$W/split/test.h5" --metric oks --output "$W/distilled80_seed$s.json" --force
done
$T eval "$W/distilled80/best.pt" --metric cost --output "$W/distilled_cost.json" --force --repeats 5 --warmup 1
# How the distillation options were chosen: β = 0.4 students scored on the VALIDATION subjects
# (s21–s24, never the test subjects): --no-adapter, the adapter, + --latent-norm channel, + --map-weight 10.
if [ "${ABLATION:-0}" = 1 ]; then
    for cfg in "no_adapter --no-adapter" "adapter --adapter" "channel_norm --latent-norm channel" "map10 --map-weight 10"; do
        set -- $cfg
        name=$1; shift
        $T distill "$W/split/train.h5" --task keypoints --teacher "$W/teacher80/best.pt" --student mobilenet_v3_small \
            --beta 0.4 --target teacher --teacher-copies 8 --epochs "$EPOCHS" --batch-size 32 --lr 2e-3 --patience 10 \
            --device cpu --cache "$W/teacher_cache.h5" --test "$W/split/val.h5" --out "$W/ablation/$name" --force "$@"
    done
fi
python - "$W" <<'PY'
import json, sys
w = sys.argv[1]
rows = {name: json.load(open(f"{w}/{name}.json"))["metrics"]["oks"] for name in ("distilled80", "distilled", "supervised", "teacher_on_thermal")}
for name, r in rows.items():
    print(f"{name:20s} AP {r['AP']:.3f}  AP50 {r['AP50']:.3f}  AP75 {r['AP75']:.3f}  AR {r['AR']:.3f}  px {r['mean_pixel_error']:.2f}")
PY
