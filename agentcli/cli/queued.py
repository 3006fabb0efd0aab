"""Prompts typed ahead at a terminal belong to that terminal, not to a later scripted resume.

A line typed while a turn runs is stored at once (``queued``, source ``terminal``). If
that turn is cancelled, the line stays queued: in the terminal, Enter runs it. A later
``agentcli resume ID PROMPT -p`` would have run it first, unseen, with that run's
approval. A scripted resume leaves such prompts queued and lists them on stderr;
``--queued run`` takes them (oldest first, before PROMPT). The terminal says on leaving
that some are still queued (:func:`goodbye`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from agentcli.cli.render.text import excerpt

if TYPE_CHECKING:
    from agentcli.agent.engine.inspect import SessionFacts

QUEUED_CHOICES = ("skip", "run")
"""``--queued``: what a scripted resume does with prompts typed ahead at a terminal."""
TERMINAL = "terminal"


def hold_terminal_prompts(facts: SessionFacts, choice: str) -> tuple[int, ...]:
    """The terminal's queued prompts this run leaves queued (none when ``choice`` is
    ``run``); either way, say on stderr which they are."""
    waiting = facts.queued_from(TERMINAL)
    if not waiting:
        return ()
    count = f"{len(waiting)} prompt{'s' if len(waiting) > 1 else ''} typed ahead at a terminal"
    if choice == "run":
        sys.stderr.write(f"agentcli: running {count} first (--queued run)\n")
        return ()
    sys.stderr.write(f"agentcli: {count} left queued, not run (--queued run runs them; so does "
                     f"agentcli resume {facts.resume_ref()} in a terminal):\n")
    for prompt in waiting:
        first = (prompt.text.strip().splitlines() or [""])[0]
        sys.stderr.write(f"agentcli:   #{prompt.id} {excerpt(first, 100)}\n")
    return tuple(prompt.id for prompt in waiting)


def goodbye(facts: SessionFacts) -> str:
    """The terminal's last line: how to go on, and the typed-ahead prompts still queued."""
    line = f"bye — continue this session with: agentcli resume {facts.resume_ref()}"
    waiting = len(facts.queued_from(TERMINAL))
    if waiting:
        line += (f" ({waiting} prompt{'s' if waiting > 1 else ''} you typed ahead "
                 f"{'are' if waiting > 1 else 'is'} still queued: a resume in a terminal runs "
                 f"{'them' if waiting > 1 else 'it'}; a scripted one only with --queued run)")
    return line
