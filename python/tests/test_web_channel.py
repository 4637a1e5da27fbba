"""The `web` approval channel from other processes: a coding-agent hook and the MCP proxy wait in the
server's inbox until a reviewer answers (`--approval-server URL`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from conftest import BIN, answer_next

FIXTURE_SERVER = Path(__file__).resolve().parents[2] / "Tests" / "e2e" / "mcp" / "fixture_server.py"


def hook(server, command, slim=False):
    payload = {"session_id": "web-hook", "transcript_path": "/tmp/t.jsonl", "cwd": "/repo", "permission_mode": "default",
               "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": command},
               "tool_use_id": "toolu_1"}
    program = [BIN + "-hook"] if slim else [BIN, "hook"]
    done = subprocess.run(program + ["claude-code", "--policy", str(server.home / "policy.yaml"),
                           "--ledger", str(server.home / "hook-ledger.sqlite"), "--approval-server", server.url],
                          input=json.dumps(payload), capture_output=True, text=True, timeout=60, cwd=str(server.home))
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr


@pytest.mark.parametrize("verdict,expected,slim", [("approve", "allow", False), ("deny", "deny", False),
                                                   ("approve", "allow", True)])
def test_a_hook_waits_for_the_inbox(server, verdict, expected, slim):
    """`countersign hook` and the slim `countersign-hook` (which hands --approval-server calls to it)."""
    reviewer = answer_next(server, verdict, f"{verdict} from the inbox")
    code, answer, err = hook(server, "git push origin main", slim=slim)
    reviewer.join()
    assert code == 0, err
    output = answer["hookSpecificOutput"]
    assert output["permissionDecision"] == expected
    assert ("ask->approved" if expected == "allow" else "ask->rejected") in output["permissionDecisionReason"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_mcp_proxy_waits_for_the_inbox(server, anyio_backend):
    policy = server.home / "mcp-policy.yaml"
    policy.write_text("default_decision: ask\nrules:\n  - {id: reads, when: {intent: read}, decision: allow}\n")
    params = StdioServerParameters(
        command=BIN, args=["mcp", "proxy", "--policy", str(policy), "--ledger", str(server.home / "mcp.sqlite"),
                           "--approval", "web", "--approval-server", server.url, "--", sys.executable,
                           str(FIXTURE_SERVER)], cwd=str(server.home),
        env=dict(os.environ))  # the SDK's default environment would drop the trust file's location
    reviewer = answer_next(server, "approve", "send it")
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("send", {"to": "bob@example.com", "body": "hi"})
    reviewer.join()
    assert not result.is_error and result.content[0].text == "sent to bob@example.com: hi"
