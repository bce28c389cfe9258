#!/usr/bin/env bash
# Emulator throughput: non-streaming Converse, zero-latency mode, the emulator pinned to ONE core
# (one worker thread, taskset core 0) and the load generator (wrk) on the other core.
# Needs: a release build (cargo build --release), wrk (apt-get install wrk), python3 with botocore.
# Usage: bench/sim_throughput.sh [duration_seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
PORT="${PORT:-4599}"
BIN="${STRATA_BIN:-target/release/strata}"
PY="${PYTHON:-python3}"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }

taskset -c 0 "$BIN" sim --listen "127.0.0.1:$PORT" --zero-latency --threads 1 2>/tmp/strata-sim-bench.log &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_sim/health" >/dev/null && break; sleep 0.1; done

SCRIPT=$(mktemp --suffix=.lua)
"$PY" bench/sign_request.py "http://127.0.0.1:$PORT" AKIAPRODUS0000000001 \
    prod-us-secret-key-0000000000000000000001 us-east-1 amazon.nova-pro-v1:0 > "$SCRIPT"
# Raise the quota so the benchmark measures the emulator, not its throttling.
curl -sf -X POST "http://127.0.0.1:$PORT/_sim/quotas" -H 'content-type: application/json' \
    -d '{"account":"prod-us","region":"us-east-1","model":"amazon.nova-pro-v1:0","rpm":100000000,"tpm":2000000000}' >/dev/null

echo "warm-up"; taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s -s "$SCRIPT" "http://127.0.0.1:$PORT" >/dev/null
echo "measure: ${DURATION}s, $CONNECTIONS connections, emulator on 1 core"
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$SCRIPT" "http://127.0.0.1:$PORT"
curl -s "http://127.0.0.1:$PORT/_sim/stats" | "$PY" -c 'import json,sys; s=json.load(sys.stdin); print("emulator counted", {(r["status"]): r["count"] for r in s["invocations"]})'
