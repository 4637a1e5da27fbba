"""OpenHands SDK (`openhands-sdk` 1.x): every action event of a Conversation is decided by the Countersign Gate.

    from countersign.openhands import protect
    conversation = protect(Conversation(agent=agent, workspace="/work/repo"))
    conversation.send_message("fix the failing test"); conversation.run()

`protect` installs a security analyzer (`CountersignAnalyzer`) and the confirmation policy `ConfirmRisky`
on the conversation. The analyzer decides each action before it runs:

- allow: LOW risk, the action runs;
- deny (or a second key that said no, or an unreachable server): a hard block
  (`state.block_action`), not a confirmation prompt: the agent receives a rejection naming the rule and
  reason and goes on; an unreachable server is also raised from `conversation.run()` afterwards
  (`CountersignUnavailable`);
- ask: by default the analyzer waits for the second key in Countersign's inbox (dashboard or API). With
  `approvals="openhands"` the ask becomes OpenHands' own confirmation flow (HIGH risk ⇒
  WAITING_FOR_CONFIRMATION): calling `conversation.run()` again approves, `reject_pending_actions()`
  rejects, and that answer is recorded as the signed vote of the reviewer whose token is `reviewer_token` /
  COUNTERSIGN_REVIEWER_TOKEN (without one, an approval still waits for the inbox). With
  `approvals="terminal"` the person at the terminal (`tty`, default /dev/tty) is asked y/N, and the answer is
  that reviewer's signed vote.

Outcomes (the observation's text, exit code, error flag) are reported before the next decision and when
`run()` returns, so a command's output labels the session before any later action is decided.

Envelope: actor `openhands`; terminal ⇒ surface `shell`, intent `execute`, args.command; file editor ⇒
surface `file`, intent `read` for `view` else `write`, target the path; finish / think / task tracker ⇒
surface `agent`, intent `respond`; other tools ⇒ surface `tool`, intent from the name. args = the action's
fields; metadata.tool_call_id, metadata.action_id.
"""

import os
import threading

from . import ActionBlocked, CountersignError, CountersignUnavailable, jsonable
from ._mapping import intent_for, make_gate

__all__ = ["protect", "envelope_for"]

_SHELL_TOOLS = {"terminal", "bash", "execute_bash", "terminaltool", "bashtool"}
_FILE_TOOLS = {"file_editor", "str_replace_editor", "fileeditortool", "planning_file_editor"}
_AGENT_TOOLS = {"finish", "think", "task_tracker", "finishtool", "thinktool", "tasktrackertool"}


def envelope_for(gate, event):
    """The action envelope of an OpenHands ActionEvent."""
    tool = event.tool_name
    key = tool.lower()
    action = event.action
    try:
        args = action.model_dump(mode="json", exclude_none=True) if action is not None else {}
    except Exception:
        args = {"action": str(action)}
    args.pop("kind", None)
    target = None
    if key in _SHELL_TOOLS:
        surface, intent = "shell", "execute"
    elif key in _FILE_TOOLS:
        surface = "file"
        intent = "read" if args.get("command") == "view" else "write"
        target = args.get("path")
    elif key in _AGENT_TOOLS:
        surface, intent = "agent", "respond"
    else:
        surface, intent = "tool", intent_for(tool)
    metadata = {"framework": "openhands", "tool_call_id": event.tool_call_id, "action_id": event.id}
    return gate.envelope(surface, tool, intent, target, args, metadata, actor="openhands")


def _printable(value):
    """Text safe to show on a terminal: escapes and other control or invisible characters become \\uXXXX."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in str(value))


def _observation_result(event):
    observation = getattr(event, "observation", None)
    if observation is None:
        return "error", None, getattr(event, "error", None) or "the action failed"
    result = {"text": getattr(observation, "text", None) or str(observation)}
    for field in ("exit_code", "path", "command"):
        value = getattr(observation, field, None)
        if value is not None:
            result[field] = jsonable(value)
    status = "tool_error" if getattr(observation, "is_error", False) else "executed"
    return status, result, None


class _Guard:
    """The state shared by the analyzer and the conversation's wrapped methods."""

    def __init__(self, gate, approvals, tty="/dev/tty"):
        self.gate = gate
        self.approvals = approvals
        self.tty = tty
        self.state = None
        self.allowed = {}    # action_id -> allowed decision, until its outcome is reported
        self.pending = {}    # action_id -> pending decision (approvals="openhands")
        self.errors = []     # CountersignUnavailable / CountersignError met while deciding
        self.seen = 0        # events already scanned for outcomes
        self.calls = {}      # tool_call_id -> action_id of allowed actions
        self.lock = threading.RLock()

    def decide(self, event):
        from openhands.sdk.security.risk import SecurityRisk

        with self.lock:
            try:
                self.report_outcomes()
                action = envelope_for(self.gate, event)
                decision = self.gate.client.decide(action)
                if decision["status"] == "pending":
                    if self.approvals == "terminal":
                        decision = self.ask_terminal(decision, action)
                    if decision["status"] == "pending" and self.approvals == "openhands":
                        self.pending[event.id] = decision
                        return SecurityRisk.HIGH, {"countersign": "ask", "rule": decision.get("rule"),
                                                   "approval_id": decision.get("approval_id")}
                    decision = self.gate.client.wait(decision["decision_id"], timeout=self.gate.wait)
                decision = self.gate.settle(decision, event.tool_name)
            except ActionBlocked as blocked:
                self.block(event.id, str(blocked))
                return SecurityRisk.LOW, {"countersign": blocked.verdict, "rule": blocked.rule}
            except Exception as error:  # unreachable, refused or anything else: fail closed, then tell the user
                # (never raise here: OpenHands reads an analyzer that raised as HIGH risk, which a user could confirm)
                self.errors.append(error if isinstance(error, CountersignError) else CountersignError(0, repr(error)))
                self.block(event.id, f"Countersign could not decide this action, so it did not run: {error}")
                return SecurityRisk.LOW, {"countersign": "unavailable", "error": str(error)}
            self.allowed[event.id] = decision
            self.calls[event.tool_call_id] = event.id
            return SecurityRisk.LOW, {"countersign": decision.get("decision"), "rule": decision.get("rule"),
                                      "decision_id": decision["decision_id"]}

    def ask_terminal(self, decision, action):
        """Asks the person at the terminal (`tty`); the answer becomes the reviewer's signed vote."""
        if not self.gate.reviewer_token:
            raise CountersignError(401, "approvals='terminal' needs a reviewer token (COUNTERSIGN_REVIEWER_TOKEN)")
        reviewer = self.gate.client.reviewer(self.gate.reviewer_token)
        request = next((a for a in reviewer.approvals() if a.get("id") == decision.get("approval_id")), {})
        args = action.get("args", {})
        what = _printable(args.get("command") or args.get("path") or jsonable(args))
        rule = _printable(request.get("rule") or "(default)")
        reason = _printable(request.get("reason") or "a second key is needed")
        prompt = f"\nCountersign: {_printable(action['tool'])} wants to run: {what}\n  rule {rule}: {reason}\nApprove? [y/N] "
        fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, prompt.encode())
            line = b""
            while not line.endswith(b"\n") and len(line) < 256:
                chunk = os.read(fd, 1)
                if not chunk:
                    break
                line += chunk
        finally:
            os.close(fd)
        answer = line.decode(errors="replace").strip().lower()
        verdict = "approve" if answer in ("y", "yes") else "deny"
        note = f"{'approved' if verdict == 'approve' else 'denied'} at the terminal"
        return self.gate.answer(decision, verdict, note, reviewer=reviewer)

    def block(self, action_id, reason):
        self.state.block_action(action_id, reason)

    def answer_pending(self, verdict, note):
        """The user answered OpenHands' confirmation: record it, then block what is not allowed."""
        with self.lock:
            for action_id, decision in list(self.pending.items()):
                del self.pending[action_id]
                try:
                    current = self.gate.client.decision(decision["decision_id"])
                    if current["status"] == "pending" and self.gate.reviewer_token:
                        current = self.gate.answer(current, verdict, note)
                    if verdict == "approve" and current["status"] == "pending":
                        current = self.gate.client.wait(decision["decision_id"], timeout=self.gate.wait)
                    if verdict == "deny":
                        continue  # OpenHands records its own rejection; the action does not run
                    self.allowed[action_id] = self.gate.settle(current)
                except ActionBlocked as blocked:
                    self.block(action_id, str(blocked))
                except CountersignError as error:
                    self.errors.append(error)
                    self.block(action_id, f"Countersign could not decide this action, so it did not run: {error}")

    def report_outcomes(self):
        from openhands.sdk.event import AgentErrorEvent, ObservationEvent

        events = self.state.events
        total = len(events)
        for index in range(self.seen, total):
            event = events[index]
            if isinstance(event, ObservationEvent):
                action_id = event.action_id
            elif isinstance(event, AgentErrorEvent):
                action_id = getattr(event, "action_id", None) or self.calls.get(event.tool_call_id)
            else:
                continue
            decision = self.allowed.pop(action_id, None)
            if decision is not None:
                status, result, error = _observation_result(event)
                self.gate.outcome(decision, status, result=result, error=error)
        self.seen = total

    def raise_errors(self):
        if self.errors:
            error, self.errors = self.errors[0], []
            if isinstance(error, CountersignUnavailable):
                raise CountersignUnavailable(error.status, error.message)
            raise CountersignError(error.status, error.message)


_ANALYZER = None


def _analyzer_class():
    global _ANALYZER
    if _ANALYZER is None:
        from openhands.sdk.security.analyzer import SecurityAnalysis, SecurityAnalyzerBase
        from pydantic import PrivateAttr

        class CountersignAnalyzer(SecurityAnalyzerBase):
            """Decides every action through the Countersign Gate (see countersign.openhands)."""

            url: str = ""
            session_id: str = ""
            _guard: object = PrivateAttr(default=None)

            def security_risk(self, action):
                return self.analyze_action(action).risk

            def analyze_action(self, action):
                if self._guard is None:
                    raise CountersignError(0, "CountersignAnalyzer is installed by countersign.openhands.protect()")
                risk, details = self._guard.decide(action)
                return SecurityAnalysis(risk=risk, details=details)

        _ANALYZER = CountersignAnalyzer
    return _ANALYZER


def protect(conversation, *, url=None, token=None, session_id=None, approvals="inbox", wait=300,
            reviewer_token=None, gate=None, tty="/dev/tty"):
    """Installs the Countersign analyzer and confirmation policy on a local Conversation and returns it."""
    from openhands.sdk.security.confirmation_policy import ConfirmRisky
    from openhands.sdk.security.risk import SecurityRisk

    if approvals not in ("inbox", "openhands", "terminal"):
        raise ValueError("approvals must be 'inbox', 'openhands' or 'terminal'")
    from openhands.sdk.conversation.impl.local_conversation import LocalConversation

    if not isinstance(conversation, LocalConversation):  # a remote one would run its analyzer elsewhere
        raise TypeError(f"protect() takes a local OpenHands Conversation, not {type(conversation).__name__}")
    guard = _Guard(make_gate(url, token, session_id, "openhands", wait, reviewer_token, gate), approvals, tty)
    guard.state = conversation.state
    guard.seen = len(conversation.state.events)
    analyzer = _analyzer_class()(url=guard.gate.client.url, session_id=guard.gate.session_id)
    analyzer._guard = guard
    conversation.set_security_analyzer(analyzer)
    conversation.set_confirmation_policy(ConfirmRisky(threshold=SecurityRisk.HIGH, confirm_unknown=True))

    run, reject = conversation.run, conversation.reject_pending_actions

    def protected_run(*args, **kwargs):
        guard.answer_pending("approve", "approved in the OpenHands confirmation flow")
        try:
            result = run(*args, **kwargs)
        except BaseException:
            with guard.lock:
                guard.report_outcomes()
            raise
        with guard.lock:
            guard.report_outcomes()
        guard.raise_errors()
        return result

    def protected_reject(reason="User rejected the action", *args, **kwargs):
        guard.answer_pending("deny", reason)
        return reject(reason, *args, **kwargs)

    conversation.run = protected_run
    conversation.reject_pending_actions = protected_reject
    conversation.countersign = guard
    return conversation
