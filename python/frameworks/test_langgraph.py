"""LangGraph 1.2 / langchain-core 1.8 through a real `countersign serve`: a hand-built graph driven by
langchain_core's FakeMessagesListChatModel (the model is the only stand-in; the tools and graph are real)."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

from conftest import TOKENS, answer_next, kinds
from countersign import ActionBlocked, CountersignUnavailable
from countersign.langgraph import protect

OUTBOX = []
DELETED = []


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    OUTBOX.append({"to": to, "subject": subject, "body": body})
    return f"sent to {to}"


@tool
def delete_account(user: str) -> str:
    """Delete a user account."""
    DELETED.append(user)
    return f"deleted {user}"


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"{city}: 21 degrees, light wind"


@pytest.fixture(autouse=True)
def clean():
    OUTBOX.clear()
    DELETED.clear()


def call(name, args, call_id):
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def graph(tools, *calls):
    """agent → tools → agent …: the fake model answers with the scripted tool calls, then "done"."""
    model = FakeMessagesListChatModel(responses=[*calls, AIMessage(content="done")])
    node = tools if isinstance(tools, ToolNode) else ToolNode(tools)

    def agent(state):
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", node)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


def run(app, text, thread="t1"):
    return app.invoke({"messages": [HumanMessage(content=text)]}, {"configurable": {"thread_id": thread}})


def tool_messages(result):
    return [(m.name, m.content, m.status) for m in result["messages"] if isinstance(m, ToolMessage)]


def test_an_allowed_call_gives_the_same_result_as_an_unprotected_one(server):
    weather = call("get_weather", {"city": "Lisbon"}, "c1")
    plain = run(graph([get_weather], weather), "weather?")
    protected = run(graph(protect(ToolNode([get_weather]), url=server.url), weather), "weather?")
    assert tool_messages(protected) == tool_messages(plain) == [("get_weather", "Lisbon: 21 degrees, light wind",
                                                                 "success")]
    receipts = server.stop_and_check_ledger()
    decision, = kinds(receipts, "decision")
    assert (decision["decision"], decision["policy"]["rule_id"]) == ("allow", "reads")
    outcome, = kinds(receipts, "outcome")
    assert outcome["status"] == "executed"


def test_an_ask_interrupts_the_graph_and_it_resumes_after_the_reviewer_approves(server):
    app = graph(protect(ToolNode([send_email]), url=server.url, interrupt=True),
                call("send_email", {"to": "cfo@example.com", "subject": "Q3", "body": "numbers attached"}, "c2"))
    paused = run(app, "mail the CFO")
    request, = paused["__interrupt__"]
    assert request.value["tool"] == "send_email" and request.value["args"]["to"] == "cfo@example.com"
    assert OUTBOX == []  # nothing sent while the graph waits

    reviewer = server.reviewer()
    approval, = reviewer.pending()
    assert approval["rule"] == "email_needs_a_second_key"
    reviewer.answer(approval["id"], "approve", "the CFO asked for it")

    done = app.invoke(Command(resume="reviewed"), {"configurable": {"thread_id": "t1"}})
    assert OUTBOX == [{"to": "cfo@example.com", "subject": "Q3", "body": "numbers attached"}]
    assert tool_messages(done) == [("send_email", "sent to cfo@example.com", "success")]

    receipts = server.stop_and_check_ledger()
    decision, = kinds(receipts, "decision")
    assert decision["decision"] == "ask->approved"
    vote, = kinds(receipts, "approval")
    assert vote["approvals"][0]["reviewer"] == "alice"
    outcome, = kinds(receipts, "outcome")
    assert outcome["status"] == "executed" and outcome["action_hash"] == decision["action_hash"]


def test_a_verdict_given_when_resuming_is_the_reviewers_signed_vote(server):
    app = graph(protect([send_email], url=server.url, interrupt=True, reviewer_token=TOKENS["bob"]),
                call("send_email", {"to": "all@example.com", "subject": "hi", "body": "spam"}, "c3"))
    assert run(app, "mail everyone")["__interrupt__"]
    done = app.invoke(Command(resume={"verdict": "deny", "note": "not to everyone"}),
                      {"configurable": {"thread_id": "t1"}})
    assert OUTBOX == []
    (name, content, status), = tool_messages(done)
    assert status == "error" and "email_needs_a_second_key" in content and "ask->rejected" in content

    receipts = server.stop_and_check_ledger()
    vote, = kinds(receipts, "approval")
    assert [(v["reviewer"], v["verdict"], v["note"]) for v in vote["approvals"]] == [
        ("bob", "reject", "not to everyone")]
    assert kinds(receipts, "decision")[0]["decision"] == "ask->rejected"
    assert kinds(receipts, "outcome") == []


def test_without_interrupt_an_ask_waits_for_the_inbox(server):
    app = graph(protect(ToolNode([send_email]), url=server.url),
                call("send_email", {"to": "ops@example.com", "subject": "deploy", "body": "done"}, "c4"))
    reviewer = answer_next(server, "approve", "fine")
    done = run(app, "tell ops")
    assert reviewer.join()["rule"] == "email_needs_a_second_key"
    assert OUTBOX and tool_messages(done)[0][2] == "success"


def test_a_denied_call_never_reaches_the_tool_and_the_model_sees_why(server):
    tools = protect([delete_account, get_weather], url=server.url)
    done = run(graph(tools, call("delete_account", {"user": "alice"}, "c5")), "clean up")
    assert DELETED == []
    (name, content, status), = tool_messages(done)
    assert status == "error" and "destructive_tools_are_denied" in content and "Tools that delete data" in content
    with pytest.raises(ActionBlocked) as blocked:
        tools[0].invoke({"user": "bob"})  # called directly, outside a graph
    assert blocked.value.rule == "destructive_tools_are_denied" and DELETED == []
    receipts = server.stop_and_check_ledger()
    assert [d["decision"] for d in kinds(receipts, "decision")] == ["deny", "deny"]


def test_an_unreachable_server_means_the_tool_does_not_run(server):
    url = server.url
    server.stop()
    app = graph(protect(ToolNode([send_email]), url=url),
                call("send_email", {"to": "x@example.com", "subject": "s", "body": "b"}, "c6"))
    with pytest.raises(CountersignUnavailable):
        run(app, "mail")
    assert OUTBOX == []


def test_async_graphs_are_decided_the_same_way(server):
    import asyncio

    app = graph(protect(ToolNode([delete_account, get_weather]), url=server.url),
                call("delete_account", {"user": "carol"}, "c7"), call("get_weather", {"city": "Porto"}, "c8"))
    done = asyncio.run(app.ainvoke({"messages": [HumanMessage(content="x")]}, {"configurable": {"thread_id": "a"}}))
    assert DELETED == []
    assert [(name, status) for name, _, status in tool_messages(done)] == [("delete_account", "error"),
                                                                          ("get_weather", "success")]
    receipts = server.stop_and_check_ledger()
    assert [d["decision"] for d in kinds(receipts, "decision")] == ["deny", "allow"]
    assert [o["status"] for o in kinds(receipts, "outcome")] == ["executed"]
