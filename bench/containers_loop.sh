#!/usr/bin/env bash
# The closed loop in two containers: the simulator and the xApp from one image, each
# with a read-only root, a non-root user and no capabilities; /ready and the metric are
# checked with the shipped checkpoints and with an empty checkpoint volume (WMMSE-only).
#   bench/containers_loop.sh [IMAGE]      (after `make image`; ENGINE=podman|docker)
# Prints one JSON line per check and writes bench/results/containers.md.
set -euo pipefail
IMAGE=${1:-rrm/rrm-xapp:0.1.0}
ENGINE=${ENGINE:-$(command -v podman || command -v docker)}
RUNTIME=${RUNTIME:-}           # e.g. runc where crun cannot run (cgroups v1 hybrid)
# e.g. "--ulimit nofile=4096:4096 --ulimit nproc=4096:4096" where the engine may not raise
# rlimits (no CAP_SYS_RESOURCE, as inside another container)
read -r -a RUN_OPTS <<< "${RUN_OPTS:-}"
E2_PORT=${E2_PORT:-50151}
HEALTH_PORT=${HEALTH_PORT:-18180}
OUT=$(dirname "$0")/results/containers.md
NAME=rrm-loop-$$
EMPTY=$(mktemp -d)
chmod 755 "$EMPTY"
HARDEN=(--rm -d --network host --read-only --user 10001:10001 --cap-drop=ALL
        --security-opt no-new-privileges --tmpfs /tmp:rw,size=64m
        ${RUNTIME:+--runtime "$RUNTIME"} "${RUN_OPTS[@]}")
cleanup() { "$ENGINE" rm -f "$NAME-sim" "$NAME-xapp" >/dev/null 2>&1 || true; rmdir "$EMPTY"; }
trap cleanup EXIT

ready() {  # ready() KEY -> prints the /ready body and the policy_loaded metric as JSON
  python3 - "$HEALTH_PORT" <<'PY'
import json, sys, time, urllib.error, urllib.request
port = sys.argv[1]
body, code = None, None
for _ in range(120):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ric/v1/health/ready", timeout=2) as r:
            code, body = r.status, json.loads(r.read())
        break
    except urllib.error.HTTPError as err:
        code, body = err.code, json.loads(err.read() or b"{}")
    except OSError:
        pass
    time.sleep(1)
metric = None
try:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    metric = [l for l in text.splitlines() if l.startswith("rrm_xapp_policy_loaded{")]
except OSError:
    pass
print(json.dumps({"http": code, "ready": body, "policy_loaded_metric": metric}))
PY
}

"$ENGINE" run "${HARDEN[@]}" --name "$NAME-sim" "$IMAGE" sim serve --host 127.0.0.1 \
  --port "$E2_PORT" --slot-ms 20 >/dev/null
results=()
for mode in shipped empty-volume; do
  extra=()
  [ "$mode" = empty-volume ] && extra=(-v "$EMPTY:/opt/rrm/checkpoints:ro")
  "$ENGINE" run "${HARDEN[@]}" "${extra[@]}" --name "$NAME-xapp" "$IMAGE" xapp run \
    --e2-address "127.0.0.1:$E2_PORT" --health-port "$HEALTH_PORT" --policy gfm >/dev/null
  sleep 3
  line=$(ready)
  echo "{\"mode\": \"$mode\", \"check\": $line}"
  results+=("| $mode | \`$line\` |")
  "$ENGINE" rm -f "$NAME-xapp" >/dev/null
done
size=$("$ENGINE" image inspect "$IMAGE" --format '{{.Size}}')
{
  echo "# The closed loop in two containers"
  echo
  echo "Command: \`RUNTIME=$RUNTIME RUN_OPTS='${RUN_OPTS[*]}' bench/containers_loop.sh $IMAGE\`" \
       "($(basename "$ENGINE"), $(date -u +%F)," \
       "the shared 2-core CPU). Both containers: --read-only, --user 10001:10001," \
       "--cap-drop=ALL, no-new-privileges, tmpfs /tmp, host network (loopback)."
  echo
  echo "Image \`$IMAGE\`: $((size / 1000000)) MB."
  echo
  echo "| xApp checkpoints | /ric/v1/health/ready and rrm_xapp_policy_loaded |"
  echo "|---|---|"
  printf '%s\n' "${results[@]}"
} > "$OUT"
cat "$OUT"
