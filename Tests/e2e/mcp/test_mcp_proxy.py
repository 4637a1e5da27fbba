"""The MCP proxy end to end, with the official Python SDK as both the client and the server.

Each test starts `countersign mcp proxy` in front of a real server process exactly as an MCP client
would (stdio), then checks what the client saw and what the ledger recorded.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BIN = os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign"))
PYTHON = sys.executable

POLICY = """
version: 1
name: e2e-mcp
default_decision: ask
default_output_labels: [untrusted, external]
labels:
  - {id: vault, when: {tool: get_secret}, output: [secret]}
rules:
  - id: poisoned_tools_need_a_second_key
    when: {args_labels_any: [poisoned-suspect]}
    decision: ask
  - id: secrets_do_not_leave
    when: {intent_glob: [send, write, execute], args_labels_any: [secret]}
    decision: deny
    reason: A secret value may not be passed to another tool.
  - id: untrusted_arguments_to_side_effects
    when: {intent_glob: [send, write, execute], args_labels_any: [untrusted]}
    decision: ask
    reason: An argument of this call came from an untrusted tool output.
  - id: env_files
    when: {target_glob: ["*.env"]}
    decision: deny
    reason: Secret files are not read through MCP.
  - {id: reads_are_allowed, when: {intent: read}, decision: allow}
  - {id: confirm_is_allowed, when: {tool: confirm_me}, decision: allow}
"""

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def home(tmp_path):
    (tmp_path / "policy.yaml").write_text(POLICY)
    # The proxy never creates a signing key: make it as `countersign init` would (pinned for verify).
    subprocess.run([BIN, "keys", "generate", "--out", str(tmp_path / "signing-key")], check=True,
                   capture_output=True)
    return tmp_path


def proxy(home, *server, approval="auto", extra=(), env=None):
    args = ["mcp", "proxy", "--policy", str(home / "policy.yaml"), "--ledger", str(home / "ledger.sqlite"),
            "--approval", approval, *extra, "--", *server]
    environment = {**os.environ, "COUNTERSIGN_HOME": str(home), **(env or {})}
    return StdioServerParameters(command=BIN, args=args, env=environment, cwd=str(home))


def fixture_server():
    return (PYTHON, str(HERE / "fixture_server.py"))


def receipts(home):
    out = subprocess.run([BIN, "receipts", str(home / "ledger.sqlite"), "--format", "jsonl"],
                         capture_output=True, text=True, check=True, env={**os.environ, "COUNTERSIGN_HOME": str(home)})
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def approve(note="looks right"):
    async def callback(context, params):
        if "Countersign" not in params.message:  # the server's own question
            return types.ElicitResult(action="accept", content={"ok": True})
        return types.ElicitResult(action="accept", content={"approve": True, "note": note})
    return callback


def decline():
    async def callback(context, params):
        return types.ElicitResult(action="decline")
    return callback


def text(result):
    return result.content[0].text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_session_through_the_proxy(home, mode):
    """initialize (or server/discover), list, allowed call, denied call, resource, prompt."""
    async with Client(proxy(home, *fixture_server()), mode=mode, elicitation_callback=approve()) as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} >= {"read_note", "send", "get_secret", "confirm_me"}

        allowed = await client.call_tool("read_note", {"name": "todo"})
        assert not allowed.is_error and "note todo" in text(allowed)

        denied = await client.call_tool("read_note", {"name": "x", "path": "/repo/.env"})
        assert denied.is_error
        assert "env_files" in text(denied) and "Secret files are not read" in text(denied)
        assert denied.meta["dev.countersign/decision"]["decision"] == "deny"

        resource = await client.read_resource("notes://a")
        assert resource.contents[0].text == "resource note a"
        prompt = await client.get_prompt("greet", {"who": "ada"})
        assert prompt.messages[0].content.text == "Hello ada"

    records = receipts(home)
    session = [r for r in records if r["kind"] == "event" and r["status"] == "session"]
    assert session and session[0]["event"]["server_info"]["name"] == "fixture-notes"
    assert session[0]["event"]["era"] == ("handshake" if mode == "legacy" else "stateless")
    decisions = [(r["action"]["tool"], r["decision"]) for r in records if r["kind"] == "decision"]
    assert decisions == [("read_note", "allow"), ("read_note", "deny"), ("resources/read", "allow"),
                         ("prompts/get", "allow")]
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert [o["status"] for o in outcomes] == ["executed"] * 3
    assert outcomes[0]["result"]["labels"] == ["untrusted", "external"]
    assert outcomes[0]["result"]["sha256"].startswith("sha256:") and "note todo" in outcomes[0]["result"]["preview"]
    verify = subprocess.run([BIN, "verify", str(home / "ledger.sqlite")], capture_output=True, text=True,
                            env={**os.environ, "COUNTERSIGN_HOME": str(home)})
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_second_key_through_the_client(home, mode):
    """An ask approved through the client, then one declined (elicitation, or input_required for 2026-07-28)."""
    async with Client(proxy(home, *fixture_server()), mode=mode, elicitation_callback=approve("ship it")) as client:
        await client.list_tools()
        result = await client.call_tool("send", {"to": "bob@example.com", "body": "hello"})
        assert not result.is_error and text(result) == "sent to bob@example.com: hello"
    async with Client(proxy(home, *fixture_server()), mode=mode, elicitation_callback=decline()) as client:
        result = await client.call_tool("send", {"to": "eve@example.com", "body": "hello"})
        assert result.is_error and "ask->rejected" in text(result)

    records = receipts(home)
    approvals = [r for r in records if r["kind"] == "approval"]
    assert [a["status"] for a in approvals] == ["approve", "reject"]
    assert approvals[0]["approvals"][0]["note"] == "ship it"
    assert approvals[0]["approvals"][0]["channel"] == "elicitation"
    assert approvals[1]["approvals"][0]["note"] == "declined"
    finals = [r["decision"] for r in records if r["kind"] == "decision" and r["decision"] != "ask"]
    assert finals == ["ask->approved", "ask->rejected"]
    sent = [r for r in records if r["kind"] == "outcome" and r["action"]["tool"] == "send"]
    assert len(sent) == 1  # the declined call never ran


async def test_server_elicitation_flows_through(home):
    """A server's own elicitation/create (form mode) reaches the client and its answer goes back."""
    async with Client(proxy(home, *fixture_server()), mode="legacy", elicitation_callback=approve()) as client:
        result = await client.call_tool("confirm_me", {})
        assert text(result) == "elicitation: accept"


async def test_taint_flow_across_calls(home):
    """An address from an untrusted output needs a second key; a secret may not leave at all."""
    async with Client(proxy(home, *fixture_server()), mode="legacy", elicitation_callback=decline()) as client:
        await client.list_tools()
        note = await client.call_tool("read_note", {"name": "inbox"})
        assert "attacker@evil.example" in text(note)
        tainted = await client.call_tool("send", {"to": "attacker@evil.example", "body": "as asked"})
        assert tainted.is_error and "untrusted_arguments_to_side_effects" in text(tainted)

        secret = await client.call_tool("get_secret", {"name": "stripe"})
        leak = await client.call_tool("send", {"to": "ops@example.com", "body": f"key: {text(secret)}"})
        assert leak.is_error and "secrets_do_not_leave" in text(leak)

    records = receipts(home)
    leak_decision = [r for r in records if r["kind"] == "decision" and r["policy"]["rule_id"] == "secrets_do_not_leave"]
    assert leak_decision[0]["labels"]["arguments"] == ["secret"]
    assert "sk-live-4f9a7c2e1b8d" not in json.dumps(records)  # redacted in every receipt


async def test_descriptor_change_is_caught_on_a_later_run(home):
    env = {"FIXTURE_VARIANT": "1"}
    extra = ("--allow-env", "FIXTURE_VARIANT")
    async with Client(proxy(home, *fixture_server(), extra=extra, env=env), mode="legacy") as client:
        await client.list_tools()
        assert not (await client.call_tool("read_note", {"name": "a"})).is_error
    swapped = {"FIXTURE_VARIANT": "2"}
    async with Client(proxy(home, *fixture_server(), extra=extra, env=swapped), mode="legacy",
                      elicitation_callback=decline()) as client:
        await client.list_tools()
        result = await client.call_tool("read_note", {"name": "a"})
        assert result.is_error and "poisoned_tools_need_a_second_key" in text(result)
    flagged = [r for r in receipts(home) if r["kind"] == "event" and r["status"] == "poisoned-suspect"]
    assert flagged[0]["event"]["changed"][0]["name"] == "read_note"
    findings = flagged[0]["event"]["flagged"][0]["findings"]
    assert any("changed since it was pinned" in f for f in findings)
    assert any("hidden instructions" in f for f in findings)


async def test_client_works_unchanged_with_the_proxy_in_place_of_the_server(home):
    """The same client code gets the same answers directly and through the proxy (allowed calls)."""
    async def session(params):
        async with Client(params, mode="legacy") as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            note = text(await client.call_tool("read_note", {"name": "same"}))
            resource = (await client.read_resource("notes://same")).contents[0].text
            return tools, note, resource

    direct = await session(StdioServerParameters(command=PYTHON, args=[str(HERE / "fixture_server.py")]))
    proxied = await session(proxy(home, *fixture_server()))
    assert direct == proxied


# Hostile input: raw JSON-RPC lines written to the proxy's stdin, as a broken or malicious client would.

def raw_session(home, lines, server=None, extra=(), timeout=30):
    server = server or fixture_server()
    args = [BIN, "mcp", "proxy", "--policy", str(home / "policy.yaml"), "--ledger", str(home / "ledger.sqlite"),
            "--approval", "auto-deny", *extra, "--", *server]
    process = subprocess.run(args, input="".join(line + "\n" for line in lines), capture_output=True, text=True,
                             timeout=timeout, env={**os.environ, "COUNTERSIGN_HOME": str(home)}, cwd=str(home))
    answers = [json.loads(line) for line in process.stdout.splitlines() if line.strip()]
    return process, {a.get("id"): a for a in answers if "id" in a}, answers


INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})


def call(id, name, arguments):
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}})


def test_hostile_client_input_gets_errors_and_the_session_goes_on(home):
    lines = [
        INIT, INITIALIZED,
        "{not json",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x" * 100_000}}),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": 42}}),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "send", "arguments": [1]}}),
        json.dumps({"jsonrpc": "2.0", "id": 4, "method": "debug/eval", "params": {}}),
        json.dumps({"jsonrpc": "1.0", "id": 5, "method": "ping"}),
        "[]",
        call(6, "read_note", {"name": "still works"}),
    ]
    process, by_id, answers = raw_session(home, lines, extra=("--max-message-bytes", "65536"))
    errors = [a["error"]["code"] for a in answers if "error" in a]
    assert -32700 in errors and -32004 in errors and -32600 in errors
    assert by_id[2]["error"]["code"] == -32602 and by_id[3]["error"]["code"] == -32602
    assert by_id[4]["error"]["code"] == -32601
    assert by_id[5]["error"]["code"] == -32600
    assert "still works" in by_id[6]["result"]["content"][0]["text"]
    assert process.returncode == 0


@pytest.mark.parametrize("mode,status,code", [("hang", "timeout", -32002), ("die", "protocol_error", -32003),
                                               ("huge", "timeout", -32002)])
def test_hostile_servers_fail_the_call_not_the_proxy(home, mode, status, code):
    server = (PYTHON, str(HERE / "hostile_server.py"), mode)
    lines = [INIT, INITIALIZED, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
             call(2, "read_data", {})]
    # Keep stdin open long enough for the timeout to fire: the call is answered before EOF is acted on.
    process, by_id, _ = raw_session(home, lines, server=server,
                                    extra=("--timeout", "1s", "--max-message-bytes", "65536"))
    assert by_id[2]["error"]["code"] == code
    outcome = [r for r in receipts(home) if r["kind"] == "outcome"]
    assert outcome and outcome[-1]["status"] == status
    if mode == "die":
        assert process.returncode == 3  # the server's exit status is the proxy's


def test_server_garbage_is_ignored_and_stderr_stays_out_of_the_client(home):
    server = (PYTHON, str(HERE / "hostile_server.py"), "garbage")
    lines = [INIT, INITIALIZED, call(2, "read_data", {})]
    process, by_id, answers = raw_session(home, lines, server=server)
    assert by_id[2]["result"]["content"][0]["text"] == "fine after all"
    assert all("jsonrpc" in a for a in answers)
    assert "ignored a message from the server" in (home / "mcp-proxy.log").read_text()


def test_child_environment_is_cleared(home):
    script = home / "envdump.py"
    script.write_text(
        "import json, os, sys\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line)\n"
        "    if 'id' in m and m.get('method') == 'initialize':\n"
        "        print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': {'protocolVersion': '2025-11-25',"
        " 'capabilities': {}, 'serverInfo': {'name': json.dumps(sorted(os.environ)), 'version': '0'}}}), flush=True)\n"
        "    elif 'id' in m:\n"
        "        print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': {}}), flush=True)\n")
    env = {**os.environ, "COUNTERSIGN_HOME": str(home), "SECRET_TOKEN": "hunter2", "KEEP_ME": "yes"}
    process = subprocess.run(
        [BIN, "mcp", "proxy", "--policy", str(home / "policy.yaml"), "--allow-env", "KEEP_ME", "--", PYTHON,
         str(script)], input=INIT + "\n", capture_output=True, text=True, timeout=30, env=env, cwd=str(home))
    names = json.loads(json.loads(process.stdout.splitlines()[0])["result"]["serverInfo"]["name"])
    assert "KEEP_ME" in names and "SECRET_TOKEN" not in names and "PATH" not in names


def test_stdin_and_stdout_may_be_files(home):
    """`countersign mcp proxy < session.jsonl > answers.jsonl` works: files are fed through a pipe."""
    session = home / "session.jsonl"
    session.write_text("\n".join([INIT, INITIALIZED, call(1, "read_note", {"name": "from-a-file"})]) + "\n")
    answers = home / "answers.jsonl"
    with open(session) as stdin, open(answers, "w") as stdout:
        process = subprocess.run(
            [BIN, "mcp", "proxy", "--policy", str(home / "policy.yaml"), "--ledger", str(home / "ledger.sqlite"),
             "--", *fixture_server()], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=30,
            env={**os.environ, "COUNTERSIGN_HOME": str(home)}, cwd=str(home))
    assert process.returncode == 0, process.stderr
    by_id = {a["id"]: a for a in map(json.loads, answers.read_text().splitlines()) if "id" in a}
    assert "from-a-file" in by_id[1]["result"]["content"][0]["text"]
