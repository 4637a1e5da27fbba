"""Shared pieces of the framework integrations: one vocabulary for intents and targets (docs/python.md)."""

import re

from . import Gate

# A tool name's words decide its intent, first match wins: send, then write, then read, else execute.
_INTENT_WORDS = (
    ("send", {"send", "email", "mail", "post", "publish", "notify", "message", "pay", "transfer", "upload", "push",
              "reply", "share", "tweet", "sms"}),
    ("write", {"write", "create", "update", "delete", "remove", "edit", "save", "set", "insert", "put", "rename",
               "move", "replace", "append", "patch", "drop"}),
    ("read", {"get", "read", "search", "list", "fetch", "find", "lookup", "query", "view", "extract", "show",
              "load", "describe", "lookup", "retrieve", "check", "count"}),
)

# The first of these arguments that holds text is the envelope's target.
TARGET_KEYS = ("url", "to", "recipient", "recipients", "email", "path", "file_path", "filename", "target", "host",
               "repo", "repository", "channel", "account", "iban")


def words(name):
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def intent_for(tool_name):
    """read | write | send | execute, from the words of a tool's name (`send_email` → send)."""
    found = set(words(tool_name))
    for intent, vocabulary in _INTENT_WORDS:
        if found & vocabulary:
            return intent
    return "execute"


def target_for(args):
    """The first of TARGET_KEYS in `args` with a value (a list gives its first element), else None."""
    if not isinstance(args, dict):
        return None
    for key in TARGET_KEYS:
        value = args.get(key)
        if isinstance(value, (list, tuple)) and value:
            value = value[0]
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def make_gate(url=None, token=None, session_id=None, actor="agent", wait=300, reviewer_token=None, gate=None):
    return gate or Gate(url=url, token=token, session_id=session_id, actor=actor, wait=wait,
                        reviewer_token=reviewer_token)


def parse_verdict(answer):
    """A verdict given in a framework's own flow: "approve"/"deny", True/False, or {"verdict", "note"}."""
    note = ""
    if isinstance(answer, dict):
        note = str(answer.get("note") or "")
        answer = answer.get("verdict", answer.get("approved"))
    if answer is True or (isinstance(answer, str) and answer.lower() in ("approve", "approved", "yes", "allow")):
        return "approve", note
    if answer is False or (isinstance(answer, str) and answer.lower() in ("deny", "denied", "reject", "no")):
        return "deny", note
    return None, note
