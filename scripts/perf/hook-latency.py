#!/usr/bin/env python3
"""Whole-process latency of one PreToolUse decision with the SQLite ledger (docs/performance.md).
Usage: scripts/perf/hook-latency.py BIN [RUNS]  (run from the repository root)
BIN is `countersign` (runs `countersign hook claude-code`) or the slim `countersign-hook`."""
import json, os, statistics, subprocess, sys, tempfile, time
bin_path = os.path.abspath(sys.argv[1]); runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
policy = os.path.abspath("examples/policies/claude-code.yaml")
work = tempfile.mkdtemp(prefix="hook-latency-")
main = bin_path[: -len("-hook")] if bin_path.endswith("countersign-hook") else bin_path
# Hooks never create a signing key: make one (pinned) with any full binary, as `countersign init` would.
candidates = [main, ".build-release/release/countersign", ".build/release/countersign", ".build/debug/countersign"]
maker = next((os.path.abspath(c) for c in candidates if os.path.exists(c)), None)
assert maker, "no countersign binary to create the signing key with (build one first)"
subprocess.run([maker, "keys", "generate"], cwd=work, capture_output=True, check=True)
def payload(i):
    return json.dumps({"session_id": "bench", "transcript_path": "/tmp/t.jsonl", "cwd": "/repo", "permission_mode": "default",
                       "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "rm -rf /tmp/demo"},
                       "tool_use_id": f"toolu_{i}"}).encode()
times = []
for i in range(runs + 5):
    start = time.perf_counter()
    command = [bin_path] if bin_path.endswith("countersign-hook") else [bin_path, "hook"]
    done = subprocess.run(command + ["claude-code", "--policy", policy], input=payload(i), cwd=work, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000
    assert done.returncode == 0 and b'"deny"' in done.stdout, done
    if i >= 5: times.append(elapsed)
times.sort()
print(f"PreToolUse, SQLite ledger, {runs} runs: median {statistics.median(times):.1f} ms, "
      f"p99 {times[int(len(times) * 0.99) - 1]:.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms")
