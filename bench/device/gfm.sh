#!/usr/bin/env bash
# GPU job of issue #13: GFM-RA pre-training on the streamed corpus, seven runs side by side.
#
#   bash bench/device/gfm.sh OUTDIR BUDGET_S        (from the repo root; DEVICE=cpu to try it here)
#
# Runs (each `rrm gfm pretrain`, one process, resumable, stopped by --time-limit):
#   u-world-switch  utility pre-training (ours), sum/pf/qos prompts, the whole world corpus
#   u-world-sum     the same, sum only
#   u-no-<family>   sum, leave one family (and its wide variant) out: the zero-shot study
#   ssl-world       the paper's self-supervised losses (Algorithm 1) on the world corpus
#   su-world        ssl for 40 % of the time (su-ssl), then utility (sum) on that backbone
# Then fine-tuning (FT_S seconds): D18 64-shot sum heads (utility init, scratch, ssl backbone) and
# D16-D20 2,048-shot heads (utility init, scratch, PCGNN; switch from the switchable run).
# Everything (checkpoints, resume states, logs) is packed into OUTDIR/gfm.tar.gz.
set -u
OUT=${1:?usage: gfm.sh OUTDIR BUDGET_S}
BUDGET=${2:?usage: gfm.sh OUTDIR BUDGET_S}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-40}          # planned epochs (the cosine decay spans them)
STEPS=${STEPS:-100}           # batches per epoch
BATCH=${BATCH:-128}
KR=${KR:-5-100}
WORKERS=${WORKERS:-2}         # generator processes per run
RUNS=${RUNS:-u-world-switch u-world-sum u-no-gaussian u-no-rayleigh u-no-itu u-no-catalog ssl-world su-world}
W=$OUT/gfm
mkdir -p "$W"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
START=$SECONDS

ALL=world
corpus_of() {
  case $1 in
    u-no-gaussian) echo catalog:0.3,rayleigh-ic:0.15,itu1411-d2d:0.15,rayleigh-ic-wide:0.125,itu1411-varied:0.125 ;;
    u-no-rayleigh) echo catalog:0.3,gaussian-ic:0.15,itu1411-d2d:0.15,itu1411-varied:0.125 ;;
    u-no-itu) echo catalog:0.3,rayleigh-ic:0.15,gaussian-ic:0.15,rayleigh-ic-wide:0.125 ;;
    u-no-catalog) echo rayleigh-ic:0.15,gaussian-ic:0.15,itu1411-d2d:0.15,rayleigh-ic-wide:0.125,itu1411-varied:0.125 ;;
    *) echo $ALL ;;
  esac
}

ssl_then_utility() {  # the paper's pre-training for 40 % of the time, then utility (sum) from it
  local ssl_limit=$((LIMIT * 40 / 100)) ssl_epochs=$((EPOCHS * 40 / 100))
  timeout $((LEFT - 15)) python3 -m rrm gfm pretrain --device "$DEVICE" --corpus world \
    --k-range "$KR" --epochs "$ssl_epochs" --steps-per-epoch "$STEPS" --batch-size "$BATCH" \
    --workers "$WORKERS" --edge-value-dim 4 --threads 1 --time-limit "$ssl_limit" \
    --log-every 1000000 --out "$W/su-ssl" > "$W/su-ssl.log" 2>&1
  echo "su-ssl rc=$?" >> "$W/rc.txt"
  timeout $((LEFT - 15 - (SECONDS - T0))) python3 -m rrm gfm pretrain --device "$DEVICE" \
    --corpus world --k-range "$KR" --epochs $((EPOCHS * 55 / 100)) --steps-per-epoch "$STEPS" \
    --batch-size "$BATCH" --workers "$WORKERS" --threads 1 --utility sum \
    --init-backbone "$W/su-ssl" --time-limit $((LIMIT - (SECONDS - T0))) --log-every 1000000 \
    --out "$W/su-world" > "$W/su-world.log" 2>&1
  echo "su-world rc=$?" >> "$W/rc.txt"
}

one() {
  local name=$1 extra
  [ "$name" = su-world ] && { ssl_then_utility; return; }
  case $name in
    u-world-switch) extra="--utility switch" ;;
    ssl-world) extra="" ;;
    *) extra="--utility sum" ;;
  esac
  timeout $((LEFT - 15)) python3 -m rrm gfm pretrain --device "$DEVICE" --corpus "$(corpus_of "$name")" \
    --k-range "$KR" --epochs "$EPOCHS" --steps-per-epoch "$STEPS" --batch-size "$BATCH" \
    --workers "$WORKERS" --edge-value-dim 4 --threads 1 --time-limit "$LIMIT" --log-every 1000000 \
    $extra --out "$W/$name" > "$W/$name.log" 2>&1
  echo "$name rc=$?" >> "$W/rc.txt"
}

pack() {  # resume states only where no final checkpoint was written (or to continue the world runs)
  for d in "$W"/*/; do
    case $(basename "$d") in u-world-switch|ssl-world|su-ssl) continue ;; esac
    [ -f "$d/model.safetensors" ] && rm -rf "$d/resume"
  done
  tar czf "$OUT/gfm.tar.gz" -C "$OUT" gfm
}
trap pack EXIT
{ nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$W/machine.txt" 2>&1
# throughput alone on the device first (3 epochs of TP_STEPS batches of 64 from the catalog;
# epoch 1 includes the workers' start): the GPU row of the table of #13; TP_STEPS=0 skips it
TP_STEPS=${TP_STEPS:-0}
if [ "$TP_STEPS" -gt 0 ]; then
  for mode in ssl utility; do
    flag=""; [ $mode = utility ] && flag="--utility sum"
    timeout 90 python3 -m rrm gfm pretrain --device "$DEVICE" --corpus catalog --epochs 3 \
      --steps-per-epoch "$TP_STEPS" --batch-size 64 --workers 4 --edge-value-dim 4 --threads 1 \
      $flag --out "$W/throughput-$mode" > "$W/throughput-$mode.log" 2>&1
  done
fi
FT_S=${FT_S:-150}             # seconds kept for the fine-tuning phase after pre-training
LEFT=$((BUDGET - (SECONDS - START) - FT_S))
LIMIT=$((LEFT * 85 / 100))  # each run stops after the epoch that passes this; the rest is margin
T0=$SECONDS
for name in $RUNS; do one "$name" & done
wait

# fine-tuning phase (FT_* scale it down for a try on the CPU): the shipped D18 64-shot heads
# and the D16-D20 2,048-shot comparison (utility init vs scratch vs PCGNN, same data and steps)
FT_SHOTS=${FT_SHOTS:-2048}; FT_EPOCHS=${FT_EPOCHS:-24}; FT_FEW=${FT_FEW:-64}
ft() {
  local name=$1; shift
  timeout $((BUDGET - (SECONDS - START) - 5)) python3 -m rrm gfm finetune --device "$DEVICE" \
    --threads 1 --eval-n 20 --out "$W/$name" "$@" > "$W/$name.log" 2>&1
  echo "$name rc=$?" >> "$W/rc.txt"
}
ft d18-64-utility --init "$W/u-world-sum" --catalog D18 --shots "$FT_FEW" --objective sum &
ft d18-64-scratch --edge-value-dim 4 --catalog D18 --shots "$FT_FEW" --objective sum &
ft d18-64-ssl --backbone "$W/ssl-world" --catalog D18 --shots "$FT_FEW" --objective sum &
for init in utility scratch pcgnn; do
  case $init in
    utility) from="--init $W/u-world-sum" ;;
    scratch) from="--edge-value-dim 4" ;;
    pcgnn) from="--arch pcgnn" ;;
  esac
  ft "d16-20-$FT_SHOTS-$init" $from --catalog D16-D20 --shots "$FT_SHOTS" --objective sum \
    --warmup-epochs 2 --epochs "$FT_EPOCHS" &
done
ft "d16-20-$FT_SHOTS-utility-switch" --init "$W/u-world-switch" --catalog D16-D20 \
  --shots "$FT_SHOTS" --objective switch --warmup-epochs 2 --epochs "$FT_EPOCHS" &
wait
