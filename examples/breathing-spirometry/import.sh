#!/usr/bin/env bash
# Import the real breathing-spirometry recordings (../shared/data/breathing-spirometry) into one
# dataset: one row per video frame (320x240 8-bit intensity, 20 fps timestamps), the spirometer
# signals attached as columns/flow, columns/volume, columns/position_x, columns/position_y,
# columns/radius, columns/average (NaN rows kept as NaN), subject = sequence = segment id (00..09).
#
# Each NNdata.txt holds one row more than NNvid.mp4 has frames (a trailing NaN row):
# --extra-rows drops it, with a warning.
#
# usage: examples/breathing-spirometry/import.sh [DATA_DIR] [OUT]
#   DATA_DIR defaults to ../shared/data/breathing-spirometry, OUT to breathing-spirometry.h5
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${1:-$repo/../shared/data/breathing-spirometry}"
out="${2:-breathing-spirometry.h5}"
thermcli="${THERMCLI:-thermcli}"  # e.g. THERMCLI=".venv/bin/python -m thermcli"

videos=()
signals=()
for video in "$data"/[0-9][0-9]vid.mp4; do
    segment="$(basename "$video" vid.mp4)"
    videos+=("$video")
    signals+=(--signals "$data/${segment}data.txt")
done

$thermcli import "${videos[@]}" "$out" "${signals[@]}" --extra-rows \
    --subject-regex '([0-9]+)vid\.mp4$' --sequence-regex '([0-9]+)vid\.mp4$' --force
