"""A real `countersign serve` with the python-agents policy pack, for the framework tests (one venv each).

The server runs from $COUNTERSIGN_BIN (default .build/debug/countersign) on a free loopback port with a
temporary home; alice is the reviewer who answers through the approvals API, as the dashboard does."""

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
POLICY = ROOT / "examples" / "policies" / "python-agents.yaml"
TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef0"}


class Server:
    def __init__(self, home):
        self.home = home
        (home / "reviewers.yaml").write_text(
            "reviewers:\n"
            "  - {id: alice, name: Alice Martin, token_env: TOKEN_ALICE, groups: [sre]}\n"
            "  - {id: bob, name: Bob Chen, token_env: TOKEN_BOB}\n")
        self.env = {**os.environ, "COUNTERSIGN_HOME": str(home), "TOKEN_ALICE": TOKENS["alice"],
                    "TOKEN_BOB": TOKENS["bob"]}
        self.process = subprocess.Popen(
            [BIN, "serve", "--policy", str(POLICY), "--reviewers", str(home / "reviewers.yaml"),
             "--ledger", str(home / "ledger.sqlite"), "--sessions", str(home / "sessions.sqlite"),
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=str(home))
        line = self.process.stdout.readline()
        assert "listening on " in line, line + self.process.stderr.read()
        self.url = line.split("listening on ")[1].split(" ")[0]

    def reviewer(self, name="alice"):
        return Reviewer(self.url, TOKENS[name])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err

    def receipts(self):
        out = subprocess.run([BIN, "receipts", str(self.home / "ledger.sqlite"), "--format", "jsonl"],
                             capture_output=True, text=True, check=True, env=self.env)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def verify(self):
        """`countersign verify` on the ledger (after stop): (exit code, output)."""
        done = subprocess.run([BIN, "verify", str(self.home / "ledger.sqlite")], capture_output=True, text=True,
                              env=self.env)
        return done.returncode, done.stdout + done.stderr

    def stop_and_check_ledger(self):
        """Stops the server, checks `countersign verify` says VALID, and returns the receipts — without the
        `pending` records the server commits when an ask opens, after checking that a later receipt closes
        each of them (`closes` names it)."""
        code, out, err = self.stop()
        assert code == 0, err
        verified, report = self.verify()
        assert verified == 0 and "VALID" in report, report
        receipts = self.receipts()
        opened = [r for r in receipts if r.get("open_ask")]
        closed = {r.get("closes") for r in receipts if r.get("closes")}
        for ask in opened:
            assert ask["status"] == "pending" and ask["id"] in closed, f"an ask left open: {ask}"
        return [r for r in receipts if not r.get("open_ask")]


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


class Answer:
    """A reviewer (in a thread) answers the next request that reaches the inbox; `seen` is what they saw."""

    def __init__(self, server, verdict, note, who):
        self.seen = None
        self.thread = threading.Thread(target=self._review, args=(server, verdict, note, who), daemon=True)
        self.thread.start()

    def _review(self, server, verdict, note, who):
        reviewer = server.reviewer(who)
        for _ in range(1200):
            for approval in reviewer.pending():
                self.seen = approval
                reviewer.answer(approval["id"], verdict, note)
                return
            time.sleep(0.05)

    def join(self):
        self.thread.join(timeout=90)
        assert self.seen is not None, "no approval request reached the inbox"
        return self.seen


def answer_next(server, verdict="approve", note="checked", who="alice"):
    return Answer(server, verdict, note, who)


def kinds(receipts, kind):
    return [r for r in receipts if r["kind"] == kind]


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path)
    yield running
    if running.process.poll() is None:
        running.stop()
