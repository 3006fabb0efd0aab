"""The plain interactive loop: read a prompt, run the turn, repeat (the full TUI comes later)."""

from __future__ import annotations

import sys

from agentcli.agent.loop import Orchestrator, TurnResult
from agentcli.session.session import Session

HELP = """\
Type a prompt and press Enter. Commands:
  /plan     show the current plan
  /help     this help
  /exit     leave (the session stays resumable: agentcli resume {id})
Ctrl-C stops the running turn; Ctrl-C or Ctrl-D at the prompt leaves."""


def ask_in_terminal(kind: str, summary: str, command: str) -> str:
    """Ask the person at the terminal about one call: y, n or always."""
    what = "run" if kind == "shell" else "apply"
    scope = "commands starting like this" if kind == "shell" else "all file edits in this session"
    while True:
        try:
            answer = input(f"Allow agentcli to {what}: {summary}\n  [y]es / [n]o / [a]lways ({scope}) > ")
        except EOFError:
            return "n"
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return "y"
        if answer in ("n", "no", ""):
            return "n"
        if answer in ("a", "always"):
            return "always"


def run_repl(session: Session, agent: Orchestrator) -> TurnResult:
    """Take prompts until /exit, Ctrl-D or a Ctrl-C at the prompt."""
    from prompt_toolkit import PromptSession

    prompt_session: PromptSession[str] = PromptSession()
    agent.interrupt_status = "cancelled"
    last = TurnResult("done")
    print(f"session {session.id} — /help for commands, /exit to leave")
    while True:
        try:
            line = prompt_session.prompt("> ")
        except (EOFError, KeyboardInterrupt):
            return last
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return last
        if text == "/help":
            print(HELP.format(id=session.id))
            continue
        if text == "/plan":
            items = session.plan.current()
            print("\n".join(f"[{i.status}] {i.title}" for i in items) or "no plan yet")
            continue
        session.add_prompt(text, source="terminal")
        try:
            last = agent.run()
        except KeyboardInterrupt:
            sys.stdout.write("\n(turn stopped — the session is saved)\n")
            last = TurnResult("interrupted")
