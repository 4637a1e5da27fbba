#!/usr/bin/env python3
"""Decision API latency on loopback vs the in-process Gate (docs/performance.md).

Starts `countersign serve` (SQLite ledger), sends N sequential POST /v1/decide over one keep-alive
connection (allowed action, receipt committed before the answer), and compares the median with
`countersign ledger bench` (the same decision + committed signed receipt, in process).
Usage: scripts/perf/api-latency.py BIN [N]   (run from the repository root)
"""
import http.client, json, os, re, statistics, subprocess, sys, tempfile, time

bin_path = os.path.abspath(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
home = tempfile.mkdtemp(prefix="api-latency-")
env = {**os.environ, "COUNTERSIGN_HOME": home}
open(os.path.join(home, "policy.yaml"), "w").write("rules:\n  - {id: shell, when: {tool: shell.exec}, decision: allow}\n")
subprocess.run([bin_path, "keys", "generate"], cwd=home, env=env, capture_output=True, check=True)
server = subprocess.Popen([bin_path, "serve", "--policy", "policy.yaml", "--listen", "127.0.0.1:0"], cwd=home, env=env,
                          stdout=subprocess.PIPE, text=True)
url = re.search(r"http://([\d.]+):(\d+)", server.stdout.readline())
connection = http.client.HTTPConnection(url.group(1), int(url.group(2)))
headers = {"Content-Type": "application/json", "Host": f"{url.group(1)}:{url.group(2)}"}
times = []
for i in range(n + 100):
    body = json.dumps({"action": {"actor": "bench", "surface": "shell", "tool": "shell.exec", "intent": "execute",
                                  "args": {"command": f"echo {i}"}, "session_id": "bench"}})
    start = time.perf_counter_ns()
    connection.request("POST", "/v1/decide", body, headers)
    answer = json.loads(connection.getresponse().read())
    elapsed = (time.perf_counter_ns() - start) / 1000
    assert answer["status"] == "allowed", answer
    if i >= 100: times.append(elapsed)
floor = []
for i in range(n):
    start = time.perf_counter_ns()
    connection.request("GET", "/healthz", headers=headers)
    connection.getresponse().read()
    floor.append((time.perf_counter_ns() - start) / 1000)
server.terminate(); server.wait()
times.sort()
api = statistics.median(times)
bench = subprocess.run([bin_path, "ledger", "bench", "--ledger", os.path.join(home, "bench.sqlite"), "--count", str(n)],
                       cwd=home, env=env, capture_output=True, text=True).stdout
rate = float(re.search(r": (\d+)/s", bench).group(1))
in_process = 1e6 / rate
print(f"POST /v1/decide, {n} sequential calls, one keep-alive connection, SQLite ledger:")
print(f"  median {api:.0f} us, p99 {times[int(len(times) * 0.99) - 1]:.0f} us")
print(f"in-process Gate (ledger bench, decision + committed signed receipt): {in_process:.0f} us per decision")
print(f"added by the API: {api - in_process:.0f} us per decide (median); of which an HTTP round trip "
      f"(GET /healthz, same client) is {statistics.median(floor):.0f} us")
