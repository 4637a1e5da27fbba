#!/usr/bin/env python3
"""Per-call overhead of `countersign mcp proxy` on the allow path (docs/performance.md).

The same sequential tools/call session runs straight into a server and through the proxy (SQLite
ledger, examples/policies/mcp-proxy.yaml); each call is timed from the request written to the answer
read. Rounds alternate direct/proxied so machine noise hits both sides alike.

Usage: scripts/perf/mcp-overhead.py BIN [CALLS] [ROUNDS] [--server sdk|minimal]
  sdk:     the official Python SDK server (Tests/e2e/mcp/fixture_server.py, needs .venv)
  minimal: a bare JSON-RPC server in Python (isolates the proxy's own cost)
Run from the repository root.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
server_kind = "sdk" if "--server" in sys.argv and sys.argv[sys.argv.index("--server") + 1] == "sdk" else "minimal"
if server_kind == "sdk":
    args = [a for a in args if a != "sdk"]
else:
    args = [a for a in args if a != "minimal"]
bin_path = os.path.abspath(args[0])
calls = int(args[1]) if len(args) > 1 else 2000
rounds = int(args[2]) if len(args) > 2 else 3

MINIMAL = r'''
import json, sys
out = sys.stdout
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m: continue
    method = m["method"]
    if method == "initialize":
        r = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "bench", "version": "1"}}
    elif method == "tools/list":
        r = {"tools": [{"name": "read_note", "description": "Read a note.", "inputSchema": {"type": "object"}}]}
    else:
        r = {"content": [{"type": "text", "text": "note " + m["params"]["arguments"]["name"]}]}
    out.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}) + "\n"); out.flush()
'''

work = tempfile.mkdtemp(prefix="mcp-overhead-")
python = os.path.abspath(".venv/bin/python") if server_kind == "sdk" else sys.executable
if server_kind == "sdk":
    server = [python, os.path.abspath("Tests/e2e/mcp/fixture_server.py")]
else:
    path = os.path.join(work, "minimal_server.py")
    open(path, "w").write(MINIMAL)
    server = [python, path]
policy = os.path.abspath("examples/policies/mcp-proxy.yaml")
env = {**os.environ, "COUNTERSIGN_HOME": work}
subprocess.run([bin_path, "keys", "generate"], cwd=work, env=env, capture_output=True, check=True)


def session(command):
    p = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=work, env=env, bufsize=0)
    reader = p.stdout

    def rpc(message):
        p.stdin.write((json.dumps(message) + "\n").encode())
        if "id" not in message:
            return None
        while True:
            answer = json.loads(reader.readline())
            if answer.get("id") == message["id"]:
                return answer

    rpc({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    rpc({"jsonrpc": "2.0", "method": "notifications/initialized"})
    rpc({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    times = []
    for i in range(calls + 50):
        message = {"jsonrpc": "2.0", "id": i + 2, "method": "tools/call",
                   "params": {"name": "read_note", "arguments": {"name": f"n{i}"}}}
        start = time.perf_counter_ns()
        answer = rpc(message)
        elapsed = time.perf_counter_ns() - start
        assert "result" in answer and not answer["result"].get("isError"), answer
        if i >= 50:
            times.append(elapsed / 1000)  # µs
    p.stdin.close()
    p.wait()
    return times


ledger = os.path.join(work, os.environ.get("LEDGER_NAME", "ledger.sqlite"))
proxied_command = [bin_path, "mcp", "proxy", "--policy", policy, "--ledger", ledger,
                   "--", *server]
direct, proxied = [], []
for _ in range(rounds):
    direct += session(server)
    proxied += session(proxied_command)


def summary(times):
    times = sorted(times)
    return statistics.median(times), times[int(len(times) * 0.99) - 1], statistics.mean(times)


d, p = summary(direct), summary(proxied)
receipts = subprocess.run([bin_path, "receipts", ledger, "--format", "jsonl"],
                          capture_output=True, text=True, env=env).stdout.count("\n")
print(f"server: {server_kind}; {calls} sequential tools/call x {rounds} rounds each side; SQLite ledger "
      f"({receipts} receipts written)")
print(f"direct:  median {d[0]:8.1f} us  p99 {d[1]:8.1f} us  mean {d[2]:8.1f} us")
print(f"proxied: median {p[0]:8.1f} us  p99 {p[1]:8.1f} us  mean {p[2]:8.1f} us")
print(f"added:   median {p[0] - d[0]:8.1f} us  mean {p[2] - d[2]:8.1f} us per call")
