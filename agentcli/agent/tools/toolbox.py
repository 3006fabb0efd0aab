"""The tools the model can call, in two phases: *prepare*, then *execute*.

``Toolbox.prepare`` checks a call (JSON, names, types, paths) and works out what it will
do — for the file tools the exact bytes before and after (:class:`FileEdit`) — without
touching anything. The loop journals that intent, then calls ``PreparedCall.execute``.
A bad call raises :class:`ToolError` from prepare; execute never raises for a tool
failure, it returns an error :class:`ToolOutput`.

Example:
    >>> box = Toolbox(Workspace(Path("/repo")))
    >>> call = box.prepare("edit_file", '{"path": "a.py", "old_string": "1", "new_string": "2"}')
    >>> call.kind, call.summary, call.edits[0].op
    ('edit', 'edit a.py', 'modify')
    >>> call.execute().text
    'Edited a.py: replaced 1 occurrence.'
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools import readers
from agentcli.agent.tools.arguments import check_arguments, parse_arguments, validate_plan
from agentcli.agent.tools.schemas import TOOL_SCHEMAS
from agentcli.agent.tools.shell import run_command
from agentcli.agent.workspace.edits import FileEdit, apply_edit, plan_replace, plan_write
from agentcli.agent.workspace.jail import Workspace

__all__ = ["FileEdit", "PreparedCall", "ToolError", "ToolOutput", "Toolbox", "apply_edit"]

ToolKind = Literal["read", "edit", "shell", "plan"]
TOOL_NAMES = tuple(TOOL_SCHEMAS)
READ_ONLY_TOOLS = ("read_file", "list_files", "search")
MAX_COMMAND_BYTES = 100_000


@dataclass
class ToolOutput:
    """The result the model sees (``text``), whether it is an error, and data for the loop."""

    text: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedCall:
    """A checked tool call, ready to run; ``edits`` are exactly what execute will write."""

    tool_name: str
    args: dict[str, Any]
    kind: ToolKind
    edits: list[FileEdit]
    summary: str  # one line for people and approval prompts, e.g. "edit src/a.py"
    action: Callable[[], ToolOutput] = field(repr=False, compare=False)

    def execute(self, cancel: CancelToken = NEVER) -> ToolOutput:
        """Run the call. Failures come back as ``is_error`` outputs, never as exceptions."""
        try:
            return self.action()
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        except OSError as exc:
            return ToolOutput(f"{self.tool_name} failed: {exc}", is_error=True)


class Toolbox:
    """The tools offered to the model, bound to one workspace.

    Args:
        workspace: the path jail every tool works in.
        shell_timeout_default: seconds a ``run_shell`` call gets when it names none.
        shell_timeout_max: the most a ``run_shell`` call may ask for.
        max_output_chars: the cap on the command output returned to the model.
        shell_env: environment of shell commands (default: agentcli's own).
        enabled: the tool names to offer (default: all; scouts get ``READ_ONLY_TOOLS``).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        shell_timeout_default: float = 120,
        shell_timeout_max: float = 600,
        max_output_chars: int = 30000,
        shell_env: Mapping[str, str] | None = None,
        enabled: Collection[str] = TOOL_NAMES,
    ):
        unknown = set(enabled) - set(TOOL_NAMES)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        self.workspace = workspace
        self.shell_timeout_default = shell_timeout_default
        self.shell_timeout_max = shell_timeout_max
        self.max_output_chars = max_output_chars
        self.shell_env = shell_env
        self.names = tuple(name for name in TOOL_NAMES if name in enabled)
        self._preparers: dict[str, Callable[[dict[str, Any]], PreparedCall]] = {
            "read_file": self._read_file,
            "list_files": self._list_files,
            "search": self._search,
            "write_file": self._write_file,
            "edit_file": self._edit_file,
            "run_shell": self._run_shell,
            "update_plan": self._update_plan,
        }

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools`` list for a Chat Completions request."""
        return [TOOL_SCHEMAS[name] for name in self.names]

    def prepare(self, name: str, raw_arguments: str | Mapping[str, Any]) -> PreparedCall:
        """Check a call and work out what it will do, touching nothing.

        Raises:
            ToolError: unknown tool, arguments that are not a JSON object, a missing or
                mistyped argument, a refused path, or an edit that cannot apply.
        """
        if name not in self.names:
            raise ToolError(f"Unknown tool {name!r}. The tools are: {', '.join(self.names)}.")
        args = check_arguments(name, parse_arguments(name, raw_arguments))
        return self._preparers[name](args)

    def _call(self, name: str, args: dict[str, Any], kind: ToolKind, summary: str,
              action: Callable[[], ToolOutput], edits: list[FileEdit] | None = None
              ) -> PreparedCall:
        return PreparedCall(name, args, kind, edits or [], summary, action)

    def _read_file(self, args: dict[str, Any]) -> PreparedCall:
        path, offset, limit = args["path"], args.get("offset", 1), args.get("limit")
        real = self.workspace.resolve(path)
        if not real.exists():
            raise ToolError(f"File not found: {path!r}. Use list_files to see what exists.")
        return self._call("read_file", args, "read", f"read {self.workspace.relative(real)}",
                          lambda: ToolOutput(readers.read_text(self.workspace, path, offset, limit)))

    def _list_files(self, args: dict[str, Any]) -> PreparedCall:
        path, pattern = args.get("path", "."), args.get("pattern")
        rel = self.workspace.relative(self.workspace.resolve(path))
        summary = f"list {rel}" + (f" {pattern}" if pattern else "")
        return self._call("list_files", args, "read", summary,
                          lambda: ToolOutput(readers.list_text(self.workspace, path, pattern)))

    def _search(self, args: dict[str, Any]) -> PreparedCall:
        pattern, path, glob = args["pattern"], args.get("path", "."), args.get("glob")
        readers.compile_regex(pattern)
        rel = self.workspace.relative(self.workspace.resolve(path))
        summary = f"search /{pattern}/ in {rel}" + (f" ({glob})" if glob else "")
        return self._call(
            "search", args, "read", _one_line(summary),
            lambda: ToolOutput(readers.search_text(self.workspace, pattern, path, glob)),
        )

    def _write_file(self, args: dict[str, Any]) -> PreparedCall:
        edit = plan_write(self.workspace, args["path"], args["content"])
        if edit is None:
            rel = self.workspace.relative(self.workspace.resolve(args["path"]))
            text = f"{rel} already has this content; nothing changed."
            return self._call("write_file", args, "edit", f"write {rel}", lambda: ToolOutput(text))
        lines = args["content"].count("\n") + (not args["content"].endswith("\n"))
        verb = "Created" if edit.op == "create" else "Wrote"
        text = f"{verb} {edit.path} ({lines} lines, {len(edit.after or b'')} bytes)."
        summary = f"{'create' if edit.op == 'create' else 'write'} {edit.path}"
        return self._call("write_file", args, "edit", summary, self._applier([edit], text), [edit])

    def _edit_file(self, args: dict[str, Any]) -> PreparedCall:
        edit, count = plan_replace(self.workspace, args["path"], args["old_string"],
                                   args["new_string"], bool(args.get("replace_all", False)))
        text = f"Edited {edit.path}: replaced {count} occurrence{'s' if count > 1 else ''}."
        return self._call("edit_file", args, "edit", f"edit {edit.path}",
                          self._applier([edit], text), [edit])

    def _applier(self, edits: list[FileEdit], text: str) -> Callable[[], ToolOutput]:
        def apply() -> ToolOutput:
            for edit in edits:
                apply_edit(self.workspace, edit)
            return ToolOutput(text)

        return apply

    def _run_shell(self, args: dict[str, Any]) -> PreparedCall:
        command = args["command"]
        if not command.strip():
            raise ToolError("command is empty; give the bash command line to run.")
        if len(command.encode("utf-8")) > MAX_COMMAND_BYTES:
            raise ToolError(
                f"command is longer than {MAX_COMMAND_BYTES} bytes; write a script with "
                "write_file and run that instead."
            )
        timeout = float(args.get("timeout", self.shell_timeout_default))
        capped = timeout > self.shell_timeout_max
        timeout = min(timeout, self.shell_timeout_max)

        def run() -> ToolOutput:
            result = run_command(command, self.workspace.root, timeout=timeout,
                                 max_output_chars=self.max_output_chars, env=self.shell_env)
            if result.timed_out:
                status = (f"[timed out after {timeout:g} s; the command and the processes it "
                          "started were stopped]")
            else:
                status = f"[exit code: {result.exit_code}]"
            if capped:
                status += f" [timeout capped at {self.shell_timeout_max:g} s]"
            body = result.output if result.output.endswith("\n") or not result.output \
                else result.output + "\n"
            data = {"exit_code": result.exit_code, "timed_out": result.timed_out,
                    "duration_ms": result.duration_ms, "truncated": result.truncated}
            return ToolOutput((body or "(no output)\n") + status, result.timed_out, data)

        return self._call("run_shell", args, "shell", "$ " + _one_line(command), run)

    def _update_plan(self, args: dict[str, Any]) -> PreparedCall:
        items = validate_plan(args["items"])
        marks = {"pending": "[ ]", "in_progress": "[>]", "done": "[x]"}
        lines = [f"{marks[item['status']]} {item['title']}" for item in items]
        text = "Plan updated:\n" + "\n".join(lines) if lines else "Plan cleared."
        return self._call("update_plan", args, "plan", f"update plan ({len(items)} items)",
                          lambda: ToolOutput(text, data={"items": items}))


def _one_line(text: str, limit: int = 200) -> str:
    first = text.strip().split("\n", 1)[0]
    cut = len(first) > limit or "\n" in text.strip()
    return first[:limit] + (" …" if cut else "")
