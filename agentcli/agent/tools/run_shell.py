"""``run_shell(command, timeout?, sandbox?, justification?)``: a bash command in the workspace
root, bounded in time, in the session's sandbox.

The command runs under the supervisor of :mod:`.shell` — inside the session's sandbox
(:mod:`agentcli.agent.sandbox`) unless the session has none — so it never outlives
agentcli; a cancelled token stops its whole process group at once and raises
``Cancelled``. ``sandbox: false`` asks to run it outside the sandbox: the approval
policy then always asks a person (and a scripted run refuses). A command that failed
because of the sandbox gets a note saying what the sandbox allows and how to ask for more.

Example:
    >>> print(default_registry(ws).prepare("run_shell", '{"command": "echo hi"}').execute().text)
    hi
    [exit code: 0]
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.sandbox.policy import Confinement
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput, one_line
from agentcli.agent.tools.shell import ShellResult, run_command
from agentcli.agent.tools.supervisor_client import SupervisorError


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
            "stopped at the timeout, and background processes are ended when it finishes. "
            "It runs in the session's sandbox (unless the user turned it off): writes only inside "
            "the workspace (not .git or .agentcli) and a private /tmp, no network unless the user "
            "allowed it; a command the sandbox refused gets a note saying so.",
            {
                "command": {"type": "string", "description": "The bash command line."},
                "timeout": {"type": "number", "minimum": 1,
                            "description": "Seconds before the command is stopped "
                                           f"(default {limits.shell_timeout:g}, "
                                           f"maximum {limits.shell_timeout_max:g})."},
                "sandbox": {"type": "boolean",
                            "description": "false: run outside the sandbox (writes anywhere, network). "
                                           "Only when the sandbox refused what the task needs; the user "
                                           "is asked every time. Give a justification."},
                "justification": {"type": "string",
                                  "description": "With sandbox false: why the command must run outside "
                                                 "the sandbox, for the user who decides."},
            },
            ["command"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Refuse an empty or oversized command; settle the timeout (capped at the maximum)
        and how the command runs (in the sandbox, or outside it)."""
        command: str = args["command"]
        limits = self.limits
        if not command.strip():
            raise ToolError("command is empty; give the bash command line to run.")
        if len(command.encode("utf-8")) > limits.max_command_bytes:
            raise ToolError(
                f"command is longer than {limits.max_command_bytes} bytes; write a script with "
                "write_file and run that instead."
            )
        outside = args.get("sandbox") is False
        justification = str(args.get("justification") or "").strip()
        if outside and not justification and ctx.sandbox is not None and ctx.sandbox.policy.confined:
            raise ToolError('sandbox false needs a "justification": say why the command must run '
                            "outside the sandbox; the user reads it before deciding.")
        timeout = float(args.get("timeout", limits.shell_timeout))
        capped = timeout > limits.shell_timeout_max
        timeout = min(timeout, limits.shell_timeout_max)
        confinement = (ctx.sandbox.confinement(outside, justification) if ctx.sandbox is not None
                       else Confinement("off"))

        def run(token: CancelToken) -> ToolOutput:
            sandbox = ctx.sandbox if confinement.confined else None
            try:
                result = run_command(
                    command, ctx.workspace.root, timeout=timeout, max_output_chars=limits.max_output_chars,
                    env=sandbox.environment(ctx.shell_env) if sandbox else ctx.shell_env, cancel=token,
                    on_output=ctx.on_output, supervisor=sandbox.supervisor() if sandbox else None)
            except SupervisorError as err:
                if sandbox is None:
                    raise
                sandbox.started_badly()
                return ToolOutput(f"error: {err}, so the command did not run. The user can run "
                                  "agentcli doctor to see why, or start agentcli with --sandbox off to run "
                                  "commands unconfined.", is_error=True)
            output = self._output(result, timeout, capped)
            note = sandbox.note(result.output, result.exit_code) if sandbox else None
            if note:
                output.text += "\n" + note
            return output

        call = self.call(args, "$ " + one_line(command), run)
        call.confinement = confinement
        return call

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
