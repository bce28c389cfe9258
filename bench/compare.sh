#!/usr/bin/env bash
# The same load against the emulator direct, through a plain nginx reverse proxy and through
# `strata serve`, side by side, with the ratios strata / nginx:
#   - Bedrock Converse and ConverseStream (the gateway re-signs and relays; nginx forwards bytes);
#   - the OpenAI API (`/v1/chat/completions`, plain and `stream: true`) against an
#     OpenAI-compatible upstream — the emulator's OpenAI-compatible mode — with the gateway's
#     provider pass-through beside nginx proxying the same upstream;
#   - tenants governed: Converse for a tenant with RPM, TPM and budget limits (usage records on),
#     beside the same call for a tenant without any through a gateway that keeps no usage
#     records (`usage: {records: false}`), and beside the ungoverned tenant on the gateway with
#     records (limits alone); then the governed call
#     through a second gateway whose limits are shared in Redis (127.0.0.1:6379 unless
#     REDIS_URL): its Redis commands per request, and the p50 it adds at a constant 500
#     requests/s (`strata bench --rate`, open loop) over the locally governed gateway.
# Each path: wrk (1 thread, closed loop) for a short warm-up, then DURATION seconds measured;
# throughput, latency (wrk's p50 / p99 at saturation) and the CPU time per request of the process
# under test (the proxy, or the emulator when called directly), read from /proc.
# The proxy under test (gateway or nginx) gets core 1; the emulator and wrk share core 0.
# The machine (nproc, CPU model, kernel) is printed first.
# Needs: cargo build --release -p strata, wrk and nginx (apt-get install wrk nginx), curl, bc.
# Usage: bench/compare.sh [duration_seconds] [connections]
#        STRATA_BIN picks the binary (default target/release/strata, or $CARGO_TARGET_DIR's).
#        ONLY="Converse|OpenAI chat" measures the APIs whose name matches (an extended regex);
#        GOVERNANCE=0 skips the tenants-governed rows.
# On a shared machine run it under `nice -n -5` and say so when quoting the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNECTIONS="${2:-32}"
WARMUP="${WARMUP:-1}"
BIN="${STRATA_BIN:-${CARGO_TARGET_DIR:-target}/release/strata}"
SIM_PORT="${SIM_PORT:-4611}"; GW_PORT="${GW_PORT:-8611}"; NGINX_PORT="${NGINX_PORT:-8612}"; SHARED_PORT="${SHARED_PORT:-8613}"; BARE_PORT="${BARE_PORT:-8614}"
ONLY="${ONLY:-.}"; GOVERNANCE="${GOVERNANCE:-1}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
WORK=$(mktemp -d)
[ -x "$BIN" ] || { echo "build first: cargo build --release -p strata (or set STRATA_BIN)" >&2; exit 1; }
for tool in wrk nginx curl bc; do command -v $tool >/dev/null || { echo "install $tool: apt-get install $tool" >&2; exit 1; }; done

source bench/lib.sh   # (the script has cd-ed to the repository root)

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r)"
echo "== $(date -u +%F), $BIN, wrk 1 thread, $CONNECTIONS connections, ${WARMUP}s warm-up + ${DURATION}s per path"

taskset -c 0 "$BIN" sim --listen "127.0.0.1:$SIM_PORT" --zero-latency --threads 1 2>"$WORK/sim.log" & PIDS+=($!); SIM_PID=$!
wait_for "http://127.0.0.1:$SIM_PORT/_sim/health"
# Raise the quota so every path measures the proxies, not the emulator's throttling (the
# OpenAI-compatible mode applies no quotas).
raise_quota "$SIM_PORT"

bench_gateway_yaml "$SIM_PORT" > "$WORK/gateway.yaml"
taskset -c 1 "$BIN" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" & PIDS+=($!); GW_PID=$!
wait_for "http://127.0.0.1:$GW_PORT/health"
SHARED_PID=; BARE_PID=
if [ "$GOVERNANCE" = 1 ]; then
  bench_gateway_yaml "$SIM_PORT" "usage: {records: false}" > "$WORK/bare.yaml"
  taskset -c 1 "$BIN" serve --config "$WORK/bare.yaml" --listen "127.0.0.1:$BARE_PORT" 2>"$WORK/bare.log" & PIDS+=($!); BARE_PID=$!
  wait_for "http://127.0.0.1:$BARE_PORT/health"
  namespace="strata-bench-$$"
  bench_gateway_yaml "$SIM_PORT" "shared: {redis_url: \"$REDIS_URL\", namespace: $namespace}" > "$WORK/shared.yaml"
  taskset -c 1 "$BIN" serve --config "$WORK/shared.yaml" --listen "127.0.0.1:$SHARED_PORT" 2>"$WORK/shared.log" & PIDS+=($!); SHARED_PID=$!
  wait_for "http://127.0.0.1:$SHARED_PORT/health"
fi

start_nginx "$NGINX_PORT" "$SIM_PORT"
pid_of_port() { case $1 in "$SIM_PORT") echo "$SIM_PID";; "$GW_PORT") echo "$GW_PID";; "$SHARED_PORT") echo "$SHARED_PID";; "$BARE_PORT") echo "$BARE_PID";; *) echo "$NGINX_PID";; esac; }

CONVERSE='{"messages":[{"role":"user","content":[{"text":"benchmark request"}]}],"inferenceConfig":{"maxTokens":64}}'
chat() { # model stream
  echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"benchmark request\"}],\"max_tokens\":64,\"stream\":$2}"
}
DIRECT=/model/amazon.nova-pro-v1%3A0
# api | who | port | path | key | body
PATHS="\
Converse|emulator|$SIM_PORT|$DIRECT/converse|$SIM_KEY|$CONVERSE
Converse|nginx|$NGINX_PORT|$DIRECT/converse|$SIM_KEY|$CONVERSE
Converse|strata|$GW_PORT|/model/nova/converse|$GW_KEY|$CONVERSE
ConverseStream|emulator|$SIM_PORT|$DIRECT/converse-stream|$SIM_KEY|$CONVERSE
ConverseStream|nginx|$NGINX_PORT|$DIRECT/converse-stream|$SIM_KEY|$CONVERSE
ConverseStream|strata|$GW_PORT|/model/nova/converse-stream|$GW_KEY|$CONVERSE
OpenAI chat|emulator|$SIM_PORT|/v1/chat/completions|$SIM_KEY|$(chat amazon.nova-pro-v1:0 false)
OpenAI chat|nginx|$NGINX_PORT|/v1/chat/completions|$SIM_KEY|$(chat amazon.nova-pro-v1:0 false)
OpenAI chat|strata|$GW_PORT|/v1/chat/completions|$GW_KEY|$(chat nova-openai false)
OpenAI chat stream|emulator|$SIM_PORT|/v1/chat/completions|$SIM_KEY|$(chat amazon.nova-pro-v1:0 true)
OpenAI chat stream|nginx|$NGINX_PORT|/v1/chat/completions|$SIM_KEY|$(chat amazon.nova-pro-v1:0 true)
OpenAI chat stream|strata|$GW_PORT|/v1/chat/completions|$GW_KEY|$(chat nova-openai true)"
if [ "$GOVERNANCE" = 1 ]; then
  PATHS="$PATHS
Converse ungoverned|no-records|$BARE_PORT|/model/nova/converse|$GW_KEY|$CONVERSE
Converse governed|strata|$GW_PORT|/model/nova/converse|$GOV_KEY|$CONVERSE
Converse governed|strata+redis|$SHARED_PORT|/model/nova/converse|$GOV_KEY|$CONVERSE"
fi

# Converts wrk's "1.23ms" / "456.00us" / "1.2s" to milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

measure() { # api who port path key body -> "rate p50_ms p99_ms cpu_us user_pct errors"
  cat > "$WORK/req.lua" <<LUA
wrk.method = "POST"
wrk.path = "$4"
wrk.body = '$6'
wrk.headers["Authorization"] = "Bearer $5"
wrk.headers["Content-Type"] = "application/json"
LUA
  # The answer must be a 2xx before it is worth timing.
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$3$4" \
    -H "authorization: Bearer $5" -H 'content-type: application/json' -d "$6")
  [ "$code" = 200 ] || { echo "$1 via $2: HTTP $code (see $WORK/*.log)" >&2; exit 1; }
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$WORK/req.lua" "http://127.0.0.1:$3" >/dev/null
  local pid t0 t1 u0 u1 out n; pid=$(pid_of_port "$3"); t0=$(ticks "$pid"); u0=$(user_ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/req.lua" "http://127.0.0.1:$3")
  t1=$(ticks "$pid"); u1=$(user_ticks "$pid"); n=$(awk '/requests in/ {print $1}' <<< "$out")
  local errors; errors=$(grep -E 'Non-2xx|Socket errors' <<< "$out" | tr -s ' ' | tr '\n' ' ' || true)
  echo "$(awk '/Requests\/sec/ {print $2}' <<< "$out") $(to_ms "$(awk '$1=="50%" {print $2}' <<< "$out")") \
$(to_ms "$(awk '$1=="99%" {print $2}' <<< "$out")") $(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l) \
$(echo "100 * ($u1 - $u0) / ($t1 - $t0)" | bc -l) ${errors:-}"
}

declare -A RESULT
printf '\n%-20s %-9s %12s %9s %9s %12s %7s  %s\n' "api" "path" "req/s" "p50 ms" "p99 ms" "cpu/req us" "user %" "errors"
# Redis calls the gateway made: its scripts (EVAL/EVALSHA; the commands a script runs inside Redis
# are counted apart by Redis and are not round trips) and any plain command of its own.
redis_calls() {
  redis-cli -u "$REDIS_URL" info commandstats \
    | awk -F'[:=,]' '/^cmdstat_(eval|evalsha|evalsha_ro|eval_ro|fcall|script|ping|get|set)[:]/ {n += $3} END {print n + 0}'
}
while IFS='|' read -r api who port path key body; do
  [[ "$api" =~ $ONLY ]] || continue
  [ "$who" = strata+redis ] && calls0=$(redis_calls)
  r=$(measure "$api" "$who" "$port" "$path" "$key" "$body")
  RESULT["$api|$who"]="$r"
  if [ "$who" = strata+redis ]; then
    # Redis calls of the shared gateway during warm-up and measurement, per request.
    read -r rate _ <<< "$r"
    REDIS_PER_REQUEST=$(echo "($(redis_calls) - $calls0) / ($rate * ($DURATION + $WARMUP))" | bc -l)
  fi
  read -r rate p50 p99 cpu user rest <<< "$r"
  printf '%-20s %-9s %12.0f %9.3f %9.3f %12.1f %7.0f  %s\n' "$api" "$who" "$rate" "$p50" "$p99" "$cpu" "$user" "${rest:-}"
done <<< "$PATHS"

echo
echo "ratios strata / nginx (throughput: higher is better; CPU per request and p50: lower is better)"
printf '%-20s %12s %12s %9s %9s %9s   %s\n' "api" "req/s" "cpu/req" "user" "kernel" "p50" "target"
for api in "Converse" "ConverseStream" "OpenAI chat" "OpenAI chat stream"; do
  [ -n "${RESULT["$api|strata"]:-}" ] && [ -n "${RESULT["$api|nginx"]:-}" ] || continue
  read -r sr sp50 _ sc su _ <<< "${RESULT["$api|strata"]}"
  read -r nr np50 _ nc nu _ <<< "${RESULT["$api|nginx"]}"
  case $api in
    Converse|ConverseStream) target="cpu/req <= 1.25";;
    *) target="cpu/req <= 1.5, req/s >= 0.8";;
  esac
  # user / kernel: the CPU per request in user space and in the kernel, each strata / nginx.
  printf '%-20s %12.2f %12.2f %9.2f %9.2f %9.2f   %s\n' "$api" "$(echo "$sr / $nr" | bc -l)" "$(echo "$sc / $nc" | bc -l)" \
    "$(echo "($sc * $su) / ($nc * $nu)" | bc -l)" "$(echo "($sc * (100 - $su)) / ($nc * (100 - $nu))" | bc -l)" \
    "$(echo "$sp50 / $np50" | bc -l)" "$target"
done

if [ -n "${RESULT["Converse governed|strata"]:-}" ] && [ -n "${RESULT["Converse ungoverned|no-records"]:-}" ]; then
  read -r _ _ _ bare _ <<< "${RESULT["Converse ungoverned|no-records"]}"
  read -r _ _ _ governed _ <<< "${RESULT["Converse governed|strata"]}"
  echo
  echo "tenants governed (Converse): CPU per request governed (limits, usage records) / without either $(printf '%.2f' "$(echo "$governed / $bare" | bc -l)") (target <= 1.10)"
  if [ -n "${RESULT["Converse|strata"]:-}" ]; then
    read -r _ _ _ records _ <<< "${RESULT["Converse|strata"]}"
    echo "  of which limits alone (governed / ungoverned, both with records): $(printf '%.2f' "$(echo "$governed / $records" | bc -l)")"
  fi
fi
if [ -n "${RESULT["Converse governed|strata+redis"]:-}" ]; then
  printf 'limits shared in Redis: %.2f Redis calls per request (the reservation, with the settles queued since the last one riding on it)\n' "$REDIS_PER_REQUEST"
  p50_at_rate() { # port -> p50 ms of Converse at 500 requests/s for the governed tenant
    taskset -c 0 "$BIN" bench "http://127.0.0.1:$1/model/nova/converse" --rate 500 --duration "$DURATION" --warmup 1 \
      --threads 1 -H "authorization: Bearer $GOV_KEY" -H "content-type: application/json" --body "$CONVERSE" --json \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["p50"])'
  }
  local_p50=$(p50_at_rate "$GW_PORT"); shared_p50=$(p50_at_rate "$SHARED_PORT")
  printf 'p50 at 500 req/s: local limits %.3f ms, shared in Redis %.3f ms: Redis adds %.3f ms (target <= 0.3)\n' \
    "$local_p50" "$shared_p50" "$(echo "$shared_p50 - $local_p50" | bc -l)"
fi
