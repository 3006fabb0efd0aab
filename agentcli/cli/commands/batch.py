"""``batch``: run many tasks as sessions, resume a batch, show it, export its diffs.

``agentcli batch TASKS.jsonl`` is ``agentcli batch run TASKS.jsonl``: the group reads a
first argument that is no subcommand as the task file. The work itself is in
``agentcli/batch/``; this module parses options and picks how progress is shown.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from agentcli.cli.lean import LeanCommand, LeanGroup
from agentcli.cli.options import DebugOpt, JsonOpt, WorkspaceOpt, make_context

BatchArg = Annotated[str, typer.Argument(help="Batch id, a unique prefix of 4+ characters, 'last', or a "
                                               ".sqlite path.")]
TasksArg = Annotated[Path, typer.Argument(help="The task file: one JSON object a line (see the README).")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", "-w", min=1,  # noqa: UP045
                                                   help="Tasks running at once on this machine (default 4).")]
BudgetOpt = Annotated[Optional[float], typer.Option(  # noqa: UP045
    "--max-cost", min=0, help="Dollars the whole batch may spend: once spent, no new task starts.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model of tasks that name none.")]  # noqa: UP045
BaseUrlOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--base-url", help="OpenAI-compatible endpoint for every task.")]
ApprovalOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--approval", help="Approval of tasks that name none: ask (what needs asking is denied), auto-edit, "
                       "full-auto or read-only.")]
MaxTurnsOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--max-turns", min=1, help="Model calls per task (default 100).")]
RetriesOpt = Annotated[Optional[int], typer.Option(  # noqa: UP045
    "--retries", min=0, help="Times a task whose process died is resumed again in one run (default 2).")]
RayOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--ray", help="Run the tasks on a Ray cluster: its address, or 'auto' (pip install 'agentcli[ray]').")]
PrintOpt = Annotated[bool, typer.Option("--print", "-p", help="One line per task, no live display.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o",  # noqa: UP045
                                                   help="Write to this file instead of stdout.")]
TaskOpt = Annotated[Optional[str], typer.Option("--task", "-t", help="Show one task: answer, error, "  # noqa: UP045
                                                                      "attempts, diff.")]
DoneOpt = Annotated[bool, typer.Option("--done-only", help="Only the tasks that finished done.")]


class BatchGroup(LeanGroup):
    """``batch FILE`` runs ``batch run FILE``; ``batch resume|show|export ID`` as named."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]  # batch TASKS.jsonl ..., or batch --workers 2 TASKS.jsonl
        return super().parse_args(ctx, args)


def _emitter(json_out: bool, print_mode: bool) -> Any:
    from agentcli.agent.events import serialized
    from agentcli.cli.render.batch_progress import LinePrinter, LiveDisplay, json_sink

    if json_out:
        return serialized(json_sink)
    if print_mode or not sys.stderr.isatty():
        return serialized(LinePrinter())
    return LiveDisplay()


def _drive(batch: Any, settings: Any, *, resumed: bool, ray: str | None, json_out: bool,
           print_mode: bool) -> int:
    from agentcli.batch.report import summary_line
    from agentcli.batch.runs import run_batch

    emit = _emitter(json_out, print_mode)
    try:
        result = run_batch(batch, settings, emit, resumed=resumed, ray_address=ray)
    finally:
        if hasattr(emit, "stop"):
            emit.stop()
    if not json_out:
        print(summary_line(batch))
        sys.stderr.write(f"agentcli: batch {batch.path.stem} {result.status}: agentcli batch show "
                         f"{batch.path.stem} for every task, agentcli batch export {batch.path.stem} "
                         "for the diffs" + (f"; agentcli batch resume {batch.path.stem} goes on"
                                            if result.status != "done" else "") + "\n")
    return result.exit_code


def _check_approval(approval: str | None) -> None:
    from agentcli.batch.tasks import APPROVALS
    from agentcli.errors import UsageError

    if approval is not None and approval not in APPROVALS:
        raise UsageError(f"--approval {approval!r} is not one of {', '.join(APPROVALS)}")


def run(tasks: TasksArg, workers: WorkersOpt = None, max_cost: BudgetOpt = None, model: ModelOpt = None,
        base_url: BaseUrlOpt = None, approval: ApprovalOpt = None, max_turns: MaxTurnsOpt = None,
        retries: RetriesOpt = None, ray: RayOpt = None, print_mode: PrintOpt = False,
        json_out: JsonOpt = False, workspace: WorkspaceOpt = None, debug: DebugOpt = False) -> int:
    """Run every task of TASKS (a JSONL file) as its own session; the batch is kept in one file."""
    from agentcli.batch.attempt import RunSettings
    from agentcli.batch.runs import create_batch

    _check_approval(approval)
    ctx = make_context(workspace, None)
    given = {"workers": workers, "max_cost": max_cost, "model": model, "base_url": base_url,
             "approval": approval, "max_turns": max_turns, "retries": retries}
    settings = RunSettings(env=dict(os.environ), **{k: v for k, v in given.items() if v is not None})
    batch = create_batch(tasks, workspace_root=ctx.workspace_root, state_dir=ctx.state_dir,
                         settings=settings, runner="ray" if ray else "local", ray_address=ray)
    with batch:
        return _drive(batch, settings, resumed=False, ray=ray, json_out=json_out, print_mode=print_mode)


def resume(batch_ref: BatchArg, workers: WorkersOpt = None, max_cost: BudgetOpt = None,
           model: ModelOpt = None, base_url: BaseUrlOpt = None, approval: ApprovalOpt = None,
           max_turns: MaxTurnsOpt = None, retries: RetriesOpt = None, ray: RayOpt = None,
           print_mode: PrintOpt = False, json_out: JsonOpt = False, workspace: WorkspaceOpt = None,
           debug: DebugOpt = False) -> int:
    """Go on with a batch after a kill or a stop: finished tasks are kept, interrupted ones resumed
    through their sessions, queued ones started."""
    from agentcli.batch.batchfile import BatchFile, find_batch
    from agentcli.batch.runs import stored_settings

    _check_approval(approval)
    ctx = make_context(workspace, None)
    with BatchFile.open(find_batch(ctx.state_dir, batch_ref), writer=True) as batch:
        given = {"workers": workers, "max_cost": max_cost, "model": model, "base_url": base_url,
                 "approval": approval, "max_turns": max_turns, "retries": retries}
        settings = stored_settings(batch, given, dict(os.environ))
        address = ray or batch.meta()["settings"].get("ray")
        return _drive(batch, settings, resumed=True, ray=address, json_out=json_out, print_mode=print_mode)


def show(batch_ref: BatchArg, task: TaskOpt = None, json_out: JsonOpt = False,
         workspace: WorkspaceOpt = None, debug: DebugOpt = False) -> int:
    """Every task's outcome: status, cost, turns, duration, files changed, session file."""
    from agentcli.batch.batchfile import BatchFile, find_batch
    from agentcli.batch.report import HEADERS, batch_json, summary_line, task_cells, task_json
    from agentcli.cli.commands.inspect import print_json
    from agentcli.cli.render.text import fit_width, table, terminal_width

    ctx = make_context(workspace, None)
    with BatchFile.open(find_batch(ctx.state_dir, batch_ref), writer=False) as batch:
        if task is not None:
            row = batch.task(task)
            doc = task_json(row, batch, diff=True)
            doc["attempts"] = batch.attempts(row.id)
            if json_out:
                print_json(doc)
            else:
                _show_task(doc)
            return 0
        if json_out:
            print_json(batch_json(batch))
            return 0
        meta = batch.meta()
        print(f"batch {meta['id']} · {meta['status']} · {meta['runner']} · {meta['tasks_file']}")
        text = table(HEADERS, [task_cells(t) for t in batch.tasks()], right={2, 3, 4, 5})
        width = terminal_width()
        print(fit_width(text, width) if width else text)
        print(summary_line(batch))
    return 0


def _show_task(doc: dict[str, Any]) -> None:
    from agentcli.cli.render.text import clean

    print(f"task {doc['id']} (line {doc['line']}) · {doc['status']} · exit {doc['exit_code']}")
    for label, key in (("workspace", "workspace"), ("commit", "commit"), ("session", "session_path"),
                       ("error", "error")):
        if doc.get(key):
            print(f"{label}: {clean(str(doc[key]))}")
    for attempt in doc["attempts"]:
        print(f"attempt {attempt['number']}: {attempt['kind']} on {attempt['runner']} "
              f"({attempt['worker'] or '-'}) → {attempt['status']} exit {attempt['exit_code']}")
    print(f"\nprompt:\n{clean(doc['prompt'])}\n\nanswer:\n{clean(doc['answer'] or '')}")
    if doc.get("diff"):
        print(f"\ndiff:\n{clean(doc['diff'])}", end="")


def export(batch_ref: BatchArg, output: OutputOpt = None, done_only: DoneOpt = False,
           workspace: WorkspaceOpt = None, debug: DebugOpt = False) -> int:
    """All diffs of the batch as one patch series (an mbox: git am applies it)."""
    from agentcli.batch.batchfile import BatchFile, find_batch
    from agentcli.batch.report import patch_series

    ctx = make_context(workspace, None)
    with BatchFile.open(find_batch(ctx.state_dir, batch_ref), writer=False) as batch:
        series = patch_series(batch, statuses=("done",) if done_only else ())
    if output is None:
        sys.stdout.write(series)
    else:
        output.write_text(series, encoding="utf-8")
        sys.stderr.write(f"agentcli: wrote {series.count('Subject: [PATCH ')} patches to {output}\n")
    return 0


def register(app: typer.Typer) -> None:
    """Add ``batch`` and its subcommands to ``app``."""
    group = typer.Typer(cls=BatchGroup, no_args_is_help=True, rich_markup_mode=None,
                        help="Run many tasks as sessions: one durable batch file, local workers or Ray.")
    group.command("run", cls=LeanCommand)(run)
    group.command("resume", cls=LeanCommand)(resume)
    group.command("show", cls=LeanCommand)(show)
    group.command("export", cls=LeanCommand)(export)
    app.add_typer(group, name="batch")
