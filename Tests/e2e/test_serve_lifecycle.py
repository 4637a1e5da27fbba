"""`countersign serve` as a real process: asks recorded when they open, closed as `ask->abandoned` when the
server is killed (on the next start) or stopped (at once, answering the caller that waits), and the
ledger still verifies."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign"))

POLICY = """
default_decision: deny
rules:
  - id: pushes_need_a_reviewer
    when: {command_matches: ["git push"]}
    decision: ask
    reason: Pushing publishes code.
    approvals: {timeout: 5m, channels: [web]}
  - {id: shell, when: {tool: shell.exec}, decision: allow}
"""

PUSH = {"action": {"actor": "coding-agent", "surface": "shell", "tool": "shell.exec", "intent": "execute",
                   "args": {"command": "git push origin main"}, "session_id": "s1"}}


class Serve:
    def __init__(self, home):
        self.home = home
        (home / "policy.yaml").write_text(POLICY)
        (home / "reviewers.yaml").write_text("reviewers:\n  - {id: alice, token_env: TOKEN_ALICE}\n")
        self.env = {**os.environ, "COUNTERSIGN_HOME": str(home / "state"),
                    "TOKEN_ALICE": "alice-token-0123456789abcdef"}
        self.ledger = str(home / "ledger.sqlite")
        self.process = subprocess.Popen(
            [BIN, "serve", "--policy", str(home / "policy.yaml"), "--reviewers", str(home / "reviewers.yaml"),
             "--ledger", self.ledger, "--sessions", str(home / "sessions.sqlite"), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=str(home))
        line = self.process.stdout.readline()
        assert "listening on " in line, line + self.process.stderr.read()
        self.url = line.split("listening on ")[1].split(" ")[0]

    def call(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def cli(self, *args):
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=self.env, cwd=str(self.home))

    def receipts(self):
        out = self.cli("receipts", self.ledger, "--format", "jsonl")
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def verify(self):
        # An absolute --ledger keeps its key beside it.
        shown = self.cli("keys", "show", "--key", str(self.home / "signing-key"), "--format", "json")
        key = json.loads(shown.stdout)["public_key"]
        out = self.cli("verify", self.ledger, "--trusted-key", key, "--format", "json")
        return out.returncode, json.loads(out.stdout)


def decisions(receipts, decision_id):
    return [r for r in receipts if r["kind"] == "decision" and r["trace_id"] == decision_id]


def test_an_ask_left_open_by_a_killed_server_is_closed_as_abandoned_on_restart(tmp_path):
    first = Serve(tmp_path)
    try:
        pending = first.call("POST", "/v1/decide", PUSH)
        assert pending["status"] == "pending"
        decision_id = pending["decision_id"]
        # Recorded when it opened, before the caller heard "pending".
        [opened] = decisions(first.receipts(), decision_id)
        assert (opened["status"], opened["decision"]) == ("pending", "ask")
        assert opened["open_ask"]["decision_id"] == decision_id
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        if first.process.poll() is None:
            first.process.kill()

    second = Serve(tmp_path)
    try:
        trail = decisions(second.receipts(), decision_id)
        assert [r["decision"] for r in trail] == ["ask", "ask->abandoned"], trail
        closing = trail[1]
        assert closing["status"] == "blocked" and closing["closes"] == opened["id"]
        assert closing["action_hash"] == opened["action_hash"]
        assert closing["policy"]["rule_id"] == "pushes_need_a_reviewer"
        code, report = second.verify()
        assert code == 0 and report["valid"] is True and report["failures"] == [], report
        assert report["receipts"] == 2
    finally:
        second.process.send_signal(signal.SIGTERM)
        second.process.communicate(timeout=15)
    # A third start finds nothing left open.
    third = Serve(tmp_path)
    third.process.send_signal(signal.SIGTERM)
    third.process.communicate(timeout=15)
    assert len(decisions(third.receipts(), decision_id)) == 2


def test_sigterm_with_a_waiting_caller_closes_the_ask_and_exits_in_bounded_time(tmp_path):
    serve = Serve(tmp_path)
    try:
        pending = serve.call("POST", "/v1/decide", PUSH)
        decision_id = pending["decision_id"]
        answer = {}

        def long_poll():
            try:
                answer["body"] = serve.call("GET", f"/v1/decisions/{decision_id}?wait=300", timeout=120)
            except (urllib.error.URLError, ConnectionError, OSError) as error:  # the connection was closed
                answer["error"] = repr(error)
            answer["at"] = time.monotonic()

        caller = threading.Thread(target=long_poll)
        caller.start()
        time.sleep(0.5)
        stopped = time.monotonic()
        serve.process.send_signal(signal.SIGTERM)
        out, err = serve.process.communicate(timeout=30)
        took = time.monotonic() - stopped
        caller.join(timeout=30)
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
    assert took <= 10, f"exited {took:.1f}s after SIGTERM\n{err}"
    assert serve.process.returncode == 0, err
    assert "every receipt is committed" in out
    # The caller was answered with the final state (or its connection closed), not left waiting.
    assert not caller.is_alive()
    assert answer["at"] - stopped <= 10
    if "body" in answer:
        assert answer["body"]["status"] == "denied" and answer["body"]["decision"] == "ask->abandoned", answer
    trail = decisions(serve.receipts(), decision_id)
    assert [(r["status"], r["decision"]) for r in trail] == [("pending", "ask"), ("blocked", "ask->abandoned")]
    assert trail[1]["closes"] == trail[0]["id"]
    code, report = serve.verify()
    assert code == 0 and report["valid"] is True, report
