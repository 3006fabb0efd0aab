"""What an "always" answer grants for a shell command, and which commands a grant covers.

"Always" grants exactly what the person was shown (SPEC §2):

- a plain command of a harmless program grants its prefix — the program, and for tools
  whose first word says little, the subcommand too (``git status``, ``npm run test``);
- interpreters and wrappers (``bash -c``, ``env``, ``xargs``, ``sudo``, ``python -c``,
  ``find -exec`` ...) and destructive programs (``rm``, ``dd``, ``git push``,
  ``git reset`` ...) are granted only as the exact command;
- a compound command (``;``, ``&&``, ``|``, redirections, ``$(...)``) is never granted.

A prefix grant covers a later command only when that command, asked about on its own,
would get the very same prefix: so a grant of ``find`` covers ``find . -name x`` but
not ``find / -delete``, and an old grant of ``bash`` covers nothing.

Example:
    >>> grant_for("git status --short")
    Grant(kind='command_prefix', pattern='git status')
    >>> covers(grant_for("rm -f junk.txt"), "rm -rf docs")
    False
    >>> describe_grant("bash -c 'echo hi'")
    "always allow exactly this command: bash -c 'echo hi'"
"""

from __future__ import annotations

import os
import re
import shlex

from agentcli.session.records import Grant

PREFIX = "command_prefix"  # pattern: the words a command must start with
EXACT = "command"  # pattern: the whole command

# Substitutions run another command even inside double quotes; a newline ends one.
_SUBSTITUTION = re.compile(r"`|\$\(|[\n\r]")
# Unquoted tokens made of these chain, pipe, group, background or redirect.
_OPERATOR_CHARS = frozenset("();<>|&")
# Words that could expand to anything: variables, globs, braces, ~.
_EXPANDS = re.compile(r"[$*?\[\]{}~]")

_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "busybox"}
_WRAPPERS = {
    "env", "xargs", "sudo", "doas", "su", "nohup", "timeout", "nice", "ionice", "time", "exec", "eval",
    "command", "builtin", "strace", "ltrace", "watch", "setsid", "stdbuf", "chroot", "unbuffer",
    "parallel", "ssh", "script", "flock", "taskset", "chrt", "runuser", "systemd-run", "npx", "pnpx",
    "bunx", "awk", "gawk", "mawk", "nawk", "sed", "perl", "ruby", "php", "lua", "tclsh", "osascript",
    "find", "git-shell", "expect", "make", "ninja",
}
_INTERPRETERS = re.compile(r"^(python|python\d+(\.\d+)?|pypy\d*|node|nodejs|deno|bun|Rscript|julia)$")
_DESTRUCTIVE = {
    "rm", "rmdir", "unlink", "shred", "dd", "truncate", "mv", "cp", "ln", "install", "chmod", "chown",
    "chgrp", "chattr", "kill", "pkill", "killall", "reboot", "shutdown", "halt", "poweroff", "mount",
    "umount", "fdisk", "parted", "wipefs", "curl", "wget", "scp", "rsync", "tee", "crontab", "at",
    "systemctl", "launchctl", "mkfs", "tar", "unzip", "patch",
}
# Tools whose first word says little: the grant names the subcommand too.
_SUBCOMMAND_TOOLS = {
    "git", "npm", "yarn", "pnpm", "cargo", "go", "uv", "pip", "pip3", "poetry", "docker", "podman",
    "dotnet", "bundle", "rake", "mvn", "gradle", "kubectl", "helm", "terraform", "pipenv", "pdm",
    "hatch", "conda", "brew", "apt", "apt-get", "gh", "composer", "mix", "swift", "stack", "cabal",
}
# Subcommands that change or publish things, or run arbitrary commands: exact only.
_RISKY_SUBCOMMANDS = {
    "git": {"push", "reset", "clean", "checkout", "restore", "rebase", "branch", "tag", "stash", "rm", "mv",
            "gc", "prune", "filter-branch", "filter-repo", "update-ref", "reflog", "worktree", "submodule",
            "config", "remote", "am", "apply", "cherry-pick", "revert", "merge", "pull", "switch",
            "commit", "replace", "notes", "send-email", "daemon", "credential", "archive", "bisect"},
    "npm": {"publish", "unpublish", "exec", "x", "install", "i", "uninstall", "rm", "ci", "link", "dist-tag",
            "deprecate", "owner", "access", "token", "adduser", "login", "cache", "update", "prune"},
    "yarn": {"publish", "dlx", "exec", "add", "remove", "install", "link", "npm"},
    "pnpm": {"publish", "dlx", "exec", "add", "remove", "install", "i", "link"},
    "cargo": {"publish", "yank", "owner", "login", "install", "uninstall", "clean"},
    "go": {"run", "install", "clean", "get", "generate"},
    "uv": {"run", "tool", "pip", "add", "remove", "publish", "sync", "cache", "self"},
    "pip": {"install", "uninstall", "download", "wheel", "cache", "config"},
    "pip3": {"install", "uninstall", "download", "wheel", "cache", "config"},
    "poetry": {"run", "publish", "add", "remove", "install", "shell", "self", "cache", "config"},
    "pipenv": {"run", "install", "uninstall", "shell", "clean"},
    "pdm": {"run", "publish", "add", "remove", "install", "self", "cache", "config"},
    "hatch": {"run", "publish", "shell", "env", "clean"},
    "docker": {"run", "exec", "rm", "rmi", "kill", "stop", "system", "volume", "network", "push", "login",
               "compose", "container", "image", "build", "cp", "create", "start", "restart", "prune"},
    "podman": {"run", "exec", "rm", "rmi", "kill", "stop", "system", "volume", "network", "push", "login",
               "compose", "container", "image", "build", "cp", "create", "start", "restart", "prune"},
    "bundle": {"exec", "install", "update", "clean", "add", "remove"},
    "dotnet": {"run", "nuget", "tool", "publish", "clean"},
    "kubectl": {"delete", "apply", "exec", "run", "edit", "patch", "replace", "scale", "drain", "cordon",
                "create", "set", "label", "annotate", "rollout", "cp", "port-forward", "proxy"},
    "helm": {"install", "uninstall", "upgrade", "rollback", "delete", "push", "plugin"},
    "terraform": {"apply", "destroy", "import", "state", "taint", "untaint", "force-unlock", "console"},
    "conda": {"install", "remove", "uninstall", "run", "create", "update", "clean", "env"},
    "brew": {"install", "uninstall", "remove", "upgrade", "cleanup", "tap", "services"},
    "apt": {"install", "remove", "purge", "upgrade", "autoremove", "full-upgrade"},
    "apt-get": {"install", "remove", "purge", "upgrade", "autoremove", "dist-upgrade"},
    "gh": {"api", "repo", "release", "pr", "issue", "secret", "auth", "gist", "workflow", "run", "extension",
           "alias", "ssh-key", "gpg-key", "codespace"},
    "composer": {"exec", "run", "run-script", "install", "require", "remove", "update", "global"},
    "mix": {"run", "deps.clean", "ecto.drop", "hex.publish"},
    "swift": {"run", "package"},
    "stack": {"exec", "run", "install", "clean"},
    "cabal": {"exec", "run", "install", "clean"},
    "rake": set(), "mvn": set(), "gradle": set(),
}
# ``npm run test``: the script's name is part of the grant.
_SCRIPT_RUNNERS = {("npm", "run"), ("npm", "run-script"), ("yarn", "run"), ("pnpm", "run"), ("npm", "test"),
                   ("npm", "start")}
_INTERPRETER_EVAL = {"-c", "-e", "-p", "--eval", "--print", "-", "-i", "--command"}


def grant_for(command: str) -> Grant | None:
    """What "always" grants for ``command``: a prefix grant, an exact-command grant, or None
    for a compound command (or one that cannot be parsed), which is never granted."""
    command = command.strip()
    words = _words(command)
    if not words:
        return None
    prefix = _prefix_words(words)
    if prefix is None:
        return Grant(EXACT, command)
    return Grant(PREFIX, " ".join(prefix))


def covers(grant: Grant, command: str) -> bool:
    """Whether a stored grant lets ``command`` run unasked.

    An exact grant covers that command alone. A prefix grant covers a command only when
    the command, asked about on its own, would get the very same prefix grant — so a
    prefix never lets a different program, a wrapper, a destructive subcommand or a
    compound command through, whatever was stored before.
    """
    command = command.strip()
    if grant.kind == EXACT:
        return bool(grant.pattern) and command == grant.pattern.strip() and grant_for(command) is not None
    if grant.kind != PREFIX or not grant.pattern:
        return False
    wanted = grant_for(command)
    return wanted is not None and wanted.kind == PREFIX and wanted.pattern == grant.pattern


def describe_grant(command: str) -> str:
    """What answering "always" to ``command`` would allow, in words for the question.

    Example:
        >>> describe_grant("git status --short")
        "always allow commands starting with 'git status'"
    """
    grant = grant_for(command)
    if grant is None:
        return "cannot be allowed always (a compound command): this answer allows it once"
    if grant.kind == PREFIX:
        return f"always allow commands starting with {grant.pattern!r}"
    return f"always allow exactly this command: {command.strip()}"


def _words(command: str) -> list[str] | None:
    """The command's words, or None when it is compound, empty or cannot be parsed."""
    if not command or _SUBSTITUTION.search(command):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # an unterminated quote: not something to grant
        return None
    if any(token and set(token) <= _OPERATOR_CHARS for token in tokens):
        return None
    try:
        return shlex.split(command) or None
    except ValueError:
        return None


def _prefix_words(words: list[str]) -> list[str] | None:
    """The words a prefix grant names, or None when only the exact command may be granted."""
    if any(_EXPANDS.search(word) for word in words):
        return None  # a variable, a glob or ~ could turn into anything
    first = words[0]
    if "=" in first:
        return None  # VAR=value program ...: the program is further on, and the environment changed
    program = os.path.basename(first)
    if program in _SHELLS or program in _WRAPPERS or program in _DESTRUCTIVE:
        return None
    if program.startswith("mkfs"):
        return None
    if _INTERPRETERS.match(program):
        return _interpreter_prefix(words)
    if program in _SUBCOMMAND_TOOLS:
        return _subcommand_prefix(program, words)
    return [first]


def _interpreter_prefix(words: list[str]) -> list[str] | None:
    """``python x.py`` grants ``python x.py``; ``python -m pytest`` grants that; code
    given on the command line (``-c``, ``-e``) or any other option: exact only."""
    if len(words) < 2:
        return None  # an interactive interpreter reads its code from somewhere else
    if words[1] == "-m" and len(words) > 2 and not words[2].startswith("-"):
        return words[:3]
    if words[1].startswith("-") or words[1] in _INTERPRETER_EVAL:
        return None
    return words[:2]


def _subcommand_prefix(program: str, words: list[str]) -> list[str] | None:
    """``git status`` grants ``git status``; options before the subcommand (``git -c``) or
    a risky subcommand (``git push``): exact only; ``npm run test`` names the script too."""
    if len(words) < 2:
        return [words[0]]
    sub = words[1]
    if sub.startswith("-") or sub in _RISKY_SUBCOMMANDS.get(program, set()):
        return None
    if (program, sub) in _SCRIPT_RUNNERS and sub in ("run", "run-script"):
        if len(words) < 3 or words[2].startswith("-"):
            return None
        return words[:3]
    return words[:2]
