#!/usr/bin/env bash
# EGAT training on one shared GPU (issue #16): four runs side by side, one CPU thread each.
#
#   bash bench/device/egat.sh OUTDIR BUDGET_S        (from the repo root; DEVICE=cpu to test)
#
# Recipe (CPU ablation, bench/results/egat-eval/ablation.md): fine-tune the shipped egat-small
# with a FIXED fronthaul penalty (--dual-lr 0 --mu-init 3 --margin 0, instead of dual ascent
# to mu ~ 20 with a 10 % margin) and keep the weights that score best as DEPLOYED (rate cap on,
# --val-rate-cap); batch 256 as the paper, plateau lr decay. Runs:
#   mix    one size-general model on the 7 sizes of Tables III-IV (items 1-2)
#   s8x4   the per-size model of Table II (B=8, K=4, C=40-90) and the 8x4 columns
#   k4     per-size models B=7,9,10 at K=4 (Table III), one after the other
#   b8     per-size models K=5,6,7 at B=8 (Table IV), one after the other
# Each run stops itself (--time-limit) before `timeout` would kill it; the pack step always
# runs and writes OUTDIR/egat.tar.gz: checkpoints (repo format), train logs, nvidia-smi, summary.
set -u
OUT=${1:?usage: egat.sh OUTDIR BUDGET_S}
BUDGET=${2:?usage: egat.sh OUTDIR BUDGET_S}
DEVICE=${DEVICE:-cuda}
MARGIN=${MARGIN:-0}
MU=${MU:-3}
BATCH=${BATCH:-256}
INIT=${INIT:-rrm/models/checkpoints/egat-small}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/egat.XXXX")
mkdir -p "$WORK/ckpt" "$WORK/logs"
START=$(date +%s)

pack() {
    nvidia-smi > "$WORK/logs/nvidia-smi.txt" 2>&1 || true
    {
        echo "device=$DEVICE budget_s=$BUDGET margin=$MARGIN mu=$MU batch=$BATCH init=$INIT"
        echo "git=$(git rev-parse HEAD 2>/dev/null) wall_s=$(( $(date +%s) - START ))"
        for c in "$WORK"/ckpt/*/; do
            [ -f "$c/metadata.json" ] && python3 - "$c" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/metadata.json"))
v = m["history"]["val_feasible_wsr"]
print(sys.argv[1].rstrip("/").rsplit("/", 1)[-1], "steps", m["steps_done"], "wall_s",
      m["wall_time_s"], "best_step", m["best_step"], "best_val", max(v) if v else None)
PY
        done
    } > "$WORK/logs/summary.txt" 2>&1
    rm -rf "$WORK"/ckpt/*.resume
    tar -czf "$OUT/egat.tar.gz" -C "$WORK" ckpt logs
    ls -la "$OUT/egat.tar.gz"
}
trap pack EXIT

# every run is killed at DEADLINE (the pack step gets the last PACK_S seconds); it stops
# itself SAVE_S seconds earlier (--stop-at: a Unix time, so a slow startup cannot overrun)
PACK_S=${PACK_S:-20}
SAVE_S=${SAVE_S:-30}
DEADLINE=$(( START + BUDGET - PACK_S ))

train() {  # NAME SECONDS EXTRA_ARGS... : one run within SECONDS of wall time from now
    local name=$1 wall=$2
    shift 2
    local stop_at=$(( $(date +%s) + wall - SAVE_S ))
    timeout --kill-after=5 "$wall" python3 -m rrm egat train \
        --out "$WORK/ckpt/$name" --init "$INIT" --power-control --device "$DEVICE" \
        --threads 1 --batch-size "$BATCH" --margin "$MARGIN" --dual-lr 0 --mu-init "$MU" \
        --lr 5e-4 --lr-patience 3 --val-rate-cap --steps 30000 --validate-every 200 \
        --stop-at "$stop_at" --seed 16 "$@" \
        >> "$WORK/logs/$name.log" 2>&1
    echo "$name rc=$?" >> "$WORK/logs/rc.txt"
}

seq_sizes() {  # GROUP SIZE... : per-size models one after the other, sharing the time left
    local group=$1
    shift
    local left=$#
    for size in "$@"; do
        train "$group-$size" $(( (DEADLINE - $(date +%s)) / left )) \
            --aps "${size%x*}" --ues "${size#*x}"
        left=$(( left - 1 ))
    done
}

LEFT=$(( DEADLINE - $(date +%s) ))
train mix "$LEFT" --sizes 7x4,8x4,9x4,10x4,8x5,8x6,8x7 &
train s8x4 "$LEFT" --aps 8 --ues 4 &
seq_sizes k4 7x4 9x4 10x4 &
seq_sizes b8 8x5 8x6 8x7 &
wait
