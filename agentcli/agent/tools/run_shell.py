"""``run_shell(command, timeout?)``: a bash command in the workspace root, bounded in time.

The command runs under the supervisor of :mod:`.shell`, so it never outlives agentcli;
a cancelled token stops its whole process group at once and raises ``Cancelled``.

Example:
    >>> print(default_registry(ws).prepare("run_shell", '{"command": "echo hi"}').execute().text)
    hi
    [exit code: 0]
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput, one_line
from agentcli.agent.tools.shell import ShellResult, run_command


class RunShell(Tool):
    """Run a command with a timeout (capped) and a cap on the output returned."""

    name = "run_shell"
    kind = "shell"
    mutates = True

    def schema(self) -> dict[str, Any]:
        """The schema; the default and maximum timeout quoted are the configured ones."""
        limits = self.limits
        return function_schema(
            self.name,
            "Run a bash command in the workspace root, without input (stdin is empty) and "
            "without a terminal. stdout and stderr come back merged, with the exit code; long "
            "output keeps its beginning and end. The command and everything it started are "
            "stopped at the timeout, and background processes are ended when it finishes.",
            {
                "command": {"type": "string", "description": "The bash command line."},
                "timeout": {"type": "number", "minimum": 1,
                            "description": "Seconds before the command is stopped "
                                           f"(default {limits.shell_timeout:g}, "
                                           f"maximum {limits.shell_timeout_max:g})."},
            },
            ["command"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Refuse an empty or oversized command; settle the timeout (capped at the maximum)."""
        command: str = args["command"]
        limits = self.limits
        if not command.strip():
            raise ToolError("command is empty; give the bash command line to run.")
        if len(command.encode("utf-8")) > limits.max_command_bytes:
            raise ToolError(
                f"command is longer than {limits.max_command_bytes} bytes; write a script with "
                "write_file and run that instead."
            )
        timeout = float(args.get("timeout", limits.shell_timeout))
        capped = timeout > limits.shell_timeout_max
        timeout = min(timeout, limits.shell_timeout_max)

        def run(token: CancelToken) -> ToolOutput:
            result = run_command(command, ctx.workspace.root, timeout=timeout,
                                 max_output_chars=limits.max_output_chars, env=ctx.shell_env,
                                 cancel=token, on_output=ctx.on_output)
            return self._output(result, timeout, capped)

        return self.call(args, "$ " + one_line(command), run)

    def _output(self, result: ShellResult, timeout: float, capped: bool) -> ToolOutput:
        """The model's view of a finished command: output, then a status line in brackets."""
        if result.timed_out:
            status = (f"[timed out after {timeout:g} s; the command and the processes it "
                      "started were stopped]")
        else:
            status = f"[exit code: {result.exit_code}]"
        if capped:
            status += f" [timeout capped at {self.limits.shell_timeout_max:g} s]"
        output = result.output
        body = output if output.endswith("\n") or not output else output + "\n"
        data = {"exit_code": result.exit_code, "timed_out": result.timed_out,
                "duration_ms": result.duration_ms, "truncated": result.truncated}
        return ToolOutput((body or "(no output)\n") + status, result.timed_out, data)
