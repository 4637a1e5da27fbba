"""The Python client against the real signer service on its Unix socket (`countersign serve --socket`):
decide, report the outcome, and read back receipts that name this process as the caller."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, POLICY
from countersign import Countersign, CountersignError

ACTION = {"actor": "py-agent", "surface": "shell", "tool": "shell.exec", "intent": "execute",
          "args": {"command": "echo hi"}, "session_id": "py-1"}


@pytest.fixture
def signer(tmp_path):
    (tmp_path / "policy.yaml").write_text(POLICY)
    sock = tmp_path / "signer.sock"
    env = {**os.environ, "COUNTERSIGN_HOME": str(tmp_path)}
    process = subprocess.Popen([BIN, "serve", "--socket", str(sock)], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not sock.exists():
        assert process.poll() is None and time.time() < deadline, process.stderr.read()
        time.sleep(0.05)
    time.sleep(0.1)
    yield f"unix://{sock}", process, tmp_path, env
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_decide_and_report_over_the_socket(signer):
    address, process, home, env = signer
    client = Countersign(address)
    allowed = client.decide(ACTION)
    assert allowed["status"] == "allowed" and allowed["receipt"].startswith("rcpt_")
    client.outcome(allowed["decision_id"], status="executed", result={"stdout": "hi"})
    denied = client.decide({**ACTION, "args": {"command": "rm -rf /"}})
    assert denied["status"] == "denied" and denied["rule"] == "no_deletes"

    out = subprocess.run([BIN, "receipts", str(home / "ledger.sqlite"), "--format", "jsonl"], env=env,
                         capture_output=True, text=True, check=True)
    receipts = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["kind"] for r in receipts] == ["decision", "outcome", "decision"]
    for receipt in receipts:
        assert receipt["caller"] == {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(),
                                     "isolation": "same-user"}


def test_a_stopped_signer_is_an_error_never_an_allow(signer):
    address, process, _, _ = signer
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    with pytest.raises(CountersignError):
        Countersign(address, timeout=2).decide(ACTION)
