#!/usr/bin/env bash
# Discovery at fleet scale: a generated fleet of N accounts x M regions whose control plane
# answers each call after LATENCY ms and throttles above RPS calls/s per (account, region);
# `strata discover` assumes a role into every account (STS on the emulator) and scans it all.
# Target (issue "discovery"): 30 accounts x 17 regions, 100 ms per call, with throttling: < 30 s.
# Usage: bench/discovery.sh [accounts] [regions] [latency_ms] [rps] [burst]
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS="${1:-30}"; REGIONS="${2:-17}"; LATENCY="${3:-100}"; RPS="${4:-5}"; BURST="${5:-5}"
BIN="${STRATA_BIN:-target/release/strata}"
PORT=4631
WORK=$(mktemp -d)
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" sim --generate-fleet "accounts=$ACCOUNTS,regions=$REGIONS,cp_latency_ms=$LATENCY,cp_jitter=0.1,cp_rps=$RPS,cp_burst=$BURST" > "$WORK/fleet.yaml"
"$BIN" sim --fleet "$WORK/fleet.yaml" --print-fleet > "$WORK/fleet.json"
"$BIN" sim --fleet "$WORK/fleet.yaml" --listen "127.0.0.1:$PORT" 2>"$WORK/sim.log" & PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_sim/health" >/dev/null && break; sleep 0.1; done

python3 - "$WORK/fleet.json" "http://127.0.0.1:$PORT" > "$WORK/gateway.yaml" <<'PY'
import json, sys
fleet = json.load(open(sys.argv[1]))
hub = next(a for a in fleet["accounts"] if a["id"] == "999999999999")
print(f"aws: {{endpoint_url: \"{sys.argv[2]}\"}}")
print("discovery:")
print(f"  regions: [{', '.join(fleet['regions'])}]")
print("accounts:")
for a in fleet["accounts"]:
    if a is hub:
        continue
    print(f"  - name: {a['name']}")
    print("    credentials:")
    print("      type: assume_role")
    print(f"      role_arn: arn:aws:iam::{a['id']}:role/StrataGateway")
    print(f"      source: {{type: static, access_key_id: {hub['access_key_id']}, secret_access_key: {hub['secret_access_key']}}}")
print("models:\n  - name: sonnet\n    discover: {model: anthropic.claude-sonnet-4-20250514-v1:0}")
print("tenants:\n  - {name: bench, keys: [sk-bench-000001]}")
PY

echo "fleet: $ACCOUNTS accounts x $REGIONS regions; control plane ${LATENCY} ms per call, ${RPS}/s (burst $BURST) per account x region"
START=$(date +%s.%N)
"$BIN" discover --config "$WORK/gateway.yaml" > "$WORK/matrix.txt"
END=$(date +%s.%N)
tail -1 "$WORK/matrix.txt"
curl -s "http://127.0.0.1:$PORT/_sim/stats" | python3 -c '
import json, sys, collections
rows = json.load(sys.stdin)["control_plane"]
by = collections.Counter()
for r in rows: by[(r["operation"], r["status"])] += r["count"]
for (op, status), n in sorted(by.items()): print(f"  {op:32} {status}: {n}")
'
python3 -c "print(f'wall time: {$END - $START:.1f} s')"
