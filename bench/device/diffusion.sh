#!/usr/bin/env bash
# Issue #15 GPU job: N = 400 expert data (+ its feasibility check) and a first U-GNN model.
#
#   bash bench/device/diffusion.sh OUTDIR BUDGET_S     (from the repo root; DEVICE=cpu to test)
#
# Stops by itself within BUDGET_S seconds of wall time and always writes
# OUTDIR/diffusion.tar.gz (<= 15 MiB): log.txt, expert.json, data/part-*/ (compact
# density-*.npz + config.json), train/checkpoint/ (the model), train/resume/.
set -u
OUT=${1:?usage: diffusion.sh OUTDIR BUDGET_S}
BUDGET=${2:?usage: diffusion.sh OUTDIR BUDGET_S}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
EXTRA=${DIFFUSION_ARGS:-}  # e.g. "--pairs 20 --networks 4 --parts 2" for a CPU test
WORK="$OUT/diffusion"
TAR="$OUT/diffusion.tar.gz"
LIMIT_MIB=15
STARTED=$(date +%s.%N)
mkdir -p "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=4 MKL_NUM_THREADS=4

pack() {
    # a tar over the limit drops the resume state, then the data parts from the last
    (cd "$WORK" && tar -czf "$TAR" --exclude='*.tmp.npz' log.txt expert.json data train \
        2>/dev/null)
    local drop
    for drop in train/resume $(ls -d "$WORK"/data/part-* 2>/dev/null | sort -r | sed "s|$WORK/||"); do
        [ "$(stat -c %s "$TAR")" -le $((LIMIT_MIB * 1048576)) ] && break
        echo "pack: over ${LIMIT_MIB} MiB, dropping $drop" >> "$WORK/log.txt"
        rm -rf "${WORK:?}/$drop"
        (cd "$WORK" && tar -czf "$TAR" --exclude='*.tmp.npz' log.txt expert.json data train \
            2>/dev/null)
    done
    ls -l "$TAR"
}
trap pack EXIT

{
    echo "diffusion job: device=$DEVICE budget=${BUDGET}s git=$(git rev-parse --short HEAD 2>/dev/null)"
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
} > "$WORK/log.txt"
# the script keeps to BUDGET - 20 s itself; timeout is the backstop, 10 s before the end
timeout -k 5 $((BUDGET - 10)) "$PY" bench/device/diffusion.py --out "$WORK" \
    --budget-s $((BUDGET - 20)) --started-at "$STARTED" --device "$DEVICE" $EXTRA >> "$WORK/log.txt" 2>&1
echo "exit status $?" >> "$WORK/log.txt"
