"""What a tool is: its declaration, the context it is prepared against, a prepared call, its output.

Every tool module imports these and nothing of the registry, so the registry can list the
tools without a circle. A :class:`Tool` declares its name, its kind, whether it changes the
workspace, its schema (written from the configured :class:`ToolLimits`) and how a call is
*prepared*: checked and worked out — for the file tools the exact bytes before and after
(:class:`FileEdit`) — without touching anything. A bad call raises :class:`ToolError` from
prepare; :meth:`PreparedCall.execute` never raises for a tool failure, it returns an error
:class:`ToolOutput` (only a cancel, or the session file failing, escapes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import NEVER, Cancelled, CancelToken
from agentcli.agent.errors import ToolError, stops_run
from agentcli.agent.workspace.edits import FileEdit
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.records import storable_text as storable

if TYPE_CHECKING:
    from agentcli.agent.sandbox.handle import ShellSandbox
    from agentcli.agent.sandbox.policy import Confinement
    from agentcli.session.session import Session

TOOL_KINDS = ("read", "edit", "shell", "plan", "agent", "external")
"""The kinds the runner and the approval policy know; every tool is one of them.
``external``: a call into something outside agentcli (an MCP server's tool) that may have
effects agentcli cannot see; it is approved like a shell command."""

RESUME_POLICIES = ("redo", "interrupt", "check")
"""What resume does with a call a crash caught ``running``: run it again (``redo``), mark it
``interrupted`` and tell the model it may have happened (``interrupt``), or check the disk
against the edits journaled for it (``check``)."""

_RESUME_BY_KIND = {"shell": "interrupt", "external": "interrupt", "edit": "check"}


def resume_policy(kind: str | None, declared: str | None = None) -> str:
    """The resume policy of a call: what its tool declared, else its kind's (reads, plans and
    agents are redone; shell commands and external calls interrupted; edits checked)."""
    return declared or _RESUME_BY_KIND.get(kind or "", "redo")

@dataclass(frozen=True)
class ToolLimits:
    """The one set of tool defaults; the schemas the model sees quote these numbers."""

    shell_timeout: float = 120  # seconds a run_shell call gets when it names none
    shell_timeout_max: float = 600  # the most a run_shell call may ask for
    max_output_chars: int = 30_000  # command output returned to the model (head and tail)
    max_command_bytes: int = 100_000
    read_line_limit: int = 2000  # lines per read_file call (default and maximum)
    read_char_limit: int = 100_000  # characters per read_file call
    line_char_limit: int = 2000  # a longer line is cut
    read_byte_limit: int = 50_000_000  # larger files are not read at all
    edit_byte_limit: int = 20_000_000  # larger files are not written or edited (nor their content)
    list_limit: int = 1000  # files shown by list_files
    search_match_limit: int = 200
    search_line_chars: int = 300  # a longer matching line is clipped
    search_file_bytes: int = 5_000_000  # larger files are not searched
    search_seconds: float = 10  # the time one search call may take matching ("pattern too slow")


DEFAULT_LIMITS = ToolLimits()


@dataclass(frozen=True)
class ToolContext:
    """What every call is prepared against: the workspace jail, the limits, the shell's env."""

    workspace: Workspace
    limits: ToolLimits = DEFAULT_LIMITS
    shell_env: Mapping[str, str] | None = None  # None: agentcli's own environment
    on_output: Callable[[str], None] | None = None  # a running command's output, as it comes
    sandbox: ShellSandbox | None = None  # the session's shell sandbox; None: commands run unconfined


@dataclass
class ToolOutput:
    """The result the model sees (``text``), whether it is an error, and data for the loop."""

    text: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedCall:
    """A checked tool call, ready to run; ``edits`` are exactly what execute will write.

    ``record``, when set, is a session-side effect (e.g. storing the plan) that the runner
    runs with the Session and the ``tool_calls`` row id inside the transaction that closes
    a call whose output is not an error. ``confinement`` says how a shell call will run
    (in the sandbox, or outside it and why); None for the other tools.
    """

    tool_name: str
    args: dict[str, Any]
    kind: str
    summary: str  # one line for people and approval prompts, e.g. "edit src/a.py"
    edits: list[FileEdit]
    action: Callable[[CancelToken], ToolOutput] = field(repr=False, compare=False)
    record: Callable[[Session, int], None] | None = field(default=None, repr=False, compare=False)
    row: int | None = None  # the call's tool_calls row, set by the runner once journaled
    confinement: Confinement | None = None
    server: str | None = None  # the MCP server the tool belongs to (None: agentcli's own)
    resume: str = "redo"  # one of RESUME_POLICIES, journaled with the call
    details: str = ""  # what an approval question shows besides the summary (an MCP call's arguments)

    def execute(self, token: CancelToken = NEVER) -> ToolOutput:
        """Run the call. Failures come back as ``is_error`` outputs; only ``Cancelled`` and an
        error that stops the run (:func:`~agentcli.agent.errors.stops_run`: a spent budget,
        the session file failing) raise."""
        try:
            output = self.action(token)
        except Cancelled:
            raise
        except Exception as exc:  # a bug in one tool is the model's error result, not a crash
            if stops_run(exc):  # the session file failed: no tool result could say that to the model
                raise
            return ToolOutput(failure_text(self.tool_name, exc), is_error=True)
        output.text = storable(output.text)
        return output


class Tool:
    """A tool the model can call. Subclasses set the three attributes and two methods.

    Attributes:
        name: the name the model calls it by.
        kind: one of :data:`TOOL_KINDS`; the runner and approval policy act on it.
        mutates: whether a call may change the workspace.
        server: the MCP server the tool belongs to; None for agentcli's own tools.
        resume: one of :data:`RESUME_POLICIES`, or None for its kind's (:func:`resume_policy`).
        limits: the configured defaults, for tools whose text or checks depend on them.
    """

    name: str
    kind: str
    mutates: bool = False
    server: str | None = None
    resume: str | None = None

    def __init__(self, limits: ToolLimits = DEFAULT_LIMITS):
        self.limits = limits

    def schema(self) -> dict[str, Any]:
        """The Chat Completions tool schema (see :func:`~.arguments.function_schema`)."""
        raise NotImplementedError

    def check(self, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments, checked against :meth:`schema` (ToolError naming what does not fit)."""
        from agentcli.agent.tools.arguments import check_arguments

        return check_arguments(self.schema(), args)

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Check a call whose ``args`` fit the schema and work out what it will do.

        Touches nothing on disk. Raises :class:`ToolError` for a call that cannot be
        carried out.
        """
        raise NotImplementedError

    def call(self, args: dict[str, Any], summary: str, action: Callable[[CancelToken], ToolOutput],
             edits: Iterable[FileEdit] = (),
             record: Callable[[Session, int], None] | None = None) -> PreparedCall:
        """A :class:`PreparedCall` of this tool (a helper for :meth:`prepare`)."""
        return PreparedCall(self.name, args, self.kind, storable(summary), list(edits), action, record,
                            server=self.server, resume=resume_policy(self.kind, self.resume))


def failure_text(tool_name: str, exc: Exception) -> str:
    """The error text the model reads for an exception raised by a tool (storable text)."""
    if isinstance(exc, ToolError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{tool_name} failed: {exc}"
    else:
        text = f"{tool_name} failed unexpectedly: {type(exc).__name__}: {exc}"
    return storable(text)


def one_line(text: str, limit: int = 200) -> str:
    """The first line of ``text``, cut at ``limit`` characters, with `` …`` if anything was left out."""
    first = text.strip().split("\n", 1)[0]
    cut = len(first) > limit or "\n" in text.strip()
    return first[:limit] + (" …" if cut else "")
