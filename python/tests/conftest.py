"""Starts a real `countersign serve` (port 0, temporary home) for each test that asks for `server`."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign"))

POLICY = """
version: 1
name: python-client-tests
default_decision: deny
labels:
  - {id: web, when: {tool: web.fetch}, output: [untrusted]}
rules:
  - {id: no_deletes, when: {command_matches: ["rm -rf"]}, decision: deny, reason: Recursive deletes are denied.}
  - id: pushes_need_a_reviewer
    when: {command_matches: ["git push"]}
    decision: ask
    reason: Pushing publishes code.
    approvals: {quorum: 1, timeout: 2m, channels: [web]}
  - id: tainted_commands_ask
    when: {tool: shell.exec, args_labels_any: [untrusted]}
    decision: ask
    reason: This command uses text from a web page.
    approvals: {timeout: 2m, channels: [web]}
  - {id: reads, when: {intent: read}, decision: allow}
  - {id: shell, when: {tool: shell.exec}, decision: allow}
"""

TOKENS = {"alice": "alice-token-0123456789abcdef", "agent": "agent-api-token-0123456789"}


class Server:
    def __init__(self, home):
        self.home = home
        (home / "policy.yaml").write_text(POLICY)
        (home / "reviewers.yaml").write_text(
            "reviewers:\n  - {id: alice, name: Alice Martin, token_env: TOKEN_ALICE, groups: [sre]}\n")
        env = {**os.environ, "COUNTERSIGN_HOME": str(home), "TOKEN_ALICE": TOKENS["alice"]}
        self.process = subprocess.Popen(
            [BIN, "serve", "--policy", str(home / "policy.yaml"), "--reviewers", str(home / "reviewers.yaml"),
             "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=str(home))
        line = self.process.stdout.readline()
        assert "listening on " in line, line + self.process.stderr.read()
        self.url = line.split("listening on ")[1].split(" ")[0]

    def reviewer(self, name="alice"):
        return Reviewer(self.url, TOKENS[name])

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def receipts(self):
        out = subprocess.run([BIN, "receipts", str(self.home / "ledger.sqlite"), "--format", "jsonl"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "COUNTERSIGN_HOME": str(self.home)})
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


class Reviewer:
    """A reviewer using the same API as the dashboard: sign in, list, approve or deny."""

    def __init__(self, url, token):
        self.url, self.token = url, token
        self.csrf = self.call("POST", "/v1/session")["csrf"]

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers.update({"Content-Type": "application/json", "X-Countersign-CSRF": self.csrf})
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def pending(self):
        return [a for a in self.call("GET", "/v1/approvals")["approvals"] if a["state"] == "open"]

    def answer(self, approval_id, verdict, note=""):
        return self.call("POST", f"/v1/approvals/{approval_id}/{verdict}", {"note": note})


def answer_next(server, verdict="approve", note="checked"):
    """A reviewer (in a thread) answers the next request that reaches the inbox."""
    def review():
        reviewer = server.reviewer()
        for _ in range(300):
            for approval in reviewer.pending():
                reviewer.answer(approval["id"], verdict, note)
                return
            time.sleep(0.05)
    thread = threading.Thread(target=review)
    thread.start()
    return thread


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path)
    yield running
    if running.process.poll() is None:
        running.stop()
