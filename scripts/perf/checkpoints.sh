#!/usr/bin/env bash
# What Merkle checkpoints cost the ledger benchmark (docs/performance.md, "Merkle checkpoints").
# Usage: scripts/perf/checkpoints.sh [bin] [dir] — runs `ledger bench` with and without --no-checkpoints,
# alternating, and times `countersign checkpoint` and `prove` on a larger ledger.
set -euo pipefail
bin=${1:-.build-release/release/countersign}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
dir=${2:-$(mktemp -d)}
count=${COUNT:-20000}
runs=${RUNS:-3}
big=${BIG:-200000}
cd "$dir"
"$bin" keys generate > /dev/null 2>&1 || true
rate() {
  local store=$1; shift
  "$bin" ledger bench --ledger "$store" --count "$count" --format json "$@" \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["per_second"]))'
}
for store in sqlite jsonl; do
  for concurrency in 1 64; do
    with=(); without=()
    for run in $(seq "$runs"); do
      rm -f "a-$run.$store"* "b-$run.$store"*
      "$bin" ledger forget "a-$run.$store" > /dev/null; "$bin" ledger forget "b-$run.$store" > /dev/null
      without+=("$(rate "a-$run.$store" --no-checkpoints --concurrency "$concurrency")")
      with+=("$(rate "b-$run.$store" --concurrency "$concurrency")")
    done
    echo "$store, $concurrency caller(s), $count decisions: without checkpoints ${without[*]} /s; with ${with[*]} /s"
  done
done
echo "== $big receipts: the first checkpoint of a process builds the tree from the store"
[ -f big.sqlite ] || "$bin" ledger bench --ledger big.sqlite --count "$big" --concurrency 64 --no-checkpoints > /dev/null
/usr/bin/time -f "checkpoint big.sqlite: %e s wall, %M KB max RSS" "$bin" checkpoint --ledger big.sqlite > /dev/null
/usr/bin/time -f "prove --seq 12345 big.sqlite: %e s wall" "$bin" prove --ledger big.sqlite --seq 12345 > /dev/null
/usr/bin/time -f "verify --chain-only big.sqlite: %e s wall" "$bin" verify big.sqlite --chain-only > /dev/null || true
/usr/bin/time -f "verify --chain-only --checkpoint big.sqlite: %e s wall" "$bin" verify big.sqlite --chain-only --checkpoint big.sqlite.checkpoint > /dev/null || true
