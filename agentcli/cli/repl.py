"""The plain interactive loop: read a prompt, run the turn, repeat (the full TUI comes later)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest
from agentcli.agent.cancel import CancelToken
from agentcli.agent.loop import Orchestrator, TurnResult
from agentcli.cli.worker import AgentWorker
from agentcli.session.session import Session

HELP = """\
Type a prompt and press Enter. Commands:
  /plan     show the current plan
  /help     this help
  /exit     leave (the session stays resumable: agentcli resume {id})
Ctrl-C stops the running turn; Ctrl-C or Ctrl-D at the prompt leaves."""


def ask_in_terminal(request: ApprovalRequest) -> ApprovalAnswer:
    """Ask the person at the terminal about one call: yes, no or always."""
    from agentcli.agent.grants import describe_grant

    what = "run" if request.kind == "shell" else "apply"
    # "always" is spelled out before it is chosen: exactly what it would allow
    scope = (describe_grant(request.command) if request.kind == "shell"
             else "always allow every file edit in this session")
    while True:
        try:
            answer = input(f"Allow agentcli to {what}: {request.summary}\n"
                           f"  [y]es / [n]o / [a]lways — {scope} > ")
        except EOFError:
            return ApprovalAnswer("no")
        answer = answer.strip().lower()
        if answer in ("y", "yes"):
            return ApprovalAnswer("yes")
        if answer in ("n", "no", ""):
            return ApprovalAnswer("no")
        if answer in ("a", "always"):
            return ApprovalAnswer("always")


def run_repl(session: Session, agent: Orchestrator, worker: AgentWorker,
             current: list[CancelToken]) -> TurnResult:
    """Take prompts until /exit, Ctrl-D or a Ctrl-C at the prompt; each turn on the worker.

    ``current[0]`` is the running turn's cancel token (a fresh one per turn), so a
    signal always stops the turn that is running now.
    """
    from prompt_toolkit import PromptSession

    prompt_session: PromptSession[str] = PromptSession()
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
            print("\n".join(f"{i.mark} {i.title}" for i in items) or "no plan yet")
            continue
        session.add_prompt(text, source="terminal")
        token = current[0] = CancelToken()
        last = worker.run(agent.run, token, on_interrupt=_dropper(token))
        if last.status == "interrupted" and last.resumable:  # SIGTERM or SIGHUP: leave
            return last
        if last.status == "interrupted":
            sys.stdout.write("\n(turn stopped — the session is saved)\n")


def _dropper(token: CancelToken) -> Callable[[], None]:
    """Ctrl-C during a turn in the terminal: drop the turn (not resumed) and come back."""
    return lambda: token.cancel("Ctrl-C", resumable=False)
