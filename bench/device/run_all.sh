#!/usr/bin/env bash
# One call on the GPU machine: install the carried wheels, run job scripts side by side.
#
#   bash bench/device/run_all.sh OUTDIR BUDGET_S JOB...     (JOB: gfm, egat, diffusion ...)
#
# Each bench/device/JOB.sh gets OUTDIR and BUDGET_S, packs OUTDIR/JOB.tar.gz itself, and its
# stdout/stderr go to OUTDIR/JOB.out. Wheels in .whl/ (structlog, pyzmq: not on that machine)
# are installed into /tmp/site first.
set -u
OUT=${1:?usage: run_all.sh OUTDIR BUDGET_S JOB...}
BUDGET=${2:?usage: run_all.sh OUTDIR BUDGET_S JOB...}
shift 2
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
for job in "$@"; do
  bash "bench/device/$job.sh" "$OUT" "$BUDGET" > "$OUT/$job.out" 2>&1 &
done
wait
ls -la "$OUT"
