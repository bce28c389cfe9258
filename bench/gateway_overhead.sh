#!/usr/bin/env bash
# Gateway overhead, with the emulator in zero-latency mode:
#  1. throughput at saturation (wrk, closed loop): the same request sent straight to the
#     emulator, through a plain nginx reverse proxy, and through `strata serve` — Bedrock-native
#     Converse and ConverseStream (byte forwarding, where nginx is a fair yardstick) — and the
#     OpenAI API (`/v1/chat/completions`, translated to Converse / ConverseStream) through the
#     gateway, compared with the emulator's own Converse / ConverseStream;
#  2. latency at a constant rate (`strata bench --rate`, open loop, each latency from the moment
#     the request was due) for the same paths; the gateway's added latency is its percentile
#     minus the emulator's.
# The proxy under test (gateway or nginx) gets core 1; the emulator and the load generator share
# core 0, identically for every path.
# Needs: cargo build --release -p strata, wrk and nginx (apt-get install wrk nginx).
# Usage: bench/gateway_overhead.sh [duration_seconds] [connections] [rate]
#        SECTIONS="throughput latency" (default both); STRATA_BIN / BENCH_BIN pick the binaries.
# On a shared machine, `nice -n -10 bench/gateway_overhead.sh …` keeps other tenants' jobs from
# dominating the tail percentiles (say so when quoting such figures).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
RATE="${3:-1000}"
SECTIONS="${SECTIONS:-throughput latency}"
REPEAT="${REPEAT:-1}"   # latency rounds over all paths, interleaved (tails are noisy on a shared machine)
BIN="${STRATA_BIN:-target/release/strata}"
BENCH_BIN="${BENCH_BIN:-$BIN}"   # the load generator (`strata bench`), to compare older gateway builds
SIM_PORT="${SIM_PORT:-4601}"; GW_PORT="${GW_PORT:-8601}"; NGINX_PORT="${NGINX_PORT:-8602}"
WORK=$(mktemp -d)
[ -x "$BIN" ] || { echo "build first: cargo build --release -p strata" >&2; exit 1; }
for tool in wrk nginx bc; do command -v $tool >/dev/null || { echo "install $tool: apt-get install $tool" >&2; exit 1; }; done

source bench/lib.sh   # (the script has cd-ed to the repository root)

taskset -c 0 "$BIN" sim --listen "127.0.0.1:$SIM_PORT" --zero-latency --threads 1 2>"$WORK/sim.log" & PIDS+=($!); SIM_PID=$!
wait_for "http://127.0.0.1:$SIM_PORT/_sim/health"
raise_quota "$SIM_PORT"

bench_gateway_yaml "$SIM_PORT" > "$WORK/gateway.yaml"
taskset -c 1 "$BIN" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" & PIDS+=($!); GW_PID=$!
wait_for "http://127.0.0.1:$GW_PORT/health"

start_nginx "$NGINX_PORT" "$SIM_PORT"
pid_of_port() { case $1 in $SIM_PORT) echo "$SIM_PID";; $GW_PORT) echo "$GW_PID";; *) echo "$NGINX_PID";; esac; }

CONVERSE='{"messages":[{"role":"user","content":[{"text":"benchmark request"}]}],"inferenceConfig":{"maxTokens":64}}'
CHAT='{"model":"nova","messages":[{"role":"user","content":"benchmark request"}],"max_tokens":64}'
CHAT_STREAM='{"model":"nova","messages":[{"role":"user","content":"benchmark request"}],"max_tokens":64,"stream":true}'
DIRECT=/model/amazon.nova-pro-v1%3A0
# name | port | path | key | body
PATHS="\
emulator direct, Converse|$SIM_PORT|$DIRECT/converse|$SIM_KEY|$CONVERSE
nginx, Converse|$NGINX_PORT|$DIRECT/converse|$SIM_KEY|$CONVERSE
gateway, Converse|$GW_PORT|/model/nova/converse|$GW_KEY|$CONVERSE
emulator direct, ConverseStream|$SIM_PORT|$DIRECT/converse-stream|$SIM_KEY|$CONVERSE
nginx, ConverseStream|$NGINX_PORT|$DIRECT/converse-stream|$SIM_KEY|$CONVERSE
gateway, ConverseStream|$GW_PORT|/model/nova/converse-stream|$GW_KEY|$CONVERSE
gateway, OpenAI chat -> Converse|$GW_PORT|/v1/chat/completions|$GW_KEY|$CHAT
gateway, OpenAI chat stream -> ConverseStream|$GW_PORT|/v1/chat/completions|$GW_KEY|$CHAT_STREAM"

each_path() { # callback
  while IFS='|' read -r name port path key body; do "$1" "$name" "$port" "$path" "$key" "$body"; done <<< "$PATHS"
}

throughput() { # name port path key body
  cat > "$WORK/req.lua" <<LUA
wrk.method = "POST"
wrk.path = "$3"
wrk.body = '$5'
wrk.headers["Authorization"] = "Bearer $4"
wrk.headers["Content-Type"] = "application/json"
LUA
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/req.lua" "http://127.0.0.1:$2" >/dev/null
  local pid t0 t1 out n; pid=$(pid_of_port "$2"); t0=$(ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/req.lua" "http://127.0.0.1:$2")
  t1=$(ticks "$pid"); n=$(awk '/requests in/ {print $1}' <<< "$out")
  CPU["$1"]=$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)
  RATE["$1"]=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
  # CPU per request of the process under test (the proxy, or the emulator when called directly):
  # steadier than the rate on a shared machine.
  printf '%-48s %10s req/s  p50 %8s  p99 %8s  cpu/req %5.1f us  %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<< "$out")" "$(awk '$1=="50%" {print $2}' <<< "$out")" \
    "$(awk '$1=="99%" {print $2}' <<< "$out")" "$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)" \
    "$(grep -E 'Non-2xx|Socket errors' <<< "$out" | tr -s ' ' | tr '\n' ' ')"
}

latency() { # name port path key body
  local out
  out=$(taskset -c 0 "$BENCH_BIN" bench "http://127.0.0.1:$2$3" --rate "$RATE" --duration "$DURATION" --warmup 2 \
    --threads 1 -H "authorization: Bearer $4" -H "content-type: application/json" --body "$5" --json)
  python3 -c 'import json,sys
r=json.loads(sys.argv[2]); l=r["latency_ms"]; f=r["first_byte_ms"]; rate=r["throughput"]
errs=r["status_errors"]+r["transport_errors"]+r["timeouts"]+r["shed"]
print("%-48s %7.0f req/s  p50 %6.3f  p90 %6.3f  p99 %6.3f  p99.9 %6.3f ms  first byte p50 %6.3f  p99 %6.3f ms  errors %d"
      % (sys.argv[1], rate, l["p50"], l["p90"], l["p99"], l["p999"], f["p50"], f["p99"], errs))' "$1" "$out"
}

if [[ " $SECTIONS " == *" throughput "* ]]; then
  echo "== throughput at saturation: wrk, 1 thread, $CONNECTIONS connections, ${DURATION}s"
  declare -A CPU RATE
  each_path throughput
  echo "== gateway / nginx on the same path (CPU per request: target <= 1.25; throughput)"
  for api in Converse ConverseStream; do
    printf '%-16s cpu/req %5.2f   req/s %5.2f\n' "$api" \
      "$(echo "${CPU["gateway, $api"]} / ${CPU["nginx, $api"]}" | bc -l)" \
      "$(echo "${RATE["gateway, $api"]} / ${RATE["nginx, $api"]}" | bc -l)"
  done
fi
if [[ " $SECTIONS " == *" latency "* ]]; then
  for round in $(seq "$REPEAT"); do
    echo "== latency at $RATE req/s, open loop (from each request's due time): strata bench, ${DURATION}s, round $round"
    each_path latency
  done
fi
