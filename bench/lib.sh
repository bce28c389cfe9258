# Shared by the whole-system benchmarks (sourced, not run): processes to stop at exit, waiting
# for a server, CPU ticks of a process, and the plain nginx reverse proxy they compare against.
# Needs WORK (a scratch directory) set before it is sourced.

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
# CPU time (clock ticks) a process has used; user_ticks: of which in user space (the rest is the
# kernel's: sockets, epoll).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }

# start_nginx LISTEN_PORT UPSTREAM_PORT: one nginx worker on core 1 proxying (keep-alive, no
# buffering) to 127.0.0.1:UPSTREAM_PORT; sets NGINX_PID to the worker's pid.
start_nginx() {
  cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 10;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream sim { server 127.0.0.1:$2; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
  nginx -c "$WORK/nginx.conf"
  wait_for "http://127.0.0.1:$1/_sim/health"
  NGINX_PID=$(pgrep -P "$(cat "$WORK/nginx.pid")" | head -1)
}

# raise_quota SIM_PORT: lifts prod-us's Nova Pro quota in us-east-1 out of the way, so a benchmark
# measures the proxies, not the emulator's throttling.
raise_quota() {
  curl -sf -X POST "http://127.0.0.1:$1/_sim/quotas" -H 'content-type: application/json' \
    -d '{"account":"prod-us","region":"us-east-1","model":"amazon.nova-pro-v1:0","rpm":1000000000,"tpm":2000000000}' >/dev/null
}

# aws_account_yaml SIM_PORT: the gateway config's emulator endpoint and its one account (prod-us).
# AWS_HTTP2 is the gateway's aws.http2, as YAML: '{calls: none}' sends every Bedrock call over
# HTTP/1.1, '{calls: all, max_streams: 100}' every one over HTTP/2 (absent: streams over HTTP/2;
# builds before the default changed took '{max_streams: N}' for every call over HTTP/2).
aws_account_yaml() {
  cat <<YAML
aws: {endpoint_url: "http://127.0.0.1:$1"${AWS_HTTP2:+, http2: $AWS_HTTP2}}
accounts:
  - name: prod-us
    credentials: {type: static, access_key_id: AKIAPRODUS0000000001, secret_access_key: prod-us-secret-key-0000000000000000000001}
YAML
}

# The keys of the benchmark gateways' tenants, and the emulator's OpenAI-compatible API key.
SIM_KEY="ABSKcHJvZC11cy1hcGkta2V5LTAwMDE="; GW_KEY="sk-bench-000001"; GOV_KEY="sk-governed-000001"

# bench_gateway_yaml SIM_PORT [EXTRA]: the benchmarks' gateway config — Nova Pro on the emulator
# as `nova` (Bedrock) and `nova-openai` (the emulator's OpenAI-compatible API as a provider), a
# tenant without limits (GW_KEY) and a governed one (GOV_KEY) whose limits are far above any load
# (every request counted, none refused) — then EXTRA, top-level YAML.
bench_gateway_yaml() {
  cat <<YAML
$(aws_account_yaml "$1")
providers:
  - {name: sim-openai, type: openai, base_url: "http://127.0.0.1:$1/v1", api_key: "$SIM_KEY"}
models:
  - name: nova
    deployments: [{account: prod-us, region: us-east-1, model: amazon.nova-pro-v1:0}]
  - name: nova-openai
    deployments: [{provider: sim-openai, model: amazon.nova-pro-v1:0}]
discovery: {enabled: false}
tenants:
  - {name: bench, keys: [$GW_KEY]}
  - name: governed
    keys: [$GOV_KEY]
    rpm: 100000000
    tpm: 2000000000
    budget: {usd_per_day: 100000000, usd_per_month: 1000000000}
${2:-}
YAML
}
