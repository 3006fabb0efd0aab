"""Start a batch from a task file, or resume one from its batch file.

``create_batch`` checks the whole task file (and clones its repositories, resolving every
ref) before the batch file exists: a bad line leaves nothing behind. ``run_batch`` drives
an open batch file with the local workers or on Ray; resumed, it first settles what a
killed driver left ``running`` (those tasks are resumed through their sessions).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agentcli.agent.events import Event, EventSink
from agentcli.batch.attempt import BatchLayout, RunSettings
from agentcli.batch.batchfile import BatchFile, PlannedTask, batches_folder, new_batch_path
from agentcli.batch.launch import prestart
from agentcli.batch.repos import clone_repos
from agentcli.batch.scheduler import DEFAULT_WORKERS, BatchResult, LocalScheduler
from agentcli.batch.tasks import parse_tasks

STORED = ("base_url", "model", "approval", "max_turns", "max_cost", "workers", "retries")


def create_batch(tasks_file: Path, *, workspace_root: Path, state_dir: Path, settings: RunSettings,
                 runner: str = "local", ray_address: str | None = None) -> BatchFile:
    """Check ``tasks_file``, clone its repositories and create the batch file (as its writer).

    Raises:
        TaskFileError: a bad line (all are listed), a repository or ref that cannot be had.
    """
    from agentcli.session.directory import ensure_state_dir
    from agentcli.store.durable import ensure_private_dir

    specs = parse_tasks(tasks_file)
    if runner == "local":
        prestart()  # its imports overlap the clones and the batch file's creation
    ensure_state_dir(state_dir)
    ensure_private_dir(batches_folder(state_dir))
    path = new_batch_path(state_dir)
    layout = BatchLayout.of(path)
    layout.root.mkdir(mode=0o700)
    try:
        clones, commits = clone_repos(specs, layout.repos)
        repo_ids = {source: number for number, source in enumerate(clones, start=1)}
        planned = [PlannedTask(spec, Path(spec.workspace) if spec.workspace else layout.worktree(spec.id),
                               repo_ids.get(spec.repo) if spec.repo else None, commits.get(spec.id))
                   for spec in specs]
        stored = {key: value for key, value in asdict(settings).items() if key in STORED}
        return BatchFile.create(path, workspace_root=workspace_root, tasks_file=tasks_file.resolve(),
                                runner=runner, settings={**stored, "ray": ray_address},
                                repos=clones, tasks=planned)
    except BaseException:
        if not path.exists():
            shutil.rmtree(layout.root, ignore_errors=True)
        raise


def stored_settings(batch: BatchFile, overrides: dict[str, Any], env: dict[str, str]) -> RunSettings:
    """A resumed batch's settings: those it was started with, with the flags given now."""
    stored = {key: value for key, value in batch.meta()["settings"].items() if key in STORED}
    stored.update({key: value for key, value in overrides.items() if value is not None and key in STORED})
    return replace(RunSettings(env=env), **stored)


def run_batch(batch: BatchFile, settings: RunSettings, emit: EventSink, *, resumed: bool,
              ray_address: str | None = None) -> BatchResult:
    """Drive the batch to its end (local workers, or Ray when ``ray_address`` is given)."""
    if resumed and not ray_address:
        prestart()
    interrupted = batch.interrupt_running() if resumed else []
    batch.update_settings(**{key: getattr(settings, key) for key in STORED}, ray=ray_address)
    counts = batch.counts()
    emit(Event("batch.started", {
        "batch": batch.path.stem, "path": str(batch.path), "tasks": sum(counts.values()), "counts": counts,
        "workers": settings.workers or (None if ray_address else DEFAULT_WORKERS),
        "runner": "ray" if ray_address else "local", "ray": ray_address,
        "resumed": resumed, "interrupted": interrupted, "max_cost": settings.max_cost,
    }))
    if ray_address:
        from agentcli.batch.ray_runner import RayScheduler

        return RayScheduler(batch, settings, emit, ray_address).run()
    return LocalScheduler(batch, settings, emit).run()
