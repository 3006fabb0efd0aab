"""What an "always" answer grants for a shell command, and which commands a grant covers.

"Always" grants exactly what the person was shown (SPEC §2):

- a command is read by :mod:`~agentcli.agent.shellwords`, a lexer that accepts only what
  it splits exactly as bash does; a compound command (``;``, ``&&``, ``|``, redirections,
  ``$(...)``, a comment ...) or one it is not sure of is allowed once and never granted;
- a plain command of a program agentcli knows (:mod:`~agentcli.agent.grant_options`)
  grants its prefix: the program, and for tools whose first word says little the
  subcommand too (``git status``, ``npm run test``);
- everything else is granted only as the exact command: a program agentcli does not know
  (a workspace script, an interpreter running a file, ``bash -c``, ``env``, ``rm``), a
  program given by path, a word bash expands (``$HOME``, ``*.py``, ``~``), an assignment
  (``FOO=1 ls``), or an option that runs a program or writes a path (``sort -o``,
  ``git diff --output``).

A prefix grant covers a later command only when that command, asked about on its own,
would get the very same prefix: so a grant of ``sort`` covers ``sort -n data`` but not
``sort -o ~/.bashrc data``, and an old grant of ``bash`` covers nothing.

Example:
    >>> grant_for("git status --short")
    Grant(kind='command_prefix', pattern='git status')
    >>> covers(grant_for("rm -f junk.txt"), "rm -rf docs")
    False
    >>> describe_grant("bash -c 'echo hi'")
    "always allow exactly this command: bash -c 'echo hi'"
"""

from __future__ import annotations

import re

from agentcli.agent.grant_options import MODULES, PROGRAMS, Options, dangerous_word
from agentcli.agent.shellwords import Command, split_command
from agentcli.session.records import Grant

PREFIX = "command_prefix"  # pattern: the words a command must start with
EXACT = "command"  # pattern: the whole command

_INTERPRETERS = re.compile(r"^(python|python\d+(\.\d+)?|pypy\d*)$")
# A word a prefix may name: no quoting, spaces or expansion needed to write it back.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$")
_TRIM = " \t\n"  # what bash itself skips around a command (str.strip would take more)


def grant_for(command: str) -> Grant | None:
    """What "always" grants for ``command``: a prefix grant, an exact-command grant, or None
    for a compound command (or one that cannot be read with certainty), which is never granted."""
    command = command.strip(_TRIM)
    parsed = split_command(command)
    if parsed is None:
        return None
    prefix = _prefix_words(parsed)
    if prefix is None:
        return Grant(EXACT, command)
    return Grant(PREFIX, " ".join(prefix))


def covers(grant: Grant, command: str) -> bool:
    """Whether a stored grant lets ``command`` run unasked.

    An exact grant covers that command alone. A prefix grant covers a command only when
    the command, asked about on its own, would get the very same prefix grant — so a
    prefix never lets a different program, a wrapper, a risky subcommand or option, or a
    compound command through, whatever was stored before.
    """
    command = command.strip(_TRIM)
    if grant.kind == EXACT:
        same = bool(grant.pattern) and command == grant.pattern.strip(_TRIM)
        return same and grant_for(command) is not None
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
        return ("cannot be allowed always (a compound command, or one agentcli cannot read with "
                "certainty): this answer allows it once")
    if grant.kind == PREFIX:
        return f"always allow commands starting with {grant.pattern!r}"
    return f"always allow exactly this command: {command.strip(_TRIM)}"


def _prefix_words(parsed: Command) -> list[str] | None:
    """The words a prefix grant names, or None when only the exact command may be granted."""
    if not parsed.literal:
        return None  # a variable, a glob, braces or ~ could turn into anything
    words = list(parsed.words)
    program = words[0]
    if _INTERPRETERS.match(program):
        return _module_prefix(words)
    known = PROGRAMS.get(program)  # a bare name: a path (./x, /tmp/x/ls) is not the program we know
    if known is None:
        return None
    if not known.subcommands:
        return _checked(words, [program], known.options)
    if len(words) < 2:
        return [program]
    sub = words[1]
    extra = known.subcommands.get(sub)  # keys are plain words
    if extra is None:
        return None  # options before the subcommand (git -c), or a subcommand not known to be harmless
    prefix = words[:2]
    if sub in known.scripts:
        if len(words) < 3 or not _PLAIN_WORD.match(words[2]):
            return None
        prefix = words[:3]  # npm run test: the script is part of the grant
    return _checked(words, prefix, known.options + extra)


def _module_prefix(words: list[str]) -> list[str] | None:
    """``python -m pytest`` grants that (with pytest's risky options exact-only); a script,
    code on the command line (``-c``) or any other module: exact only."""
    if len(words) < 3 or words[1] != "-m" or words[2] not in MODULES:
        return None
    return _checked(words, words[:3], MODULES[words[2]])


def _checked(words: list[str], prefix: list[str], options: Options) -> list[str] | None:
    """``prefix``, unless a later word is an option that runs a program or writes a path."""
    if dangerous_word(options, words[len(prefix):]) is not None:
        return None
    return prefix
