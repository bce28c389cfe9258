#!/usr/bin/env bash
# User-space instructions per request of the gateway, counted by callgrind: the same build and
# inputs give the same count within ~2 % on any machine, however busy, so a change's effect on the
# request path can be written down even where wall-clock CPU moves by 30 % between runs. (Counts,
# not time: valgrind hides SHA extensions, so SigV4's hashing counts as software SHA-256, and a
# `rep movsb` copy counts per byte. Compare builds with it; quote time from compare.sh.)
#
# Each path: the emulator (zero latency, native) on core 0, the gateway under callgrind on
# core 1, 200 requests of warm-up, then N requests one after another on one connection between
# zeroing and dumping the counters; the usage writer's batches and the access log are included.
# Paths: Converse, ConverseStream, OpenAI chat to an OpenAI-compatible upstream (plain and
# stream), OpenAI chat stream translated from ConverseStream, Converse for a governed tenant
# (limits, records), and Converse through a gateway without usage records.
# Needs: cargo build --release -p strata, valgrind, python3, curl.
# Usage: bench/instructions.sh [requests]   (default 1000)
#        BINS="/tmp/old/strata /tmp/new/strata" compares builds (default: STRATA_BIN or
#        target/release/strata); ONLY="Converse" picks paths by name (an extended regex);
#        KEEP=dir keeps each count's callgrind profile there (for callgrind_annotate --inclusive=yes);
#        WRITER=1 prints each count as total/without the usage writer (its task and its SQLite
#        thread): the writer's share moves by ±2-5k between runs with its batch sizes (they
#        follow the timing under valgrind), so changes of 1 % show only in the second figure.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000}"
BINS="${BINS:-${STRATA_BIN:-${CARGO_TARGET_DIR:-target}/release/strata}}"
ONLY="${ONLY:-.}"
SIM_PORT="${SIM_PORT:-4621}"; GW_PORT="${GW_PORT:-8621}"
WORK=$(mktemp -d)
for tool in valgrind callgrind_control callgrind_annotate python3 curl; do
  command -v $tool >/dev/null || { echo "install $tool (apt-get install valgrind python3 curl)" >&2; exit 1; }
done
source bench/lib.sh


CONVERSE='{"messages":[{"role":"user","content":[{"text":"benchmark request"}]}],"inferenceConfig":{"maxTokens":64}}'
chat() { echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"benchmark request\"}],\"max_tokens\":64,\"stream\":$2}"; }
# name | extra config | path | key | body
PATHS="\
Converse||/model/nova/converse|$GW_KEY|$CONVERSE
ConverseStream||/model/nova/converse-stream|$GW_KEY|$CONVERSE
OpenAI chat → OpenAI upstream||/v1/chat/completions|$GW_KEY|$(chat nova-openai false)
OpenAI chat stream → OpenAI upstream||/v1/chat/completions|$GW_KEY|$(chat nova-openai true)
OpenAI chat stream → ConverseStream||/v1/chat/completions|$GW_KEY|$(chat nova true)
Converse governed||/model/nova/converse|$GOV_KEY|$CONVERSE
Converse, no usage records|usage: {records: false}|/model/nova/converse|$GW_KEY|$CONVERSE"

count() { # bin extra path key body -> instructions per request
  local bin=$1
  taskset -c 0 "$bin" sim --listen "127.0.0.1:$SIM_PORT" --zero-latency --threads 1 2>"$WORK/sim.log" & local sim=$!
  wait_for "http://127.0.0.1:$SIM_PORT/_sim/health"
  raise_quota "$SIM_PORT"
  bench_gateway_yaml "$SIM_PORT" "$2" > "$WORK/gateway.yaml"
  rm -f "$WORK"/cg.out.*
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out.%p" --dump-instr=no \
    "$bin" serve --config "$WORK/gateway.yaml" --listen "127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" & local gw=$!
  # Under valgrind the gateway takes seconds to start (a minute on a busy machine).
  for _ in $(seq 900); do curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null && break; sleep 0.2; done
  python3 bench/drive.py "$GW_PORT" "$3" "$5" 200 "$4" >/dev/null
  callgrind_control -z "$gw" >/dev/null 2>&1
  local ok; ok=$(python3 bench/drive.py "$GW_PORT" "$3" "$5" "$N" "$4")
  callgrind_control -d "$gw" >/dev/null 2>&1
  local total; total=$(callgrind_annotate "$WORK"/cg.out.*.1 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  local writer=0
  if [ "${WRITER:-0}" != 0 ]; then
    # The usage writer's share: its task on the runtime and its SQLite thread (its own, or sqlx's
    # worker before 2026-12-03), each the
    # largest inclusive figure under its name (inlining lists a function under several files).
    writer=$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$WORK"/cg.out.*.1 2>/dev/null | awk '
      /strata_store::writer::task::run::\{\{closure\}\}/ { v = $1; gsub(",", "", v); if (v + 0 > task) task = v + 0 }
      /sqlx-sqlite[^ ]*worker\.rs:std::sys::backtrace::__rust_begin_short_backtrace/ { v = $1; gsub(",", "", v); if (v + 0 > sqlite) sqlite = v + 0 }
      /strata-store\/src\/writer\/sqlite\.rs:std::sys::backtrace::__rust_begin_short_backtrace/ { v = $1; gsub(",", "", v); if (v + 0 > thread) thread = v + 0 }
      END { print task + sqlite + thread }')
  fi
  kill "$gw" "$sim" 2>/dev/null || true; wait "$gw" "$sim" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"; cp "$WORK"/cg.out.*.1 "$KEEP/$(basename "$(dirname "$bin")")-$(basename "$bin")-$(echo "$2$3-$4" | tr -c 'A-Za-z0-9\n' _).callgrind"
  fi
  [ "$ok" = "$N" ] || { echo "only $ok of $N answered 200 (see $WORK/*.log)" >&2; exit 1; }
  if [ "${WRITER:-0}" != 0 ]; then
    echo "$(( total / N ))/$(( (total - writer) / N ))"
  else
    echo $(( total / N ))
  fi
}

echo "== $(date -u +%F), instructions per request (callgrind, user space, $N requests one at a time)"
printf '%-40s' "path"; for bin in $BINS; do printf ' %16s' "$(basename "$(dirname "$bin")")/$(basename "$bin")"; done; echo
while IFS='|' read -r name extra path key body; do
  [[ "$name" =~ $ONLY ]] || continue
  printf '%-40s' "$name"
  for bin in $BINS; do printf ' %16s' "$(count "$bin" "$extra" "$path" "$key" "$body")"; done
  echo
done <<< "$PATHS"
