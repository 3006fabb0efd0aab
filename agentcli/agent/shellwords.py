"""A deliberately small shell lexer: the words of one simple command, as bash would split them.

A grant may only cover a command whose meaning is certain, so this lexer accepts a
subset of the shell language it can get exactly right, and refuses the rest:

- words separated by spaces or tabs, made of plain characters, ``'single'`` and
  ``"double"`` quoted parts and backslash escapes, joined as bash joins them;
- a word that bash would expand — ``$NAME``, ``${...}``, ``$'...'``, a glob (``*?[]``),
  braces (``{a,b}``) or ``~`` — is still one word, but the command is marked
  :attr:`Command.literal` False (its words are not known before it runs);
- everything else is refused (:func:`split_command` returns None): an operator
  (``; & | ( ) < >``), a substitution (`` ` ``, ``$(``, ``$[``), ``$'...'`` or ``$"..."``, an
  unquoted ``#`` (a comment, wherever it stands) or ``!``, a newline or any other control
  character, an invisible or direction-changing character, an unterminated quote, a
  trailing backslash.

What it accepts it splits exactly as bash does (``tests/test_shellwords.py`` checks this
against a real bash on random strings); ``sh`` (dash) agrees on that subset too.

Example:
    >>> split_command("git log --format='%h %s' -- src")
    Command(words=('git', 'log', '--format=%h %s', '--', 'src'), literal=True)
    >>> split_command("ls *.py").literal
    False
    >>> split_command("ls x#;touch PWNED") is None
    True
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

_BLANKS = " \t"
_REFUSED = frozenset(";&|()<>`#!\n\r")  # unquoted: operators, substitutions, comments, negation
_EXPANDING = frozenset("*?[]{}~")  # unquoted: globs, brace and tilde expansion
_DOUBLE_ESCAPES = frozenset('$`"\\')  # inside "...", a backslash quotes only these


@dataclass(frozen=True)
class Command:
    """One simple command: its words after quote removal, and whether they are final.

    ``literal`` False means bash expands at least one word (a variable, a glob, braces,
    ``~``): the words are what was written, not what will run.
    """

    words: tuple[str, ...]
    literal: bool


def split_command(command: str) -> Command | None:
    """The words of ``command`` when it is one simple command this lexer is sure of, else None."""
    if any(_unsafe_character(char) for char in command):
        return None
    words: list[str] = []
    literal = True
    current: list[str] | None = None  # the word being built; None between words
    i, end = 0, len(command)
    while i < end:
        char = command[i]
        if char in _BLANKS:
            if current is not None:
                words.append("".join(current))
                current = None
            i += 1
            continue
        if current is None:
            current = []
        if char == "'":
            close = command.find("'", i + 1)
            if close < 0:
                return None
            current.append(command[i + 1:close])
            i = close + 1
        elif char == '"':
            part = _double_quoted(command, i + 1)
            if part is None:
                return None
            text, i, expands = part
            current.append(text)
            literal = literal and not expands
        elif char == "\\":
            if i + 1 >= end:
                return None  # a backslash at the end continues the line
            current.append(command[i + 1])
            i += 2
        elif char == "$":
            if command[i + 1:i + 2] in ("(", "[", "'", '"'):
                return None  # $(command), $((arithmetic)), $[arithmetic], $'C string', $"locale"
            literal = False
            current.append(char)
            i += 1
        elif char in _REFUSED:
            return None
        else:
            literal = literal and char not in _EXPANDING
            current.append(char)
            i += 1
    if current is not None:
        words.append("".join(current))
    if not words:
        return None
    return Command(tuple(words), literal)


def _double_quoted(command: str, start: int) -> tuple[str, int, bool] | None:
    """The text of a ``"..."`` part opening before ``start``: (text, index after it, expands)."""
    out: list[str] = []
    expands = False
    i, end = start, len(command)
    while i < end:
        char = command[i]
        if char == '"':
            return "".join(out), i + 1, expands
        if char == "\\":
            following = command[i + 1:i + 2]
            if not following:
                return None
            if following in _DOUBLE_ESCAPES:
                out.append(following)
            else:
                out.append(char + following)  # kept as written, as bash does
            i += 2
            continue
        if char == "`":
            return None
        if char == "$":
            if command[i + 1:i + 2] in ("(", "["):
                return None
            expands = True
        out.append(char)
        i += 1
    return None  # unterminated


def _unsafe_character(char: str) -> bool:
    """A character this lexer refuses anywhere, quoted or not: controls (newline included),
    and what would hide or reorder text at the approval question (format characters such
    as bidi overrides and zero-width spaces, separators other than the space)."""
    if char in _BLANKS:
        return False
    if char.isascii():
        return not char.isprintable()
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp")
