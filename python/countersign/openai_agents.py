"""OpenAI Agents SDK: every function tool and MCP tool call is decided by the Countersign Gate before it runs.

    from countersign.openai_agents import protect
    agent = protect(Agent(name="ops", tools=[send_email, delete_repository], mcp_servers=[github]))

Each function tool gets a tool input guardrail (the decision) and a tool output guardrail (the outcome);
each MCP server of the agent gets the same pair through its `tool_input_guardrails` /
`tool_output_guardrails`. Envelope: actor `openai-agents`, surface `tool` (function tools) or `mcp`
(tool = `server.tool`), intent from the tool's name (`intents=` overrides), target = the first of url / to /
recipient / path / ... in the arguments, args = the model's JSON arguments, metadata.agent and
metadata.tool_call_id.

Denied (or a second key that said no): the tool does not run and the model receives
"Countersign blocked <tool>: deny by rule <rule>: <reason>" as the tool's result (`reject_content`); the run
goes on. An ask waits for the second key in the server's inbox; with `approvals="sdk"` it instead becomes the
SDK's own human-in-the-loop interruption (`needs_approval`): `result.interruptions` lists it, and
`state.approve(item)` then resuming records that answer as the signed vote of the reviewer whose token is
`reviewer_token` / COUNTERSIGN_REVIEWER_TOKEN (without one, the tool waits for the inbox after the SDK
approval). An unreachable or broken server raises `CountersignUnavailable` out of `Runner.run`: nothing runs.
"""

import asyncio
import copy
import json

from . import ActionBlocked, CountersignError
from ._mapping import intent_for, make_gate, target_for

__all__ = ["protect", "AgentsGate"]


class AgentsGate:
    def __init__(self, gate, intents=None, approvals="inbox"):
        if approvals not in ("inbox", "sdk"):
            raise ValueError("approvals must be 'inbox' or 'sdk'")
        self.gate = gate
        self.intents = dict(intents or {})
        self.approvals = approvals
        self._decisions = {}  # tool_call_id -> decision (allowed, pending or refused)

    def envelope(self, surface, name, args, call_id, agent_name):
        args = args if isinstance(args, dict) else {"input": args}
        metadata = {"framework": "openai-agents", "tool_call_id": call_id}
        if agent_name:
            metadata["agent"] = agent_name
        return self.gate.envelope(surface, name, self.intents.get(name) or intent_for(name.split(".")[-1]),
                                  target_for(args), args, metadata, actor="openai-agents")

    def _first_decision(self, surface, name, args, call_id, agent_name):
        decision = self._decisions.get(call_id)
        if decision is None:
            decision = self.gate.client.decide(self.envelope(surface, name, args, call_id, agent_name))
            self._decisions[call_id] = decision
        return decision

    def _final_decision(self, surface, name, args, call_id, agent_name, approved_in_sdk):
        decision = self._first_decision(surface, name, args, call_id, agent_name)
        if decision["status"] == "pending":
            if approved_in_sdk and self.gate.reviewer_token:
                decision = self.gate.answer(decision, "approve", "approved in the Agents SDK run")
            if decision["status"] == "pending":
                decision = self.gate.client.wait(decision["decision_id"], timeout=self.gate.wait)
            self._decisions[call_id] = decision
        return decision

    def input_guardrail(self, surface, display_name=None):
        from agents import ToolGuardrailFunctionOutput, ToolInputGuardrail

        async def countersign_decide(data):
            context = data.context
            name = display_name(context.tool_name) if display_name else context.tool_name
            args = _arguments(context.tool_arguments)
            approved = None
            is_approved = getattr(context, "is_tool_approved", None)
            if callable(is_approved):
                approved = is_approved(context.tool_name, context.tool_call_id)
            try:
                decision = await asyncio.to_thread(self._final_decision, surface, name, args, context.tool_call_id,
                                                   getattr(data.agent, "name", None), approved is True)
            except CountersignError as error:
                raise _surfaced(error) from None
            try:
                self.gate.settle(decision, name)
            except ActionBlocked as blocked:
                self._decisions.pop(context.tool_call_id, None)
                return ToolGuardrailFunctionOutput.reject_content(str(blocked), output_info=blocked.decision)
            return ToolGuardrailFunctionOutput.allow(output_info={"decision_id": decision["decision_id"],
                                                                  "decision": decision.get("decision")})

        return ToolInputGuardrail(guardrail_function=countersign_decide, name="countersign")

    def output_guardrail(self):
        from agents import ToolGuardrailFunctionOutput, ToolOutputGuardrail

        async def countersign_outcome(data):
            decision = self._decisions.pop(data.context.tool_call_id, None)
            if decision is not None and decision.get("status") == "allowed":
                try:
                    await asyncio.to_thread(self.gate.outcome, decision, "executed", _output(data.output))
                except CountersignError as error:
                    raise _surfaced(error) from None
            return ToolGuardrailFunctionOutput.allow()

        return ToolOutputGuardrail(guardrail_function=countersign_outcome, name="countersign")

    def needs_approval(self, surface, name, previous):
        async def countersign_needs_approval(run_context, params, call_id):
            if previous is True:
                return True
            if callable(previous) and await previous(run_context, params, call_id):
                return True
            decision = await asyncio.to_thread(self._first_decision, surface, name, params, call_id, None)
            return decision["status"] == "pending"

        return countersign_needs_approval


_SURFACED = {}


def _surfaced(error):
    """The same error as a subclass of the SDK's AgentsException, which `Runner.run` raises unchanged (it
    would wrap any other exception from a tool in a UserError)."""
    from agents.exceptions import AgentsException

    base = type(error)
    if base not in _SURFACED:
        _SURFACED[base] = type(base.__name__, (base, AgentsException), {"__module__": __name__})
    surfaced = _SURFACED[base].__new__(_SURFACED[base])
    CountersignError.__init__(surfaced, error.status, error.message)
    surfaced.run_data = None
    return surfaced


def _arguments(text):
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"input": text}
    return value if isinstance(value, dict) else {"input": value}


def _output(value):
    text = getattr(value, "text", None)
    return text if isinstance(text, str) else value


def _protect_function_tool(tool, agents_gate):
    protected = copy.copy(tool)
    protected.tool_input_guardrails = [*(tool.tool_input_guardrails or []), agents_gate.input_guardrail("tool")]
    protected.tool_output_guardrails = [*(tool.tool_output_guardrails or []), agents_gate.output_guardrail()]
    if agents_gate.approvals == "sdk":
        protected.needs_approval = agents_gate.needs_approval("tool", tool.name, tool.needs_approval)
    return protected


def _protect_mcp_server(server, agents_gate):
    """Adds the pair of guardrails to an MCP server (in place: the SDK builds its tools at run time)."""
    if any(getattr(g, "name", None) == "countersign" for g in server.tool_input_guardrails or []):
        return server
    prefix = getattr(server, "name", "mcp")
    server.tool_input_guardrails = [*(server.tool_input_guardrails or []),
                                    agents_gate.input_guardrail("mcp", lambda tool: f"{prefix}.{tool}")]
    server.tool_output_guardrails = [*(server.tool_output_guardrails or []), agents_gate.output_guardrail()]
    return server


def protect(obj, *, url=None, token=None, session_id=None, intents=None, approvals="inbox", wait=300,
            reviewer_token=None, gate=None):
    """A protected copy of an `Agent` (its function tools and MCP servers) or of a `FunctionTool`."""
    from agents import Agent, FunctionTool

    agents_gate = AgentsGate(make_gate(url, token, session_id, "openai-agents", wait, reviewer_token, gate),
                             intents, approvals)
    if isinstance(obj, FunctionTool):
        return _protect_function_tool(obj, agents_gate)
    if isinstance(obj, Agent):
        tools = [_protect_function_tool(t, agents_gate) if isinstance(t, FunctionTool) else t for t in obj.tools]
        for server in obj.mcp_servers:
            _protect_mcp_server(server, agents_gate)
        return obj.clone(tools=tools)
    raise TypeError(f"protect() takes an Agent or a FunctionTool, not {type(obj).__name__}")
