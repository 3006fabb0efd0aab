"""What a client may ask of the engine: one small value per operation.

A client (the terminal, a scripted ``-p`` run, the editor protocol) never touches the
engine's objects: it submits these to :meth:`~agentcli.agent.engine.engine.Engine.submit`
and draws the events that come back. Operations are applied in the order submitted, by
the engine's own thread; long work (a turn, a compaction) runs on its task thread, so an
``Interrupt`` or a ``Shutdown`` is taken at once, even while a turn runs.

Example:
    >>> engine.submit(SubmitPrompt("fix the failing test"))
    >>> engine.submit(Interrupt("Ctrl-C", resumable=False))
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubmitPrompt:
    """Store a prompt in the session now (``queued``); run it unless a turn already runs,
    in which case that turn takes it at its next boundary. ``run`` False only stores it."""

    text: str
    source: str = "terminal"
    run: bool = True


@dataclass(frozen=True)
class RunPending:
    """Run what the session has pending: an interrupted turn first, then queued prompts.

    ``hold`` names queued prompts this run leaves queued (a scripted resume does not take
    prompts typed ahead at a terminal: ``cli/queued.py``)."""

    hold: tuple[int, ...] = ()


@dataclass(frozen=True)
class Interrupt:
    """Stop the running task at its next check. ``resumable`` False: the person dropped
    the turn (recorded ``cancelled``, not taken up again); True: ``interrupted``."""

    reason: str = "interrupted"
    resumable: bool = True


@dataclass(frozen=True)
class Shutdown:
    """Stop the running task (resumable), refuse further work and end the engine's threads."""

    reason: str = "shutdown"


@dataclass(frozen=True)
class Compact:
    """Summarise the session's older turns now (all but the newest step, or keep ``keep``
    of the window verbatim)."""

    keep: float | None = None


@dataclass(frozen=True)
class SetModel:
    """Use model ``name`` from the next request on, for the orchestrator and (unless they
    have a model of their own) the scouts; remembered in the session."""

    name: str


@dataclass(frozen=True)
class SetApproval:
    """Switch the approval mode (ask, auto-edit, full-auto, read-only); remembered."""

    mode: str


@dataclass(frozen=True)
class AnswerApproval:
    """Answer the approval question ``request`` (its ``approval.requested`` id): ``yes``,
    ``no`` or ``always``; a ``no`` may carry the reason the model is told."""

    request: int
    choice: str
    reason: str = ""


@dataclass(frozen=True)
class Rollback:
    """Restore files and conversation to checkpoint ``to`` (None: before the last prompt),
    or revert the last rollback (``undo``)."""

    to: int | None = None
    undo: bool = False
    force: bool = False
    files: bool = True
    conversation: bool = True


Operation = (SubmitPrompt | RunPending | Interrupt | Shutdown | Compact | SetModel | SetApproval
             | AnswerApproval | Rollback)
