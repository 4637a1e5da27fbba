#!/usr/bin/env bash
# Ledger throughput, verify speed and trace lookup (docs/performance.md). Usage: scripts/perf/ledger.sh [bin] [dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-.build-release/release/countersign}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
dir=${2:-$(mktemp -d)}
cd "$dir"
"$bin" keys generate > /dev/null 2>&1 || true
if [ -z "${ONLY_BIG:-}" ]; then
echo "== decision + signed receipt, committed"
for store in seq.sqlite seq.jsonl; do "$bin" ledger bench --ledger $store --count 20000; done
for store in con.sqlite con.jsonl; do "$bin" ledger bench --ledger $store --count 50000 --concurrency 64; done
echo "== --sync full, beside the disk's own fsync rate"
python3 "$here/fsync-rate.py" 2000 .
for store in full.sqlite full.jsonl; do "$bin" ledger bench --ledger $store --count 2000 --sync full; done
for store in fullc.sqlite fullc.jsonl; do "$bin" ledger bench --ledger $store --count 20000 --concurrency 64 --sync full; done
fi
echo "== 1,000,000 receipts: verify and one trace"
for store in ${BIG_STORES:-big.jsonl big.sqlite}; do
  [ -f $store ] || "$bin" ledger bench --ledger $store --count 1000000 --concurrency 64
  /usr/bin/time -f "verify --chain-only $store: %e s wall, %U s user, %M KB max RSS" "$bin" verify $store --chain-only > /dev/null || true  # exit 3: nothing authenticated
  /usr/bin/time -f "verify $store (chain + signatures on all cores): %e s wall, %U s user, %M KB max RSS" "$bin" verify $store > /dev/null
  "$bin" ledger bench --ledger $store --count 1 --format json | grep trace_query
done
