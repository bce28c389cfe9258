#!/usr/bin/env bash
# Gateway overhead: the same non-streaming Converse request sent (a) straight to the emulator,
# (b) through `strata serve`, (c) through a plain nginx reverse proxy, with the emulator in
# zero-latency mode. The proxy under test (gateway or nginx) gets core 1; the emulator and wrk
# share core 0, identically for both proxies.
# Needs: cargo build --release, wrk and nginx (apt-get install wrk nginx).
# Usage: bench/gateway_overhead.sh [duration_seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
BIN="${STRATA_BIN:-target/release/strata}"
SIM_PORT=4601; GW_PORT=8601; NGINX_PORT=8602
WORK=$(mktemp -d)
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
for tool in wrk nginx; do command -v $tool >/dev/null || { echo "install $tool: apt-get install $tool" >&2; exit 1; }; done

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

taskset -c 0 "$BIN" sim --listen "127.0.0.1:$SIM_PORT" --zero-latency --threads 1 2>"$WORK/sim.log" & PIDS+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/_sim/health"
curl -sf -X POST "http://127.0.0.1:$SIM_PORT/_sim/quotas" -H 'content-type: application/json' \
  -d '{"account":"prod-us","region":"us-east-1","model":"amazon.nova-pro-v1:0","rpm":100000000,"tpm":2000000000}' >/dev/null

cat > "$WORK/gateway.yaml" <<YAML
aws: {endpoint_url: "http://127.0.0.1:$SIM_PORT"}
accounts:
  - name: prod-us
    credentials: {type: static, access_key_id: AKIAPRODUS0000000001, secret_access_key: prod-us-secret-key-0000000000000000000001}
models:
  - name: nova
    deployments: [{account: prod-us, region: us-east-1, model: amazon.nova-pro-v1:0}]
tenants:
  - {name: bench, keys: [sk-bench-000001]}
YAML
taskset -c 1 "$BIN" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" & PIDS+=($!)
wait_for "http://127.0.0.1:$GW_PORT/health"

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 10;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf"
wait_for "http://127.0.0.1:$NGINX_PORT/_sim/health"

BODY='{"messages":[{"role":"user","content":[{"text":"benchmark request"}]}],"inferenceConfig":{"maxTokens":64}}'
script() { # path, key
  cat > "$WORK/$3.lua" <<LUA
wrk.method = "POST"
wrk.path = "$1"
wrk.body = '$BODY'
wrk.headers["Authorization"] = "Bearer $2"
wrk.headers["Content-Type"] = "application/json"
LUA
  echo "$WORK/$3.lua"
}
DIRECT=$(script "/model/amazon.nova-pro-v1%3A0/converse" "ABSKcHJvZC11cy1hcGkta2V5LTAwMDE=" direct)
GATEWAY=$(script "/model/nova/converse" "sk-bench-000001" gateway)

run() { # name, port, script
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s -s "$3" "http://127.0.0.1:$2" >/dev/null
  echo "== $1"
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "http://127.0.0.1:$2" | grep -E "Requests/sec|50%|90%|99%|Non-2xx"
}
run "emulator direct" $SIM_PORT "$DIRECT"
run "through nginx" $NGINX_PORT "$DIRECT"
run "through strata gateway" $GW_PORT "$GATEWAY"
