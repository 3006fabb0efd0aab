"""What a resumed session was about, shown before its prompt: title, last exchange, plan, files.

Reads a handful of rows (the newest prompt and answer, the plan, the file log), so it
costs the same for a long session as for a short one, the file log aside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentcli.cli.render.text import clean, excerpt
from agentcli.session.records import ORCHESTRATOR

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.session.session import Session

ANSWER_LINES = 12
FILES_SHOWN = 8


def show_recap(console: Console, session: Session) -> None:
    """Print the recap of ``session`` (nothing for a session with no prompt yet)."""
    from rich.text import Text

    from agentcli.cli.terminal.markdown_stream import print_markdown, safe
    from agentcli.cli.terminal.view import plan_text

    meta = session.meta()
    prompt = session.prompts.latest()
    if prompt is None:
        return
    console.print(Text(f"▌ {clean(meta.title or '(untitled)')}", style="bold"))
    typed = prompt.text.strip().splitlines()  # the first line: attached @files follow it
    more = f" (+{len(typed) - 1} lines)" if len(typed) > 1 else ""
    console.print(Text(f"  last prompt: {excerpt(typed[0] if typed else '', 120)}{more}", style="dim"))
    answer = session.transcript.last(ORCHESTRATOR)
    if answer is not None and answer.role == "assistant" and answer.content.strip():
        lines = safe(answer.content).strip().splitlines()
        shown = "\n".join(lines[:ANSWER_LINES])
        if shown.count("```") % 2:
            shown += "\n```"  # a fence cut in half would swallow what follows
        console.print(Text("  last answer:", style="dim"))
        print_markdown(console, shown)
        if len(lines) > ANSWER_LINES:
            console.print(Text(f"  … {len(lines) - ANSWER_LINES} more lines (agentcli show {meta.id})",
                               style="dim"))
    items = session.plan.current()
    if items:
        console.print(Text("  plan:", style="dim"))
        console.print(plan_text([{"title": i.title, "status": i.status} for i in items]))
    paths = list(dict.fromkeys(c.path for c in session.files.since(0)))
    if paths:
        more = f" and {len(paths) - FILES_SHOWN} more" if len(paths) > FILES_SHOWN else ""
        console.print(Text(f"  files changed: {', '.join(clean(p) for p in paths[:FILES_SHOWN])}{more}",
                           style="dim"))
    if prompt.status in ("running", "interrupted"):
        console.print(Text("  its last turn was interrupted: it continues now", style="yellow"))
    from rich.rule import Rule

    console.print(Rule(style="dim"))
