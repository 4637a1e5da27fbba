"""Client for the Countersign decision API (`countersign serve`, docs/api.md).

    from countersign import Countersign
    cs = Countersign()            # COUNTERSIGN_SIGNER / COUNTERSIGN_URL, COUNTERSIGN_TOKEN, else http://127.0.0.1:8787
    decision = cs.decide({"actor": "my-agent", "surface": "shell", "tool": "shell.exec",
                          "intent": "execute", "args": {"command": "git push"}})
    if decision["status"] == "pending":
        decision = cs.wait(decision["decision_id"], timeout=300)   # a reviewer approves in the dashboard
    if decision["status"] == "allowed":
        ...run it..., then cs.outcome(decision["decision_id"], "executed", result=output)

The server is reached over HTTP (`http://`, `https://`) or HTTP/1.1 over a Unix socket (`unix:///path` or an
absolute path). Every failure to get a well-formed answer raises `CountersignUnavailable`: callers must then
not run the action (fail closed). `Gate` wraps the four calls for the framework integrations
(`countersign.langgraph`, `countersign.openai_agents`, `countersign.openhands`, `countersign.browser_use`).

Only the standard library is used.
"""

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
import uuid

__all__ = [
    "Countersign", "CountersignError", "CountersignUnavailable", "ActionBlocked", "ApprovalPending", "Gate",
    "ProtectedAgent", "Reviewer", "default_url", "jsonable",
]

DEFAULT_URL = "http://127.0.0.1:8787"
_MAX_ANSWER = 16 * 1024 * 1024


class CountersignError(Exception):
    """The server refused a request (the message is the server's `error`), or could not be reached."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class CountersignUnavailable(CountersignError):
    """No usable answer: the server is down, timed out, answered 5xx, or sent something that is not the API's
    JSON. The action must not run."""


class ActionBlocked(CountersignError):
    """The Gate did not allow the action: denied by a rule, or a second key rejected it or expired."""

    def __init__(self, decision, tool=None):
        self.decision = decision
        self.tool = tool
        self.rule = decision.get("rule")
        self.reason = decision.get("reason") or ""
        self.verdict = decision.get("decision") or decision.get("status", "denied")
        self.decision_id = decision.get("decision_id")
        what = f" {tool}" if tool else ""
        message = f"Countersign blocked{what}: {self.verdict} by rule {self.rule or '(default)'}"
        if self.reason:
            message += f": {self.reason}"
        super().__init__(403, message)

    def __str__(self):
        return self.message


class ApprovalPending(CountersignError):
    """A second key is needed and the caller chose not to wait (`wait=0`)."""

    def __init__(self, decision, tool=None):
        self.decision = decision
        self.decision_id = decision.get("decision_id")
        self.approval_id = decision.get("approval_id")
        super().__init__(202, f"Countersign: {tool or 'the action'} waits for a second key ({self.approval_id})")


def default_url():
    """`COUNTERSIGN_SIGNER` (the signer service's socket), else `COUNTERSIGN_URL`, else the local default."""
    return os.environ.get("COUNTERSIGN_SIGNER") or os.environ.get("COUNTERSIGN_URL") or DEFAULT_URL


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _endpoint(url):
    """(scheme, host, port, unix path, base path) of a server address; ValueError when it is not one."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("empty Countersign address")
    url = url.strip()
    if url.startswith("/"):
        return "unix", None, None, url, ""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "unix":
        path = urllib.parse.unquote(parsed.path)
        if not path.startswith("/"):
            raise ValueError(f"a unix:// address needs an absolute socket path: {url!r}")
        return "unix", None, None, path, ""
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"not an http://, https:// or unix:// address: {url!r}")
    return parsed.scheme, parsed.hostname, parsed.port, None, parsed.path.rstrip("/")


class Countersign:
    def __init__(self, url=None, token=None, timeout=30.0):
        self.url = (url or default_url()).rstrip("/")
        self.token = token if token is not None else os.environ.get("COUNTERSIGN_TOKEN")
        self.timeout = timeout
        self._scheme, self._host, self._port, self._socket_path, self._base = _endpoint(self.url)

    def _connection(self, timeout):
        if self._scheme == "unix":
            return _UnixConnection(self._socket_path, timeout)
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _request(self, method, path, body=None, timeout=None, token=None, headers=None):
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        bearer = token or self.token
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        connection = self._connection(timeout or self.timeout)
        try:
            connection.request(method, self._base + path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read(_MAX_ANSWER + 1)
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            reason = "timed out" if isinstance(error, (socket.timeout, TimeoutError)) else str(error) or type(error).__name__
            raise CountersignUnavailable(0, f"cannot reach {self.url}: {reason}") from None
        finally:
            connection.close()
        if len(raw) > _MAX_ANSWER:
            raise CountersignUnavailable(status, "the answer is too large")
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
            if 200 <= status < 300:
                raise CountersignUnavailable(status, "the answer is not JSON") from None
        if status >= 500:
            message = answer.get("error") if isinstance(answer, dict) else None
            raise CountersignUnavailable(status, message or f"server error {status}")
        if status >= 400:
            message = answer.get("error") if isinstance(answer, dict) else None
            raise CountersignError(status, message or f"HTTP {status}")
        if not 200 <= status < 300 or not isinstance(answer, dict):
            raise CountersignUnavailable(status, "the answer is not a JSON object")
        return answer

    def decide(self, action, wait=0):
        """Decides one action envelope. `status` is allowed, denied, or pending (a second key is needed)."""
        answer = self._request("POST", "/v1/decide", {"action": action, "wait": wait}, timeout=self.timeout + wait)
        return _checked_decision(answer)

    def decision(self, decision_id, wait=0):
        """One decision, long-polling up to `wait` seconds while it is pending."""
        path = f"/v1/decisions/{urllib.parse.quote(decision_id, safe='')}?wait={wait:.3f}"
        return _checked_decision(self._request("GET", path, timeout=wait + self.timeout))

    def wait(self, decision_id, timeout=300):
        """Waits for a pending decision (long-polling in 30 s steps) until it is decided or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            step = max(0, min(30, deadline - time.monotonic()))
            decision = self.decision(decision_id, wait=step)
            if decision.get("status") != "pending" or time.monotonic() >= deadline:
                return decision

    def outcome(self, decision_id, status="executed", result=None, error=None):
        """Reports what happened; the result's values feed the session's labels (taint)."""
        body = {"decision_id": decision_id, "status": status}
        if result is not None:
            body["result"] = jsonable(result)
        if error is not None:
            body["error"] = str(error)
        return self._request("POST", "/v1/outcome", body)

    def receipts(self, **filters):
        """Receipts, newest first (`trace_id`, `session_id`, `status`, `decision`, `rule_id`, `kind`, `limit`)."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._request("GET", "/v1/receipts" + (f"?{query}" if query else ""))

    def reviewer(self, token):
        """Signs a reviewer in with their own token (for answers given in a framework's confirmation flow)."""
        return Reviewer(self, token)

    def protect(self, agent, wait=300):
        """Wraps an agent with `plan(task)` and `execute_action(action)`: blocked actions never run."""
        return ProtectedAgent(agent, self, wait)


def _checked_decision(answer):
    if answer.get("status") not in ("allowed", "denied", "pending") or not isinstance(answer.get("decision_id"), str):
        raise CountersignUnavailable(200, "the answer is not a decision")
    return answer


class Reviewer:
    """A reviewer voting through the approvals API (the same calls as the dashboard)."""

    def __init__(self, client, token):
        self._client = client
        self._token = token
        session = client._request("POST", "/v1/session", {}, token=token)
        if not isinstance(session.get("csrf"), str):
            raise CountersignUnavailable(200, "the answer is not a reviewer session")
        self.id = (session.get("reviewer") or {}).get("id")
        self._csrf = session["csrf"]

    def approvals(self):
        """The requests this reviewer may answer, and recently closed ones (rule, reason, preview, votes...)."""
        answer = self._client._request("GET", "/v1/approvals", token=self._token)
        if not isinstance(answer.get("approvals"), list):
            raise CountersignUnavailable(200, "the answer is not an approvals list")
        return answer["approvals"]

    def vote(self, approval_id, verdict, note=""):
        """`verdict` is approve or deny; the vote becomes a signed approval receipt naming this reviewer."""
        if verdict not in ("approve", "deny"):
            raise ValueError(f"verdict must be approve or deny, not {verdict!r}")
        path = f"/v1/approvals/{urllib.parse.quote(approval_id, safe='')}/{verdict}"
        return self._client._request("POST", path, {"note": note}, token=self._token,
                                     headers={"X-Countersign-CSRF": self._csrf})


class Gate:
    """What every framework integration does around one tool call: decide (waiting for a second key when the
    policy asks), run only when allowed, report the outcome. Fail closed: any error before the action runs
    means it does not run."""

    def __init__(self, client=None, *, url=None, token=None, session_id=None, actor="agent", wait=300,
                 reviewer_token=None):
        self.client = client or Countersign(url, token)
        self.session_id = session_id or os.environ.get("COUNTERSIGN_SESSION_ID") or f"py-{uuid.uuid4().hex[:16]}"
        self.actor = actor
        self.wait = wait
        self.reviewer_token = reviewer_token if reviewer_token is not None else os.environ.get(
            "COUNTERSIGN_REVIEWER_TOKEN")

    def envelope(self, surface, tool, intent, target=None, args=None, metadata=None, actor=None):
        action = {"actor": actor or self.actor, "surface": surface, "tool": tool, "intent": intent,
                  "args": jsonable(args or {}), "session_id": self.session_id}
        if target:
            action["target"] = str(target)
        if metadata:
            action["metadata"] = jsonable(metadata)
        return action

    def decide(self, action, wait=None):
        """The decision (allowed), after waiting for a second key; raises ActionBlocked or ApprovalPending."""
        decision = self.client.decide(action)
        if decision["status"] == "pending":
            budget = self.wait if wait is None else wait
            if budget <= 0:
                raise ApprovalPending(decision, action.get("tool"))
            decision = self.client.wait(decision["decision_id"], timeout=budget)
        return self.settle(decision, action.get("tool"))

    def settle(self, decision, tool=None):
        if decision["status"] == "allowed":
            return decision
        if decision["status"] == "pending":
            decision = {**decision, "decision": "ask->pending", "reason": "no second key arrived in time"}
        raise ActionBlocked(decision, tool)

    def answer(self, decision, verdict, note="", reviewer=None):
        """Records a verdict given in the framework's own confirmation flow as a reviewer's signed vote
        (needs `reviewer_token` / COUNTERSIGN_REVIEWER_TOKEN), then returns the decision as it stands."""
        if reviewer is None:
            if not self.reviewer_token:
                raise CountersignError(401, "no reviewer token (COUNTERSIGN_REVIEWER_TOKEN) to record the answer with")
            reviewer = self.client.reviewer(self.reviewer_token)
        reviewer.vote(decision["approval_id"], verdict, note)
        return self.client.decision(decision["decision_id"], wait=5)

    def outcome(self, decision, status="executed", result=None, error=None):
        return self.client.outcome(decision["decision_id"], status, result=result, error=error)

    def run(self, action, function, *args, **kwargs):
        """Decides `action`, calls `function(*args, **kwargs)` only when allowed, reports the outcome."""
        decision = self.decide(action)
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            self.outcome(decision, "error", error=error)
            raise
        self.outcome(decision, "executed", result=result)
        return result


class ProtectedAgent:
    """`run(task)` plans, decides each action, runs only allowed ones and reports every outcome."""

    def __init__(self, agent, client, wait=300):
        self._agent = agent
        self._client = client
        self._wait = wait

    def run(self, task):
        report = []
        for action in self._agent.plan(task):
            decision = self._client.decide(action)
            if decision.get("status") == "pending":
                decision = self._client.wait(decision["decision_id"], timeout=self._wait)
            entry = {"tool": action.get("tool"), "target": action.get("target"), "decision": decision.get("decision"),
                     "rule": decision.get("rule"), "decision_id": decision.get("decision_id")}
            if decision.get("status") != "allowed":
                entry.update(status="blocked", error=f"{decision.get('decision', 'pending')}: {decision.get('reason', '')}")
                report.append(entry)
                continue
            try:
                result = self._agent.execute_action(action)
            except Exception as error:  # the failure is recorded, then raised to the caller as usual
                self._client.outcome(decision["decision_id"], "error", error=error)
                raise
            self._client.outcome(decision["decision_id"], "executed", result=jsonable(result))
            entry.update(status="executed", result=result)
            report.append(entry)
        return report

    def __getattr__(self, name):
        return getattr(self._agent, name)


def jsonable(value, _depth=0):
    """A JSON-compatible copy: mappings and sequences kept, pydantic models and dataclasses dumped, others as text."""
    if _depth > 32:
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), _depth + 1)
        except Exception:
            pass
    return str(value)


_jsonable = jsonable
