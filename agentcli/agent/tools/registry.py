"""The open tool registry: what a tool declares, and the set of tools offered to the model.

A :class:`Tool` declares its name, its kind, whether it changes the workspace, its schema
(the text the model sees, written from the configured :class:`ToolLimits`) and how a call
is *prepared*: checked and worked out — for the file tools the exact bytes before and
after (:class:`FileEdit`) — without touching anything. The runner journals that intent,
then calls :meth:`PreparedCall.execute`. A bad call raises :class:`ToolError` from
prepare; execute never raises for a tool failure, it returns an error :class:`ToolOutput`.

The runner knows no tool by name: a new tool (an MCP tool, ``scout``) is a new
:class:`Tool` registered here, nothing more.

Example:
    >>> tools = default_registry(Workspace(Path("/repo")))
    >>> call = tools.prepare("edit_file", '{"path": "a.py", "old_string": "1", "new_string": "2"}')
    >>> call.kind, call.summary, call.edits[0].op
    ('edit', 'edit a.py', 'modify')
    >>> call.execute().text
    'Edited a.py: replaced 1 occurrence.'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import NEVER, Cancelled, CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import check_arguments, parse_arguments
from agentcli.agent.workspace.edits import FileEdit
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.records import storable_text as storable

if TYPE_CHECKING:
    from agentcli.session.session import Session

TOOL_KINDS = ("read", "edit", "shell", "plan", "agent", "external")
"""The kinds the runner and the approval policy know; every tool is one of them.
``external``: a call into something outside agentcli (an MCP server's tool) that may have
effects agentcli cannot see; it is approved like a shell command."""

READ_ONLY_TOOLS = ("read_file", "list_files", "search")
"""The built-in tools a read-only helper (a scout) is given; :meth:`ToolRegistry.readers`
adds the read-only tools of MCP servers."""

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
    a call whose output is not an error.
    """

    tool_name: str
    args: dict[str, Any]
    kind: str
    summary: str  # one line for people and approval prompts, e.g. "edit src/a.py"
    edits: list[FileEdit]
    action: Callable[[CancelToken], ToolOutput] = field(repr=False, compare=False)
    record: Callable[[Session, int], None] | None = field(default=None, repr=False, compare=False)
    row: int | None = None  # the call's tool_calls row, set by the runner once journaled
    server: str | None = None  # the MCP server the tool belongs to (None: agentcli's own)
    resume: str = "redo"  # one of RESUME_POLICIES, journaled with the call
    details: str = ""  # what an approval question shows besides the summary (an MCP call's arguments)

    def execute(self, token: CancelToken = NEVER) -> ToolOutput:
        """Run the call. Failures come back as ``is_error`` outputs; only ``Cancelled`` raises."""
        try:
            output = self.action(token)
        except Cancelled:
            raise
        except Exception as exc:  # a bug in one tool is the model's error result, not a crash
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


class ToolRegistry:
    """The tools offered to the model, in order, bound to one :class:`ToolContext`."""

    def __init__(self, tools: Iterable[Tool], ctx: ToolContext):
        self.ctx = ctx
        self._tools: dict[str, Tool] = {}
        self._schemas: list[dict[str, Any]] | None = None  # built once, again after a register
        for tool in tools:
            self.register(tool)

    @property
    def names(self) -> tuple[str, ...]:
        """The tool names, in the order they are offered."""
        return tuple(self._tools)

    def register(self, tool: Tool) -> None:
        """Offer one more tool. Raises ValueError for a taken name or an unknown kind."""
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        if tool.kind not in TOOL_KINDS:
            raise ValueError(f"tool {tool.name!r} has kind {tool.kind!r}; "
                             f"the kinds are: {', '.join(TOOL_KINDS)}")
        declared = tool.schema()["function"]["name"]
        if declared != tool.name:
            raise ValueError(f"tool {tool.name!r} declares the schema of {declared!r}")
        self._tools[tool.name] = tool
        self._schemas = None

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ToolError (naming the tools there are) if none is."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"Unknown tool {name!r}. The tools are: {', '.join(self._tools)}.")
        return tool

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools`` list for a Chat Completions request: the same list, not to be
        changed, until a tool is added (the client encodes it once, by identity)."""
        if self._schemas is None:
            self._schemas = [tool.schema() for tool in self._tools.values()]
        return self._schemas

    def prepare(self, name: str, raw_arguments: str | Mapping[str, Any]) -> PreparedCall:
        """Check a call against its tool's schema and work out what it will do, touching nothing.

        Raises:
            ToolError: unknown tool, arguments that are not a JSON object, a missing or
                mistyped argument, a refused path, or an edit that cannot apply.
        """
        try:
            tool = self.get(name)
            args = tool.check(parse_arguments(name, raw_arguments))
            return tool.prepare(args, self.ctx)
        except Cancelled:
            raise
        except Exception as exc:  # whatever a tool's checks meet, the model reads it as an error
            raise ToolError(failure_text(name, exc)) from None

    def server_of(self, name: str) -> str | None:
        """The MCP server of the tool called ``name`` (None for agentcli's own, or no such tool)."""
        tool = self._tools.get(name)
        return tool.server if tool is not None else None

    def readers(self) -> ToolRegistry:
        """A registry of the tools of kind ``read`` (what a read-only helper, a scout, is given)."""
        return ToolRegistry([t for t in self._tools.values() if t.kind == "read"], self.ctx)

    def only(self, names: Iterable[str]) -> ToolRegistry:
        """A registry of just these tools (in this registry's order), e.g. a scout's readers."""
        wanted = set(names)
        unknown = wanted - set(self._tools)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        return ToolRegistry([t for t in self._tools.values() if t.name in wanted], self.ctx)


def default_registry(workspace: Workspace, limits: ToolLimits = DEFAULT_LIMITS,
                     shell_env: Mapping[str, str] | None = None) -> ToolRegistry:
    """The seven built-in tools of the spec, in the order they are offered."""
    # Imported here: each tool module imports this one for Tool and PreparedCall.
    from agentcli.agent.tools.edit_file import EditFile
    from agentcli.agent.tools.list_files import ListFiles
    from agentcli.agent.tools.read_file import ReadFile
    from agentcli.agent.tools.run_shell import RunShell
    from agentcli.agent.tools.search import Search
    from agentcli.agent.tools.update_plan import UpdatePlan
    from agentcli.agent.tools.write_file import WriteFile

    builtins = (ReadFile, ListFiles, Search, WriteFile, EditFile, RunShell, UpdatePlan)
    return ToolRegistry([tool(limits) for tool in builtins],
                        ToolContext(workspace, limits, shell_env))


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
