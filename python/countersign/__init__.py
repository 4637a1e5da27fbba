"""Client for the Countersign decision API (`countersign serve`, docs/api.md).

    from countersign import Countersign
    cs = Countersign("http://127.0.0.1:8787")
    decision = cs.decide({"actor": "my-agent", "surface": "shell", "tool": "shell.exec",
                          "intent": "execute", "args": {"command": "git push"}})
    if decision["status"] == "pending":
        decision = cs.wait(decision["decision_id"], timeout=300)   # a reviewer approves in the dashboard
    if decision["status"] == "allowed":
        ...run it..., then cs.outcome(decision["decision_id"], "executed", result=output)

Only the standard library is used.
"""

import json
import time
import urllib.error
import urllib.request

__all__ = ["Countersign", "CountersignError", "ProtectedAgent"]


class CountersignError(Exception):
    """The server refused a request (the message is the server's `error`), or could not be reached."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Countersign:
    def __init__(self, url="http://127.0.0.1:8787", token=None, timeout=30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None, timeout=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                message = error.reason
            raise CountersignError(error.code, message) from None
        except urllib.error.URLError as error:
            raise CountersignError(0, f"cannot reach {self.url}: {error.reason}") from None

    def decide(self, action, wait=0):
        """Decides one action envelope. `status` is allowed, denied, or pending (a second key is needed)."""
        return self._request("POST", "/v1/decide", {"action": action, "wait": wait}, timeout=self.timeout + wait)

    def wait(self, decision_id, timeout=300):
        """Waits for a pending decision (long-polling in 30 s steps) until it is decided or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            step = max(0, min(30, deadline - time.monotonic()))
            decision = self._request("GET", f"/v1/decisions/{decision_id}?wait={step:.3f}", timeout=step + self.timeout)
            if decision.get("status") != "pending" or time.monotonic() >= deadline:
                return decision

    def outcome(self, decision_id, status="executed", result=None, error=None):
        """Reports what happened; the result's values feed the session's labels (taint)."""
        body = {"decision_id": decision_id, "status": status}
        if result is not None:
            body["result"] = result
        if error is not None:
            body["error"] = str(error)
        return self._request("POST", "/v1/outcome", body)

    def protect(self, agent, wait=300):
        """Wraps an agent with `plan(task)` and `execute_action(action)`: blocked actions never run."""
        return ProtectedAgent(agent, self, wait)


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
            self._client.outcome(decision["decision_id"], "executed", result=_jsonable(result))
            entry.update(status="executed", result=result)
            report.append(entry)
        return report

    def __getattr__(self, name):
        return getattr(self._agent, name)


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)
