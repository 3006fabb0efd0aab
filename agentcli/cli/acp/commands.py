"""Slash commands an editor offers (``available_commands_update``) and what each does.

The terminal's commands that make sense beside an editor's own UI: a prompt that is one
of them (``/undo``, ``/checkpoints``...) never reaches the model; it is an operation
(``Rollback``, ``Compact``, ``SetModel``) or a read of ``engine.facts``, and its outcome
comes back as the agent's message, in Markdown. The approval modes are the session's
modes (``session/set_mode``), not a command; an unknown ``/word`` is refused here, as at
the terminal. Leaving and ``/new`` are the editor's own.

Example:
    >>> text = await run_command(live, "/checkpoints")
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from acp.schema import AvailableCommand, AvailableCommandInput, UnstructuredCommandInput

from agentcli.cli.render.markdown import cell, fenced
from agentcli.errors import AgentcliError, UsageError

if TYPE_CHECKING:
    from agentcli.agent.engine.inspect import SessionFacts
    from agentcli.agent.engine.operations import Operation
    from agentcli.agent.events import Event


class Operator(Protocol):
    """What a command works with (the live session): facts to read, operations to run."""

    @property
    def facts(self) -> SessionFacts:
        """The session's read-only views."""

    async def operate(self, op: Operation, done: tuple[str, ...]) -> Event:
        """Submit ``op``; the event that says how it ended (one of ``done``, or
        ``operation.failed``)."""


Handler = Callable[[Operator, str], Awaitable[str]]
COMMAND = re.compile(r"^/([a-z][a-z-]*)(?:\s+(.*))?$", re.S)


@dataclass(frozen=True)
class Command:
    """One slash command: ``hint`` names its argument, if it takes one."""

    name: str
    description: str
    handler: Handler
    hint: str = ""


def available() -> list[AvailableCommand]:
    """The commands as ``available_commands_update`` lists them (names without the slash)."""
    return [AvailableCommand(name=c.name, description=c.description,
                             input=AvailableCommandInput(root=UnstructuredCommandInput(hint=c.hint))
                             if c.hint else None) for c in COMMANDS.values()]


def is_command(text: str) -> bool:
    """Whether a prompt is meant as a slash command (``/word ...``; a path is not)."""
    return COMMAND.match(text.strip()) is not None and not text.strip().split()[0][1:].count("/")


async def run_command(live: Operator, text: str) -> str:
    """Run one command line; its outcome as Markdown (an error is one line, not a failure)."""
    match = COMMAND.match(text.strip())
    assert match is not None, text
    command = COMMANDS.get(match.group(1))
    if command is None:
        return (f"unknown command /{match.group(1)} — the commands: "
                f"{', '.join('/' + name for name in COMMANDS)} (nothing was sent to the model)")
    try:
        return await command.handler(live, (match.group(2) or "").strip())
    except AgentcliError as err:
        return f"/{command.name}: {err}"


def _read(live: Operator, read: Callable[[SessionFacts], Any]) -> Awaitable[Any]:
    """Read the session off the event loop (the agent may hold the file a moment)."""
    return asyncio.to_thread(read, live.facts)


def _number(argument: str, what: str) -> int | None:
    if not argument:
        return None
    if not argument.isdigit() or int(argument) < 1:
        raise UsageError(f"{what} takes a checkpoint number (see /checkpoints), not {argument!r}")
    return int(argument)


# -- the commands ----------------------------------------------------------------------
async def _help(live: Operator, argument: str) -> str:
    rows = [f"| /{c.name}{' ' + c.hint if c.hint else ''} | {cell(c.description)} |"
            for c in COMMANDS.values()]
    return "| command | what it does |\n| --- | --- |\n" + "\n".join(rows) + \
        "\n\nThe approval modes are this session's modes (ask, auto-edit, full-auto, read-only)."


async def _plan(live: Operator, argument: str) -> str:
    items = await _read(live, lambda facts: facts.plan())
    return "\n".join(f"- {item.mark} {item.title}" for item in items) or "no plan yet"


async def _diff(live: Operator, argument: str) -> str:
    number, text = await _read(live, lambda facts: facts.diff(_number(argument, "/diff")))
    if not text:
        hint = " (/diff 1 shows the whole session)" if number > 1 else ""
        return f"no changes since checkpoint {number}{hint}"
    return f"changes since checkpoint {number}:\n\n" + fenced(text, "diff")


async def _rollback_to(live: Operator, to: int | None, *, undo: bool = False, force: bool = False) -> str:
    from agentcli.agent.engine.operations import Rollback

    if not undo:
        await _read(live, lambda facts: facts.checkpoint(to))  # no such checkpoint: refused at once
    event = await live.operate(Rollback(to=to, undo=undo, force=force), ("rollback.finished",))
    data = event.data
    if event.type == "operation.failed":
        paths = "".join(f"\n- changed outside agentcli: {p}" for p in data.get("paths") or [])
        hint = "\n\nnothing was rolled back; add --force to overwrite those files" if paths else ""
        return f"{data.get('message', 'the rollback failed')}{paths}{hint}"
    if data.get("undo_of") is not None:
        lines = [f"undid rollback {data['undo_of']}"]
    else:
        number = data["checkpoint"]
        lines = [f"rolled back to checkpoint {number} (the state before prompt {number})"]
    lines += [f"- restored {p}" for p in data.get("restored") or []]
    lines += [f"- removed {p}" for p in data.get("removed") or []]
    lines += [f"- {note}" for note in data.get("notes") or []]
    if data.get("partial"):
        lines.append(f"**{data['partial']}**")
    verb = "shown to the model again" if data.get("undo_of") is not None else "hidden from the model"
    lines.append(f"{data.get('messages', 0)} message(s), {data.get('prompts', 0)} prompt(s) {verb}"
                 + ("; /rollback --undo puts it back" if data.get("undo_of") is None else ""))
    return "\n".join(lines)


async def _undo(live: Operator, argument: str) -> str:
    return await _rollback_to(live, None, force=argument == "--force")


async def _rollback(live: Operator, argument: str) -> str:
    words = argument.split()
    force = "--force" in words
    words = [w for w in words if w != "--force"]
    if words in (["--undo"], ["undo"]):
        return await _rollback_to(live, None, undo=True, force=force)
    if len(words) != 1:
        raise UsageError("give a checkpoint number, e.g. /rollback 2 (/checkpoints lists them), or "
                         "/rollback --undo")
    return await _rollback_to(live, _number(words[0], "/rollback"), force=force)


async def _checkpoints(live: Operator, argument: str) -> str:
    infos = await _read(live, lambda facts: facts.checkpoints())
    if not infos:
        return "no checkpoints yet: one is taken when each prompt starts"
    rows = []
    for info in infos:
        first = info.prompt.strip().splitlines()[0] if info.prompt.strip() else ""
        note = " (rolled back)" if info.rolled_back_by else ""
        rows.append(f"| {info.id} | {info.created_at[11:19]} | {info.changes} | {cell(first[:80])}{note} |")
    return "| N | created | changes | prompt |\n| ---: | --- | ---: | --- |\n" + "\n".join(rows) + \
        "\n\n/rollback N goes back to checkpoint N (the state before prompt N)"


async def _status(live: Operator, argument: str) -> str:
    status = await _read(live, lambda facts: facts.status())
    cost = "" if status.cost is None else f" · ${status.cost:.4f}"
    return (f"session {status.session} · {status.title or '(untitled)'}\n\n"
            f"- file {status.path}\n- model {status.model} · approval {status.approval}\n"
            f"- {status.attempts} model calls · {status.prompt_tokens:,} prompt + "
            f"{status.completion_tokens:,} completion tokens{cost}")


async def _log(live: Operator, argument: str) -> str:
    calls = await _read(live, lambda facts: facts.model_calls(50))
    if not calls:
        return "no model calls yet"
    rows = [f"| {c.id} | {c.agent} | {cell(c.model)} | {c.status} | {c.latency_ms or ''} | "
            f"{c.total_tokens or ''} | {cell((c.error or '')[:60])} |" for c in calls]
    head = ["| id | agent | model | status | ms | tokens | error |",
            "| ---: | --- | --- | --- | ---: | ---: | --- |"]
    return "\n".join(head + rows)


async def _model(live: Operator, argument: str) -> str:
    from agentcli.agent.engine.operations import SetModel

    if not argument:
        status = await _read(live, lambda facts: facts.status())
        return f"model: {status.model} (/model NAME changes it)"
    event = await live.operate(SetModel(argument), ("model.changed",))
    if event.type == "operation.failed":
        return str(event.data.get("message", "the model was not changed"))
    return f"model is now {event.data['model']} for this session"


async def _compact(live: Operator, argument: str) -> str:
    from agentcli.agent.engine.operations import Compact

    event = await live.operate(Compact(), ("compact.finished",))
    data = event.data
    if event.type == "operation.failed":
        return str(data.get("message", "the compaction did not run"))
    if data.get("status") == "nothing":
        return "nothing older to summarise yet"
    if data.get("status") == "done":
        before = data.get("tokens_before")
        return (f"compacted: messages {data['first_message']}–{data['last_message']} are now a summary"
                + (f" (about {before:,} tokens before)" if before else ""))
    return f"the summary did not happen ({data.get('error') or data.get('status')}); the context is as it was"


async def _mcp(live: Operator, argument: str) -> str:
    from agentcli.cli.commands.mcp import describe

    lines = await _read(live, lambda facts: describe(facts.mcp_servers()))
    return "\n".join(lines) if lines else "no MCP servers in this session"


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "the commands", _help),
    Command("plan", "the agent's plan, as a checklist", _plan),
    Command("diff", "what the agent changed since the last prompt (or checkpoint N)", _diff, "[N]"),
    Command("undo", "roll back the last prompt: its file changes and conversation", _undo),
    Command("rollback", "go back to checkpoint N (--undo reverts the last rollback)", _rollback,
            "N | --undo"),
    Command("checkpoints", "the rollback points, one per prompt", _checkpoints),
    Command("compact", "summarise older turns to free context", _compact),
    Command("status", "session, model, tokens, cost", _status),
    Command("model", "use another model from the next request on", _model, "NAME"),
    Command("log", "the audit log of model calls", _log),
    Command("mcp", "the MCP servers of this session: status and tools", _mcp),
)}
