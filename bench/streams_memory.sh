#!/usr/bin/env bash
# Memory and added time to first token with many streams open at once: N (default 1,000)
# concurrent OpenAI chat streams through `strata serve`, translated to ConverseStream, against the
# emulator with a paced answer (first token after TTFT_MS, then TOKENS_PER_SECOND), beside the
# same number of ConverseStream calls sent to the emulator directly.
# Prints the gateway's resident memory at rest and its peak (VmHWM) under the load, and the time
# to first byte (p50 / p90 / p99) direct and through the gateway; the *added* time to first token
# is the difference of the two percentiles.
# The gateway gets core 1; the emulator and the load generator (`strata bench`, closed loop, N
# workers) share core 0.
# Needs: cargo build --release -p strata, curl, python3.
# Usage: bench/streams_memory.sh [streams] [duration_seconds]
#        STRATA_BIN / BENCH_BIN pick the gateway and the load generator (default target/release/strata);
#        AWS_HTTP2='{calls: none}' (YAML: the gateway's aws.http2) sends its streams over HTTP/1.1.
#        GATEWAY_YAML adds top-level YAML to the gateway's config (`usage: {records: false}`);
#        NGINX=0 skips the yardstick rows (the same ConverseStream calls relayed by the gateway
#        and by a plain nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${1:-1000}"
DURATION="${2:-10}"
TTFT_MS="${TTFT_MS:-500}"; TOKENS_PER_SECOND="${TOKENS_PER_SECOND:-20}"; MAX_TOKENS="${MAX_TOKENS:-16}"
BIN="${STRATA_BIN:-${CARGO_TARGET_DIR:-target}/release/strata}"
BENCH_BIN="${BENCH_BIN:-$BIN}"
SIM_PORT="${SIM_PORT:-4621}"; GW_PORT="${GW_PORT:-8621}"
WORK=$(mktemp -d)
[ -x "$BIN" ] || { echo "build first: cargo build --release -p strata (or set STRATA_BIN)" >&2; exit 1; }
source bench/lib.sh   # (the script has cd-ed to the repository root)
# Each stream holds a socket on each side of the gateway, and the load generator one more.
ulimit -n "$(( STREAMS * 4 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r)"
echo "== $(date -u +%F), $BIN, $STREAMS concurrent streams, ${DURATION}s measured; answers: first token after ${TTFT_MS} ms, ${TOKENS_PER_SECOND} tokens/s, $MAX_TOKENS tokens${AWS_HTTP2:+; aws.http2: $AWS_HTTP2}"

# The built-in fleet with steady pacing (no jitter), so both sides see the same answers.
sed "s/^latency: .*/latency: {ttft_ms: $TTFT_MS, tokens_per_second: $TOKENS_PER_SECOND, jitter: 0}/" \
  crates/strata-sim/src/fleet/default_fleet.yaml > "$WORK/fleet.yaml"
taskset -c 0 "$BIN" sim --listen "127.0.0.1:$SIM_PORT" --fleet "$WORK/fleet.yaml" --threads 1 2>"$WORK/sim.log" & PIDS+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/_sim/health"
raise_quota "$SIM_PORT"

# The gateway's config: room for every stream's connection, then GATEWAY_YAML (top-level YAML; e.g.
# `usage: {records: false}`), if set.
GATEWAY_EXTRA="server: {max_connections: $(( STREAMS * 2 + 100 ))}"
[ -z "${GATEWAY_YAML:-}" ] || GATEWAY_EXTRA="$GATEWAY_EXTRA
$GATEWAY_YAML"
bench_gateway_yaml "$SIM_PORT" "$GATEWAY_EXTRA" > "$WORK/gateway.yaml"
taskset -c 1 "$BIN" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" & PIDS+=($!); GW_PID=$!
wait_for "http://127.0.0.1:$GW_PORT/health"

CONVERSE="{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"benchmark request\"}]}],\"inferenceConfig\":{\"maxTokens\":$MAX_TOKENS}}"
CHAT="{\"model\":\"nova\",\"messages\":[{\"role\":\"user\",\"content\":\"benchmark request\"}],\"max_tokens\":$MAX_TOKENS,\"stream\":true}"

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$GW_PID/status"; }
load() { # url key body -> the report as JSON
  taskset -c 0 "$BENCH_BIN" bench "$1" --concurrency "$STREAMS" --duration "$DURATION" --warmup 3 --threads 1 \
    -H "authorization: Bearer $2" -H "content-type: application/json" --body "$3" --json
}
# One call each way first, so the gateway's pools and caches are as they will be.
curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/v1/chat/completions" -H "authorization: Bearer $GW_KEY" \
  -H 'content-type: application/json' -d "$CHAT"
rest=$(kib VmRSS); rest_file=$(kib RssFile)
direct=$(load "http://127.0.0.1:$SIM_PORT/model/amazon.nova-pro-v1%3A0/converse-stream" "$SIM_KEY" "$CONVERSE")
# The peak split into heap (anonymous) and mapped code (file-backed), sampled during the load.
( while kill -0 "$GW_PID" 2>/dev/null; do echo "$(kib RssAnon) $(kib RssFile)"; sleep 0.2; done ) > "$WORK/rss" & SAMPLER=$!
through=$(load "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$GW_KEY" "$CHAT")
kill "$SAMPLER" 2>/dev/null || true
peak=$(kib VmHWM); after=$(kib VmRSS)
anon=$(sort -n "$WORK/rss" | tail -1 | cut -d' ' -f1); file=$(sort -n -k2 "$WORK/rss" | tail -1 | cut -d' ' -f2)
# The yardstick: the same ConverseStream calls relayed by the gateway and by a plain nginx (one
# worker on the gateway's core), so the added time to first token has a proxy hop to compare with.
relay='null'; nginx='null'
if [ "${NGINX:-1}" != 0 ]; then
  relay=$(load "http://127.0.0.1:$GW_PORT/model/nova/converse-stream" "$GW_KEY" "$CONVERSE")
  if command -v nginx >/dev/null; then
    NGINX_PORT=$(( GW_PORT + 1 ))
    start_nginx "$NGINX_PORT" "$SIM_PORT"
    nginx=$(load "http://127.0.0.1:$NGINX_PORT/model/amazon.nova-pro-v1%3A0/converse-stream" "$SIM_KEY" "$CONVERSE")
  else
    echo "(nginx not installed: no nginx row; apt-get install nginx-light)" >&2
  fi
fi

python3 - "$STREAMS" "$rest" "$peak" "$after" "$direct" "$through" "$rest_file" "$anon" "$file" "$relay" "$nginx" <<'PY'
import json, sys
streams, rest, peak, after = (int(x) for x in sys.argv[1:5])
direct, through = json.loads(sys.argv[5]), json.loads(sys.argv[6])
rest_file, anon, file = (int(x) for x in sys.argv[7:10])
relay, nginx = json.loads(sys.argv[10]), json.loads(sys.argv[11])
def errors(r):
    return r["status_errors"] + r["transport_errors"] + r["timeouts"] + r["shed"]
print(f"\ngateway resident memory: at rest {rest / 1024:.1f} MB, peak under load {peak / 1024:.1f} MB "
      f"({(peak - rest) / streams:.1f} KB per stream), after {after / 1024:.1f} MB")
print(f"  of which mapped code (file-backed): at rest {rest_file / 1024:.1f} MB, under load {file / 1024:.1f} MB; "
      f"heap and stacks (anonymous) under load: {anon / 1024:.1f} MB")
print(f"\n{'time to first byte, ms':<36} {'p50':>8} {'p90':>8} {'p99':>8} {'req/s':>8} {'errors':>7}")
rows = [("emulator direct (ConverseStream)", direct), ("gateway (OpenAI chat stream)", through),
        ("gateway (ConverseStream relay)", relay), ("nginx (ConverseStream relay)", nginx)]
for name, r in rows:
    if r is None:
        continue
    f = r["first_byte_ms"]
    print(f"{name:<36} {f['p50']:8.2f} {f['p90']:8.2f} {f['p99']:8.2f} {r['throughput']:8.0f} {errors(r):7d}")
d = direct["first_byte_ms"]
for name, r in (("added by the gateway", through), ("added by the gateway's relay", relay), ("added by nginx", nginx)):
    if r is None:
        continue
    t = r["first_byte_ms"]
    print(f"{name:<36} {t['p50'] - d['p50']:8.2f} {t['p90'] - d['p90']:8.2f} {t['p99'] - d['p99']:8.2f}")
PY
