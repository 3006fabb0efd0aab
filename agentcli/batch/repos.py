"""Repositories and work trees: a task with a ``repo`` runs in a git worktree of its own.

Each repository the task file names (a URL or a local path) is cloned once, bare, into
the batch's folder — the user's own repository is never written — and each task's ref
is resolved to a commit before anything runs (a ref that does not resolve is a bad line,
exit 2). A task's worktree (``work/<task id>``, detached at its commit) is made when
the task first starts; a task started again without a session to resume is reset to
its commit first, so a second start never sees half of a first one.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from agentcli.batch.tasks import TaskFileError, TaskSpec
from agentcli.errors import AgentcliError

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
GIT_TIMEOUT_S = 600  # a clone over the network may be slow; never forever


class GitError(AgentcliError):
    """A git command failed; ``str(err)`` says which and git's own last line."""


def git(args: Sequence[str], cwd: Path | None = None) -> str:
    """Run ``git ARGS`` quietly and return its stdout; :class:`GitError` when it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("git is not installed: tasks with a repo need it (or give them a workspace)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {args[0]}: {last}")
    return done.stdout


def clone_repos(specs: Sequence[TaskSpec], folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Clone every repository the tasks name into ``folder`` and resolve each task's ref.

    Returns the clone of each source (in order of first use) and each repo task's commit.

    Raises:
        TaskFileError: a repository cannot be cloned or a ref does not resolve (by line).
    """
    clones: dict[str, Path] = {}
    commits: dict[str, str] = {}
    errors: list[str] = []
    failed: set[str] = set()
    for spec in specs:
        if spec.repo is None or spec.repo in failed:
            continue
        if spec.repo not in clones:
            clone = folder / f"{len(clones) + 1}.git"
            try:
                git(["clone", "--bare", "--quiet", spec.repo, str(clone)])
            except GitError as err:
                errors.append(f"line {spec.line}: cannot clone {spec.repo}: {err}")
                failed.add(spec.repo)
                continue
            clones[spec.repo] = clone
        ref = spec.ref or "HEAD"
        try:
            commits[spec.id] = git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                                   cwd=clones[spec.repo]).strip()
        except GitError:
            errors.append(f"line {spec.line}: ref {ref!r} is not a commit of {spec.repo}")
    if errors:
        noun = "line" if len(errors) == 1 else "lines"
        raise TaskFileError(f"{len(errors)} bad task {noun}, nothing was run:\n  " + "\n  ".join(errors))
    return clones, commits


def ensure_worktree(clone: Path, path: Path, commit: str) -> None:
    """Make ``path`` a worktree of ``clone`` detached at ``commit`` unless it is one already
    (one ``git worktree add`` at a time per clone: git locks its own files)."""
    if (path / ".git").exists():
        return
    with _lock_for(clone):
        try:
            git(["worktree", "add", "--detach", "--quiet", str(path), commit], cwd=clone)
        except GitError:  # a worktree add killed half-way: its folder and record go, then again
            shutil.rmtree(path, ignore_errors=True)  # ours (work/<task>) and never a worktree yet
            git(["worktree", "prune"], cwd=clone)
            git(["worktree", "add", "--detach", "--quiet", str(path), commit], cwd=clone)


def reset_worktree(path: Path, commit: str) -> None:
    """Put a task's worktree back to its commit: tracked files restored, untracked removed
    (ignored files, agentcli's own ``.agentcli/`` among them, are left)."""
    git(["reset", "--hard", "--quiet", commit], cwd=path)
    git(["clean", "-fdq"], cwd=path)


def _lock_for(clone: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(clone), threading.Lock())
