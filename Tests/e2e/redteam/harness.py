"""Drivers for the red-team suite: real `countersign` / `countersign-hook` processes, real files.

Everything here runs the built binaries exactly as an agent or an MCP client would: one process per
hook call with the payload on stdin, `policy eval` / `policy test` for decisions without side effects,
and a line-oriented JSON-RPC client that talks to `countersign mcp proxy` over pipes.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign"))
HOOK_BIN = str(Path(BIN).parent / "countersign-hook")
POLICIES = ROOT / "examples" / "policies"
PYTHON = sys.executable

# The two ways an agent runs the hook (docs/hooks.md): same options, same answers, same exit codes.
EXECUTABLES = {"countersign hook": [BIN, "hook"], "countersign-hook": [HOOK_BIN]}
DIALECTS = ["claude-code", "codex", "gemini", "cursor"]


class Problems:
    """Collects every unsafe behaviour a class test observes, so one run reports all members at once."""

    def __init__(self, title):
        self.title = title
        self.items = []

    def add(self, member, observed):
        self.items.append(f"- {member}: {observed}")

    def check(self, condition, member, observed):
        if not condition:
            self.add(member, observed)
        return condition

    def assert_none(self):
        assert not self.items, f"{self.title} ({len(self.items)} unsafe):\n" + "\n".join(self.items)


def parallel(function, items, workers=4):
    """`function` over `items` in a few threads (each call is its own process), results in order. Hook
    processes run concurrently in real agents too: they share the ledger and session store."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def environment(state, **extra):
    """The environment of a Countersign process: its state directory, and nothing of the caller's keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUNTERSIGN_")}
    env["COUNTERSIGN_HOME"] = str(state)
    env.update(extra)
    return env


class Result:
    def __init__(self, process):
        self.code = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr

    @property
    def answer(self):
        """The JSON answer on stdout, None when stdout is empty, or the string 'unparseable'."""
        text = self.stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return "unparseable"

    def __repr__(self):
        return f"exit {self.code}, stdout {self.stdout.strip()[:200]!r}, stderr {self.stderr.strip()[:200]!r}"


def run(args, *, input=b"", env=None, cwd=None, timeout=60):
    if isinstance(input, str):
        input = input.encode("utf-8", "surrogatepass")
    process = subprocess.run(args, input=input, capture_output=True, env=env, cwd=cwd, timeout=timeout)
    process.stdout = process.stdout.decode("utf-8", "replace")
    process.stderr = process.stderr.decode("utf-8", "replace")
    return Result(process)


class HookSite:
    """One project as an agent sees it: a state directory, a policy, a ledger and a session store, all in
    a temporary directory; every call is a fresh hook process, as the agent runs it."""

    def __init__(self, tmp, policy, dialect="claude-code", executable="countersign-hook"):
        self.dir = Path(tmp)
        self.state = self.dir / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        if isinstance(policy, Path):
            self.policy = policy
        else:
            self.policy = self.dir / "policy.yaml"
            self.policy.write_text(policy)
        self.dialect = dialect
        self.executable = executable
        self.ledger = self.state / "ledger.sqlite"
        self.sessions = self.state / "sessions.sqlite"
        self._ready = False
        self._ready_lock = threading.Lock()

    def warm(self):
        """Set-up before any concurrent calls, as `countersign install` does it: the signing key (hooks never
        create one), then one call that creates the ledger and the session store."""
        with self._ready_lock:
            if self._ready:
                return
            self._ready = True
            ensure_key(self.state)
            prompt = {"claude-code": ("UserPromptSubmit", "session_id"), "codex": ("UserPromptSubmit", "session_id"),
                      "gemini": ("BeforeAgent", "session_id"), "cursor": ("beforeSubmitPrompt", "conversation_id")}
            event, session_key = prompt[self.dialect]
            payload = {session_key: "warm-up", "hook_event_name": event, "prompt": "hello", "cwd": str(self.dir)}
            run(self.args(), input=json.dumps(payload), env=environment(self.state), cwd=self.dir)

    def args(self, dialect=None):
        return [*EXECUTABLES[self.executable], dialect or self.dialect, "--policy", str(self.policy),
                "--ledger", str(self.ledger), "--sessions", str(self.sessions)]

    def call(self, payload, dialect=None):
        self.warm()
        raw = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return run(self.args(dialect), input=raw, env=environment(self.state), cwd=self.dir)

    def decide(self, payload, dialect=None):
        """What the agent does with the answer: allow (the tool runs without a human), ask, deny."""
        return verdict(dialect or self.dialect, self.call(payload, dialect))

    def receipts(self):
        return receipts(self.ledger, self.state)


def verdict(dialect, result):
    """Reads a decision answer the way the agent does. Exit 2 blocks; any other non-zero exit is a
    non-blocking hook error, after which the agent runs the tool; an empty answer lets the tool run
    (Claude Code then applies its own permission settings, Codex runs it)."""
    if result.code == 2:
        return "deny"
    if result.code != 0:
        return "allow"
    answer = result.answer
    if answer is None or answer == {}:
        return "allow"
    if not isinstance(answer, dict):
        return "allow"
    if dialect in ("claude-code", "codex"):
        decision = (answer.get("hookSpecificOutput") or {}).get("permissionDecision")
        return decision or "allow"
    if dialect == "gemini":
        return {"block": "deny"}.get(answer.get("decision"), answer.get("decision") or "allow")
    return answer.get("permission") or "allow"


def ensure_key(state):
    """The signing key of a state directory, made (and pinned in the test run's trust file) if missing."""
    key = Path(state) / "signing-key"
    if not key.exists():
        made = run([BIN, "keys", "generate", "--out", str(key)], env=environment(state))
        assert made.code == 0, made.stderr
    return key


def receipts(ledger, state):
    result = run([BIN, "receipts", str(ledger), "--format", "json"], env=environment(state))
    if result.code != 0:
        return []
    return json.loads(result.stdout)


def strings(value):
    """Every string value in a JSON document (keys and nulls left out)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# Payloads, as the agents send them (docs/hooks.md).

def claude_pre(session, tool, tool_input, use_id, cwd="/repo", event="PreToolUse"):
    return {"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": cwd, "permission_mode": "default",
            "hook_event_name": event, "tool_name": tool, "tool_input": tool_input, "tool_use_id": use_id}


def claude_post(session, tool, tool_input, response, use_id, cwd="/repo"):
    payload = claude_pre(session, tool, tool_input, use_id, cwd, event="PostToolUse")
    payload["tool_response"] = response
    return payload


def claude_prompt(session, text, cwd="/repo"):
    return {"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": cwd, "permission_mode": "default",
            "hook_event_name": "UserPromptSubmit", "prompt": text}


def policy_eval(policy, action, state, prompts=()):
    args = [BIN, "policy", "eval", "--policy", str(policy), "--action-json", json.dumps(action), "--format", "json"]
    for text in prompts:
        args += ["--prompt", text]
    result = run(args, env=environment(state))
    if result.code != 0:
        return f"error ({result})"
    return json.loads(result.stdout)["outcome"]["decision"]


def policy_test(policy, cases_path, state, timeout=120):
    result = run([BIN, "policy", "test", "--policy", str(policy), "--cases", str(cases_path), "--format", "json"],
                 env=environment(state), timeout=timeout)
    try:
        return result, json.loads(result.stdout)
    except ValueError:
        return result, None


class RawMCPClient:
    """A JSON-RPC client writing raw lines to `countersign mcp proxy` and reading its answers on a thread,
    so a test can pause between messages (hold a lock, kill the proxy) as a real client session would."""

    def __init__(self, args, env, cwd):
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=env, cwd=cwd)
        self.answers = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_thread.start()

    def _read(self):
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                self.answers.put({"unparseable": line.decode("utf-8", "replace")})
        self.answers.put(None)

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def stderr_text(self, timeout=3):
        """What the proxy wrote to stderr (complete once it has exited)."""
        try:
            self.process.wait(timeout=timeout)
            self._stderr_thread.join(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return "".join(self.stderr)

    def send(self, message):
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_for(self, id, timeout):
        """The answer to request `id` (answering the proxy's own requests is the test's business: they are
        returned too, as soon as they arrive), or None when the proxy said nothing in time or exited."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                message = self.answers.get(timeout=remaining)
            except queue.Empty:
                return None
            if message is None:
                self.answers.put(None)
                return None
            if message.get("id") == id and ("result" in message or "error" in message):
                return message

    def request(self, id, method, params=None, timeout=30):
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.wait_for(id, timeout)

    def close(self, timeout=10):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def initialize(client, name="redteam-client"):
    answer = client.request(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                              "clientInfo": {"name": name, "version": "1"}})
    client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return answer


def tool_text(answer):
    if not answer:
        return repr(answer)
    if "error" in answer:
        return f"JSON-RPC error {answer['error'].get('code')}: {answer['error'].get('message')}"
    content = answer.get("result", {}).get("content") or [{}]
    return str(content[0].get("text"))


def is_refusal(answer):
    """A call the client sees refused: a tool error result or a JSON-RPC error."""
    return bool(answer) and ("error" in answer or answer.get("result", {}).get("isError") is True)


def server_log(path):
    """Every request a logging server received, one JSON object a line."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
