"""OpenHands SDK 1.58 through a real `countersign serve`: a real Conversation whose real TerminalTool runs
commands in a temporary git workspace, driven by the SDK's own `openhands.sdk.testing.TestLLM` (the model
is the only stand-in)."""

import json
import subprocess

import pytest
from openhands.sdk import Agent, Conversation
from openhands.sdk.event import ObservationEvent, UserRejectObservation
from openhands.sdk.llm import Message, MessageToolCall, TextContent
from openhands.sdk.testing import TestLLM
from openhands.sdk.tool import Tool
from openhands.tools.terminal import TerminalTool

from conftest import TOKENS, answer_next, kinds
from countersign import CountersignUnavailable
from countersign.openhands import protect


def command(call_id, text):
    return Message(role="assistant", content=[TextContent(text=f"running {text}")],
                   tool_calls=[MessageToolCall(id=call_id, name=TerminalTool.name,
                                               arguments=json.dumps({"command": text}), origin="completion")])


def done():
    return Message(role="assistant", content=[TextContent(text="All done.")])


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def workspace(tmp_path):
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(remote), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    (work / "important.txt").write_text("do not delete\n")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first", cwd=work)
    git("remote", "add", "origin", str(remote), cwd=work)
    return work


def conversation(workspace, *messages):
    agent = Agent(llm=TestLLM.from_messages([*messages, done()]),
                  tools=[Tool(name=TerminalTool.name, params={"terminal_type": "subprocess"})])
    return Conversation(agent=agent, workspace=str(workspace), visualizer=None)


def observations(conv):
    return {e.action_id: e.observation.text for e in conv.state.events if isinstance(e, ObservationEvent)}


def rejections(conv):
    return [e.rejection_reason for e in conv.state.events if isinstance(e, UserRejectObservation)]


def test_ls_runs_rm_rf_is_blocked_and_git_push_waits_for_the_reviewer(server, workspace):
    conv = protect(conversation(workspace, command("c1", "ls"), command("c2", "rm -rf important.txt"),
                                command("c3", "git push origin main")), url=server.url)
    reviewer = answer_next(server, "approve", "release")
    conv.send_message("list, clean up, publish")
    conv.run()
    assert reviewer.join()["rule"] == "pushes_need_a_second_key"

    assert (workspace / "important.txt").read_text() == "do not delete\n"  # the denied command never ran
    rejected, = rejections(conv)
    assert "destructive_commands_are_denied" in rejected and "Destructive or privileged commands" in rejected
    outputs = list(observations(conv).values())
    assert "important.txt" in outputs[0]
    assert git("log", "--oneline", "main", cwd=workspace.parent / "remote.git").strip().endswith("first")
    conv.close()

    receipts = server.stop_and_check_ledger()
    assert [(d["action"]["args"]["command"], d["decision"]) for d in kinds(receipts, "decision")] == [
        ("ls", "allow"), ("rm -rf important.txt", "deny"), ("git push origin main", "ask->approved")]
    assert [v["approvals"][0]["reviewer"] for v in kinds(receipts, "approval")] == ["alice"]
    outcomes = kinds(receipts, "outcome")
    assert [o["status"] for o in outcomes] == ["executed", "executed"]
    assert "important.txt" in outcomes[0]["result"]["preview"]


def test_an_answer_in_the_openhands_confirmation_flow_is_the_reviewers_vote(server, workspace):
    conv = protect(conversation(workspace, command("c1", "git push origin main"), command("c2", "git push origin main:other")),
                   url=server.url, approvals="openhands", reviewer_token=TOKENS["bob"])
    conv.send_message("publish")
    conv.run()
    assert conv.state.execution_status.value == "waiting_for_confirmation"
    assert git("branch", "--list", cwd=workspace.parent / "remote.git") == ""  # nothing pushed yet
    conv.run()  # the user confirms in OpenHands
    assert "main" in git("branch", "--list", cwd=workspace.parent / "remote.git")
    assert conv.state.execution_status.value == "waiting_for_confirmation"  # the second push asks again
    conv.reject_pending_actions("not that branch")
    assert "other" not in git("branch", "--list", cwd=workspace.parent / "remote.git")
    conv.close()

    receipts = server.stop_and_check_ledger()
    assert [(v["approvals"][0]["reviewer"], v["approvals"][0]["verdict"], v["approvals"][0]["note"])
            for v in kinds(receipts, "approval")] == [
        ("bob", "approve", "approved in the OpenHands confirmation flow"), ("bob", "reject", "not that branch")]
    assert [d["decision"] for d in kinds(receipts, "decision")] == ["ask->approved", "ask->rejected"]
    assert [o["status"] for o in kinds(receipts, "outcome")] == ["executed"]


def test_an_unreachable_server_blocks_the_action_and_run_raises(server, workspace):
    url = server.url
    server.stop()
    conv = protect(conversation(workspace, command("c1", "touch created.txt")), url=url)
    conv.send_message("make a file")
    with pytest.raises(CountersignUnavailable):
        conv.run()
    assert not (workspace / "created.txt").exists()
    assert "could not decide" in rejections(conv)[0]
    conv.close()


def test_an_allowed_command_runs_as_it_does_without_countersign(server, workspace):
    def listed(conv):
        observation, = [e.observation for e in conv.state.events if isinstance(e, ObservationEvent)]
        # the terminal's own prompt set-up noise varies from run to run; the command and its result do not
        return observation.command, observation.exit_code, "important.txt" in observation.text

    plain = conversation(workspace, command("c1", "ls"))
    plain.send_message("list")
    plain.run()
    protected = protect(conversation(workspace, command("c1", "ls")), url=server.url)
    protected.send_message("list")
    protected.run()
    assert listed(protected) == listed(plain) == ("ls", 0, True)
    plain.close()
    protected.close()
    receipts = server.stop_and_check_ledger()
    assert [(d["decision"], d["policy"]["rule_id"]) for d in kinds(receipts, "decision")] == [
        ("allow", "read_only_commands")]
    outcome, = kinds(receipts, "outcome")
    assert outcome["status"] == "executed"


def test_an_ask_answered_at_the_terminal_is_the_reviewers_vote(server, workspace):
    import os
    import threading

    controller, terminal = os.openpty()  # a real pseudo-terminal; the test types at its other end
    shown = []

    def person():
        text = b""
        while b"Approve? [y/N]" not in text:
            text += os.read(controller, 4096)
        shown.append(text.decode())
        os.write(controller, b"y\n")

    typing = threading.Thread(target=person, daemon=True)
    typing.start()
    conv = protect(conversation(workspace, command("c1", "git push origin main")), url=server.url,
                   approvals="terminal", reviewer_token=TOKENS["bob"], tty=os.ttyname(terminal))
    conv.send_message("publish")
    conv.run()
    typing.join(timeout=30)
    os.close(controller)
    os.close(terminal)
    assert "git push origin main" in shown[0] and "pushes_need_a_second_key" in shown[0]
    assert "main" in git("branch", "--list", cwd=workspace.parent / "remote.git")
    conv.close()
    receipts = server.stop_and_check_ledger()
    vote, = kinds(receipts, "approval")
    assert [(v["reviewer"], v["verdict"], v["note"]) for v in vote["approvals"]] == [
        ("bob", "approve", "approved at the terminal")]
    assert kinds(receipts, "decision")[0]["decision"] == "ask->approved"
