"""LangGraph / LangChain: every tool call is decided by the Countersign Gate before it runs.

    from countersign.langgraph import protect
    tools = protect([send_email, search])            # or protect(ToolNode([...])), or protect(one_tool)

Envelope: actor `langgraph`, surface `tool`, tool = the tool's name, intent from its name (send_email → send,
get_* → read, write/delete → write, else execute; `intents={"name": "send"}` overrides), target = the first of
url / to / recipient / path / ... in the arguments, args = the model's arguments, metadata.tool_call_id.

A denied call never reaches the tool: inside a graph it becomes an error `ToolMessage` naming the rule and
reason (the model sees the refusal); a direct `invoke` with plain arguments raises `ActionBlocked`. An ask waits
for the second key (the server's inbox), or, with `interrupt=True`, pauses the graph with LangGraph's
`interrupt` (needs a checkpointer): resume with `Command(resume=...)` once a reviewer answered in the dashboard,
or resume with `{"verdict": "approve"|"deny", "note": ...}` to record that answer as a signed vote of the
reviewer whose token is `reviewer_token` / COUNTERSIGN_REVIEWER_TOKEN. LangChain and LangGraph are imported
lazily.
"""

from typing import ClassVar

from . import ActionBlocked, ApprovalPending, CountersignError, jsonable
from ._mapping import intent_for, make_gate, parse_verdict, target_for

__all__ = ["protect", "ToolGate"]

RESUME_WAIT = 5  # seconds a resumed call waits for a decision still pending before interrupting again


class ToolGate:
    """Decides one LangChain tool call; shared by protected tools and protected ToolNodes."""

    def __init__(self, gate, intents=None, interrupt=False, actor="langgraph"):
        self.gate = gate
        self.intents = dict(intents or {})
        self.interrupt = interrupt
        self.actor = actor
        self._pending = {}

    def envelope(self, name, args, call_id=None):
        args = args if isinstance(args, dict) else {"input": args}
        metadata = {"framework": "langgraph"}
        if call_id:
            metadata["tool_call_id"] = call_id
        return self.gate.envelope("tool", name, self.intents.get(name) or intent_for(name), target_for(args), args,
                                  metadata, actor=self.actor)

    def decide(self, name, args, call_id=None):
        """The allowed decision, or raises ActionBlocked (and, with interrupt=True, pauses the graph on ask)."""
        decision = self._pending.get(call_id) if call_id else None
        if decision is None:
            action = self.envelope(name, args, call_id)
            decision = self.gate.client.decide(action)
            if decision["status"] != "pending":
                return self.gate.settle(decision, name)
            if not self.interrupt:
                if self.gate.wait <= 0:
                    raise ApprovalPending(decision, name)
                return self.gate.settle(self.gate.client.wait(decision["decision_id"], timeout=self.gate.wait), name)
            if call_id:
                self._pending[call_id] = decision
        return self._interrupt(name, args, call_id, decision)

    def _interrupt(self, name, args, call_id, decision):
        from langgraph.types import interrupt

        while True:
            answer = interrupt({"countersign": "approval", "tool": name, "args": jsonable(args),
                                "decision_id": decision["decision_id"], "approval_id": decision.get("approval_id"),
                                "action_hash": decision.get("action_hash")})
            verdict, note = parse_verdict(answer)
            # Resumed without a verdict: the reviewer answered elsewhere; give the server a moment to close it.
            current = self.gate.client.decision(decision["decision_id"], wait=0 if verdict else RESUME_WAIT)
            if current["status"] == "pending" and verdict:
                if self.gate.reviewer_token:
                    try:
                        current = self.gate.answer(current, verdict, note)
                    except CountersignError as error:
                        if error.status != 409:  # 409: already closed by another reviewer
                            raise
                        current = self.gate.client.decision(decision["decision_id"])
                elif verdict == "deny":  # a local denial needs no signature: the action just does not run
                    self._pending.pop(call_id, None)
                    raise ActionBlocked({**current, "decision": "ask->rejected",
                                         "reason": note or "denied when the graph was resumed"}, name)
            if current["status"] != "pending":
                self._pending.pop(call_id, None)
                return self.gate.settle(current, name)

    def outcome(self, decision, result):
        from langchain_core.messages import ToolMessage

        if isinstance(result, ToolMessage):
            status = "tool_error" if result.status == "error" else "executed"
            self.gate.outcome(decision, status, result=result.content)
        elif type(result).__name__ == "Command":
            self.gate.outcome(decision, "executed", result=jsonable(getattr(result, "update", None)))
        else:
            self.gate.outcome(decision, "executed", result=result)

    def refusal(self, error, name, call_id):
        from langchain_core.messages import ToolMessage

        return ToolMessage(content=str(error), name=name, tool_call_id=call_id, status="error")

    # ToolNode(wrap_tool_call=...) / (awrap_tool_call=...)
    def wrap(self, request, execute):
        call = request.tool_call
        try:
            decision = self.decide(call["name"], call.get("args", {}), call.get("id"))
        except ActionBlocked as blocked:
            return self.refusal(blocked, call["name"], call.get("id"))
        try:
            result = execute(request)
        except Exception as error:
            self.gate.outcome(decision, "error", error=error)
            raise
        self.outcome(decision, result)
        return result

    async def awrap(self, request, execute):
        import asyncio

        call = request.tool_call
        try:
            decision = await asyncio.to_thread(self.decide, call["name"], call.get("args", {}), call.get("id")) \
                if not self.interrupt else self.decide(call["name"], call.get("args", {}), call.get("id"))
        except ActionBlocked as blocked:
            return self.refusal(blocked, call["name"], call.get("id"))
        try:
            result = await execute(request)
        except Exception as error:
            await asyncio.to_thread(self.gate.outcome, decision, "error", None, error)
            raise
        await asyncio.to_thread(self.outcome, decision, result)
        return result


def _model_args(tool, args):
    """The arguments the model chose (injected state, runtime and tool_call_id left out)."""
    if not isinstance(args, dict):
        return args
    try:
        fields = getattr(tool.tool_call_schema, "model_fields", None)
    except Exception:
        fields = None
    return {k: v for k, v in args.items() if fields is None or k in fields}


def _protect_tool(tool, tool_gate):
    from langchain_core.tools import BaseTool

    base = type(tool)

    def _split(self, input):
        if isinstance(input, dict) and input.get("type") == "tool_call" and "args" in input:
            return _model_args(self, input["args"]), input.get("id")
        return _model_args(self, input), None

    def invoke(self, input, config=None, **kwargs):
        args, call_id = _split(self, input)
        try:
            decision = self.countersign.decide(self.name, args, call_id)
        except ActionBlocked as blocked:
            if call_id:
                return self.countersign.refusal(blocked, self.name, call_id)
            raise
        try:
            result = base.invoke(self, input, config, **kwargs)
        except Exception as error:
            self.countersign.gate.outcome(decision, "error", error=error)
            raise
        self.countersign.outcome(decision, result)
        return result

    async def ainvoke(self, input, config=None, **kwargs):
        import asyncio

        args, call_id = _split(self, input)
        try:
            decision = await asyncio.to_thread(self.countersign.decide, self.name, args, call_id)
        except ActionBlocked as blocked:
            if call_id:
                return self.countersign.refusal(blocked, self.name, call_id)
            raise
        try:
            result = await base.ainvoke(self, input, config, **kwargs)
        except Exception as error:
            await asyncio.to_thread(self.countersign.gate.outcome, decision, "error", None, error)
            raise
        await asyncio.to_thread(self.countersign.outcome, decision, result)
        return result

    assert isinstance(tool, BaseTool)
    protected_class = type(f"Countersign{base.__name__}", (base,), {
        "__annotations__": {"countersign": ClassVar[ToolGate]}, "countersign": tool_gate,
        "invoke": invoke, "ainvoke": ainvoke, "__module__": __name__})
    protected = tool.model_copy()
    protected.__class__ = protected_class
    return protected


def protect(obj, *, url=None, token=None, session_id=None, intents=None, interrupt=False, wait=300,
            reviewer_token=None, gate=None):
    """A protected copy of a LangChain tool, a list of tools, or a LangGraph `ToolNode` (a new node with the same
    tools and settings whose every call is decided first). One session (for taint) per call of protect."""
    from langchain_core.tools import BaseTool
    from langgraph.prebuilt import ToolNode

    tool_gate = ToolGate(make_gate(url, token, session_id, "langgraph", wait, reviewer_token, gate), intents,
                         interrupt)
    if isinstance(obj, ToolNode):
        previous, aprevious = obj._wrap_tool_call, obj._awrap_tool_call

        def wrap(request, execute):
            inner = execute if previous is None else (lambda r: previous(r, execute))
            return tool_gate.wrap(request, inner)

        async def awrap(request, execute):
            inner = execute if aprevious is None else (lambda r: aprevious(r, execute))
            return await tool_gate.awrap(request, inner)

        # A sync-only wrapper the node already had keeps the node's own sync fallback for async runs.
        use_async = aprevious is not None or previous is None
        return ToolNode(list(obj.tools_by_name.values()), name=obj.name, tags=obj.tags,
                        handle_tool_errors=obj._handle_tool_errors, messages_key=obj._messages_key,
                        wrap_tool_call=wrap, awrap_tool_call=awrap if use_async else None)
    if isinstance(obj, BaseTool):
        return _protect_tool(obj, tool_gate)
    if isinstance(obj, (list, tuple)):
        if not all(isinstance(t, BaseTool) for t in obj):
            raise TypeError("protect() takes LangChain tools (decorate functions with @tool first)")
        return [_protect_tool(t, tool_gate) for t in obj]
    raise TypeError(f"protect() takes a LangChain tool, a list of tools or a ToolNode, not {type(obj).__name__}")
