"""browser-use (0.13.x): every browser action is decided by the Countersign Gate before it runs.

    from countersign.browser_use import protect
    agent = protect(Agent(task="...", llm=llm))          # or protect(tools) before Agent(tools=tools)
    history = await agent.run()

Every action passes `Tools.act(...)`; `protect` wraps that method on the instance. Envelope: actor
`browser-use`, surface `browser`, tool = the action's name (navigate, click, input, upload_file, send_keys,
extract, ... and custom actions), intent (navigate / click / write / send / read / execute / respond, see
docs/python.md), target = the destination for navigate, else the current page's URL (also in
metadata.page_url), args = the action's parameters as the model wrote them plus, for actions on an element
(`index`), `args.element` = {tag, text, attributes}. Sensitive-data placeholders (`<secret>name</secret>`)
are decided and recorded as written: the values are filled in by browser-use only after the decision, so
they never reach a receipt.

A blocked action does not run: the agent receives `ActionResult(error="Countersign blocked click: ask->rejected
by rule ...: ...")` and goes on. An unreachable server also blocks (the error names it) and, for a protected
Agent, `agent.run()` raises `CountersignUnavailable` when it returns. The outcome (extracted content, memory,
error) is reported after the action; the policy's label sources label page content as untrusted.
"""

import asyncio

from . import ActionBlocked, CountersignError, CountersignUnavailable, jsonable
from ._mapping import intent_for, make_gate

__all__ = ["protect", "INTENTS"]

INTENTS = {
    "navigate": "navigate", "search": "navigate", "go_back": "navigate", "switch": "navigate", "close": "navigate",
    "click": "click", "select_dropdown": "click",
    "input": "write", "send_keys": "write", "write_file": "write", "replace_file": "write",
    "upload_file": "send",
    "extract": "read", "search_page": "read", "find_elements": "read", "find_text": "read", "screenshot": "read",
    "dropdown_options": "read", "read_file": "read", "scroll": "read", "wait": "read", "save_as_pdf": "read",
    "evaluate": "execute",
    "done": "respond",
}
_ATTRIBUTES = ("id", "name", "type", "href", "role", "aria-label", "title", "placeholder", "action", "src", "alt",
               "class", "for", "data-testid")


async def _element(browser_session, index):
    try:
        node = await browser_session.get_element_by_index(index)
    except Exception:
        node = None
    if node is None:
        return None
    try:
        text = node.get_all_children_text()
    except Exception:
        text = ""
    attributes = {k: v for k, v in (node.attributes or {}).items() if k in _ATTRIBUTES}
    if not text:
        text = attributes.get("aria-label") or attributes.get("title") or ""
    return {"tag": node.tag_name, "text": " ".join(str(text).split())[:1000], "attributes": attributes}


def _secrets(sensitive_data):
    """(value, placeholder) pairs of browser-use's sensitive data ({key: value} or {domain: {key: value}})."""
    pairs = []
    for key, content in (sensitive_data or {}).items():
        items = content.items() if isinstance(content, dict) else [(key, content)]
        for name, value in items:
            if isinstance(value, str) and value:
                pairs.append((value, f"<secret>{name}</secret>"))
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _masked(value, secrets):
    if isinstance(value, str):
        for secret, placeholder in secrets:
            value = value.replace(secret, placeholder)
        return value
    if isinstance(value, dict):
        return {k: _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return value


def _result(result, sensitive_data=None):
    """The outcome: the ActionResult's fields, with any sensitive value put back as its placeholder."""
    fields = {}
    for name in ("extracted_content", "long_term_memory", "error", "is_done", "success"):
        value = getattr(result, name, None)
        if value is not None:
            fields[name] = jsonable(value)
    return _masked(fields, _secrets(sensitive_data))


class _Guard:
    def __init__(self, gate, intents):
        self.gate = gate
        self.intents = {**INTENTS, **(intents or {})}
        self.errors = []
        self.agent = None

    async def envelope(self, name, params, browser_session):
        args = dict(params) if isinstance(params, dict) else {"value": params}
        try:
            page_url = await browser_session.get_current_page_url()
        except Exception:
            page_url = None
        index = args.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            element = await _element(browser_session, index)
            if element is not None:
                args["element"] = element
        target = args.get("url") if name == "navigate" and args.get("url") else page_url
        metadata = {"framework": "browser-use"}
        if page_url:
            metadata["page_url"] = page_url
        return self.gate.envelope("browser", name, self.intents.get(name) or intent_for(name), target, args, metadata,
                                  actor="browser-use")

    async def act(self, original, action, browser_session, *args, **kwargs):
        from browser_use.agent.views import ActionResult

        chosen = [(n, p) for n, p in action.model_dump(exclude_unset=True).items() if p is not None]
        if len(chosen) != 1:  # browser-use runs one action per ActionModel; anything else is not decided
            return ActionResult(error="Countersign: an action model must hold exactly one action")
        name, params = chosen[0]
        envelope = await self.envelope(name, params, browser_session)
        try:
            decision = await asyncio.to_thread(self.gate.decide, envelope)
        except ActionBlocked as blocked:
            return ActionResult(error=str(blocked))
        except CountersignError as error:
            self.errors.append(error)
            return ActionResult(error=f"Countersign could not decide {name}, so it did not run: {error}")
        secrets = _secrets(kwargs.get("sensitive_data"))
        try:
            result = await original(action, browser_session, *args, **kwargs)
        except Exception as error:
            await asyncio.to_thread(self.gate.outcome, decision, "error", None, _masked(str(error), secrets))
            raise
        status = "tool_error" if getattr(result, "error", None) else "executed"
        try:
            await asyncio.to_thread(self.gate.outcome, decision, status,
                                    _result(result, kwargs.get("sensitive_data")))
        except CountersignError as error:  # it ran, but its output could not label the session: stop the run
            self.errors.append(error)
            browser_agent = self.agent
            if browser_agent is not None:
                browser_agent.stop()
        return result

    def raise_errors(self):
        if self.errors:
            error, self.errors = self.errors[0], []
            raise CountersignUnavailable(error.status, error.message) if isinstance(
                error, CountersignUnavailable) else CountersignError(error.status, error.message)


def _protect_tools(tools, guard):
    if getattr(tools, "countersign", None) is not None:
        return tools
    original = tools.act

    async def act(action, browser_session, *args, **kwargs):
        return await guard.act(original, action, browser_session, *args, **kwargs)

    tools.act = act
    tools.countersign = guard
    return tools


def protect(obj, *, url=None, token=None, session_id=None, intents=None, wait=300, reviewer_token=None, gate=None):
    """A browser-use `Agent` or `Tools` whose every action is decided first (the same object, returned)."""
    from browser_use import Agent, Tools

    guard = _Guard(make_gate(url, token, session_id, "browser-use", wait, reviewer_token, gate), intents)
    if isinstance(obj, Tools):
        return _protect_tools(obj, guard)
    if isinstance(obj, Agent):
        _protect_tools(obj.tools, guard)
        guard = obj.tools.countersign
        guard.agent = obj
        run = obj.run

        async def protected_run(*args, **kwargs):
            history = await run(*args, **kwargs)
            guard.raise_errors()
            return history

        obj.run = protected_run
        return obj
    raise TypeError(f"protect() takes a browser-use Agent or Tools, not {type(obj).__name__}")
