"""OpenAI Agents SDK 0.24 through a real `countersign serve`: `Runner.run` with the SDK's own
`agents.testing.ScriptedModel` (the model is the only stand-in), real function tools and a real MCP server
(the `mcp` package's MCPServer over stdio, started by the SDK's MCPServerStdio)."""

import asyncio
import sys
import textwrap

import pytest
from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled
from agents.mcp import MCPServerStdio
from agents.testing import ScriptedModel, assistant_message, function_call

from conftest import TOKENS, answer_next, kinds
from countersign import CountersignUnavailable
from countersign.openai_agents import protect

set_tracing_disabled(True)
RAN = []


@function_tool
def delete_repository(repo: str) -> str:
    """Delete a repository."""
    RAN.append(("delete_repository", repo))
    return f"deleted {repo}"


@function_tool
def get_issue(number: int) -> str:
    """Read one issue."""
    RAN.append(("get_issue", number))
    return f"Issue {number}: the login page is slow"


@function_tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    RAN.append(("send_email", to))
    return f"sent to {to}"


@pytest.fixture(autouse=True)
def clean():
    RAN.clear()


def script(*calls):
    return ScriptedModel([[call] for call in calls] + [[assistant_message("done")]])


def run(agent, text="go"):
    return asyncio.run(Runner.run(agent, text, run_config=RunConfig(tracing_disabled=True)))


def tool_outputs(result):
    return [item.output for item in result.new_items if item.type == "tool_call_output_item"]


def test_a_denied_function_tool_never_runs_and_the_agent_sees_the_refusal(server):
    model = script(function_call("delete_repository", {"repo": "acme/api"}, call_id="c1"))
    agent = protect(Agent(name="ops", model=model, tools=[delete_repository, get_issue]), url=server.url)
    result = run(agent)
    assert RAN == []
    refusal, = tool_outputs(result)
    assert "destructive_tools_are_denied" in refusal and "Tools that delete data are denied." in refusal
    # the model's next call received the refusal as the tool's output
    assert any("destructive_tools_are_denied" in str(item) for item in model.last_call.input)
    assert result.final_output == "done"
    receipts = server.stop_and_check_ledger()
    decision, = kinds(receipts, "decision")
    assert (decision["decision"], decision["policy"]["rule_id"]) == ("deny", "destructive_tools_are_denied")
    assert decision["action"]["actor"] == "openai-agents" and decision["action"]["args"] == {"repo": "acme/api"}


def test_an_allowed_tool_gives_the_same_result_and_its_outcome_is_reported(server):
    plain = run(Agent(name="ops", model=script(function_call("get_issue", {"number": 7}, call_id="c2")),
                      tools=[get_issue]))
    protected = run(protect(Agent(name="ops", model=script(function_call("get_issue", {"number": 7}, call_id="c2")),
                                  tools=[get_issue]), url=server.url))
    assert tool_outputs(protected) == tool_outputs(plain) == ["Issue 7: the login page is slow"]
    assert protected.final_output == plain.final_output
    receipts = server.stop_and_check_ledger()
    decision, = kinds(receipts, "decision")
    outcome, = kinds(receipts, "outcome")
    assert decision["decision"] == "allow" and outcome["status"] == "executed"
    assert outcome["action_hash"] == decision["action_hash"]


def test_an_ask_waits_for_the_reviewer_in_the_inbox(server):
    model = script(function_call("send_email", {"to": "cfo@example.com", "body": "Q3"}, call_id="c3"))
    reviewer = answer_next(server, "approve", "expected")
    result = run(protect(Agent(name="ops", model=model, tools=[send_email]), url=server.url))
    assert reviewer.join()["rule"] == "email_needs_a_second_key"
    assert RAN == [("send_email", "cfo@example.com")] and tool_outputs(result) == ["sent to cfo@example.com"]
    receipts = server.stop_and_check_ledger()
    assert [r["kind"] for r in receipts if r["kind"] != "event"] == ["approval", "decision", "outcome"]


def test_an_ask_through_the_sdk_approval_flow_records_the_users_answer(server):
    model = script(function_call("send_email", {"to": "team@example.com", "body": "hi"}, call_id="c4"))
    agent = protect(Agent(name="ops", model=model, tools=[send_email]), url=server.url, approvals="sdk",
                    reviewer_token=TOKENS["bob"])
    first = run(agent)
    interruption, = first.interruptions
    assert interruption.name == "send_email" and RAN == []
    state = first.to_state()
    state.approve(interruption)
    resumed = asyncio.run(Runner.run(agent, state, run_config=RunConfig(tracing_disabled=True)))
    assert RAN == [("send_email", "team@example.com")] and resumed.final_output == "done"
    receipts = server.stop_and_check_ledger()
    vote, = kinds(receipts, "approval")
    assert [(v["reviewer"], v["verdict"]) for v in vote["approvals"]] == [("bob", "approve")]
    assert kinds(receipts, "decision")[0]["decision"] == "ask->approved"
    assert kinds(receipts, "outcome")[0]["status"] == "executed"


MCP_SERVER = textwrap.dedent("""
    from mcp.server.mcpserver import MCPServer
    server = MCPServer("files")

    @server.tool()
    def delete_file(path: str) -> str:
        open(path + ".deleted", "w").write("ran")
        return "deleted " + path

    @server.tool()
    def read_note(path: str) -> str:
        return open(path).read()

    server.run()
""")


def test_mcp_tools_are_decided_too(server, tmp_path):
    script_file = tmp_path / "files_server.py"
    script_file.write_text(MCP_SERVER)
    note = tmp_path / "note.txt"
    note.write_text("meeting at noon")

    async def scenario():
        async with MCPServerStdio(params={"command": sys.executable, "args": [str(script_file)]}, name="files",
                                  cache_tools_list=True) as files:
            model = script(function_call("delete_file", {"path": str(note)}, call_id="m1"),
                           function_call("read_note", {"path": str(note)}, call_id="m2"))
            agent = protect(Agent(name="files-agent", model=model, mcp_servers=[files]), url=server.url)
            return await Runner.run(agent, "tidy up", run_config=RunConfig(tracing_disabled=True))

    result = asyncio.run(scenario())
    refusal, read = tool_outputs(result)
    assert "destructive_tools_are_denied" in refusal and not (tmp_path / "note.txt.deleted").exists()
    assert "meeting at noon" in str(read)
    receipts = server.stop_and_check_ledger()
    decisions = kinds(receipts, "decision")
    assert [(d["action"]["surface"], d["action"]["tool"], d["decision"]) for d in decisions] == [
        ("mcp", "files.delete_file", "deny"), ("mcp", "files.read_note", "allow")]
    assert kinds(receipts, "outcome")[0]["status"] == "executed"


def test_an_unreachable_server_stops_the_run_before_the_tool(server):
    url = server.url
    server.stop()
    agent = protect(Agent(name="ops", model=script(function_call("get_issue", {"number": 1}, call_id="c5")),
                          tools=[get_issue]), url=url)
    with pytest.raises(CountersignUnavailable):
        run(agent)
    assert RAN == []
