"""Which programs a prefix grant may name, and which of their options make a command exact-only.

A prefix grant lets later commands of the same program run with other arguments, so it
is given only for programs agentcli knows: every program not in :data:`PROGRAMS` (a
script of the workspace, a compiler, a formatter, an interpreter running a file) is
granted as the exact command shown. For a known program, an option that takes a program
to run or a path to write (``sort -o``, ``git diff --output``, ``rg --pre``, ``man -P``,
``go test -exec``) makes that command exact-only too.

An option is recognised in every spelling its program accepts, and in more: a short
letter anywhere in a cluster (``-no out`` is ``-n -o out``), a long option with or
without ``=value`` and abbreviated (``--out=x`` is ``--output=x`` to GNU getopt, git's
parser and Python's), a single-dash long option (``-exec``, ``--exec``, ``-exec=x``), and
wherever it stands, even after ``--``. Seeing an option where there is none only costs
a question.

Example:
    >>> dangerous_word(Options(short="o", long=("output",)), ["-k2", "--out=/etc/x"])
    '--out=/etc/x'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Options:
    """The options of one program (or subcommand) that take a program or an output path.

    ``short``: letters (``-o x``, ``-ox``, ``-no x``); ``long``: names of ``--name[=x]``
    options, abbreviations included; ``single``: names of single-dash long options
    (``-exec``, as ``find`` and Go's flag package spell them); ``every``: every option
    is a setting that can name a program (npm's ``--script-shell=...``); ``closed``: no
    word may follow the prefix at all (a package script gets the rest: agentcli cannot
    know what its program does with them).
    """

    short: str = ""
    long: tuple[str, ...] = ()
    single: tuple[str, ...] = ()
    every: bool = False
    closed: bool = False

    def __add__(self, other: Options) -> Options:
        return Options(self.short + other.short, self.long + other.long, self.single + other.single,
                       self.every or other.every, self.closed or other.closed)


@dataclass(frozen=True)
class Program:
    """A program a prefix grant may name: its risky options and, for tools whose first word
    says little, the subcommands granted by prefix (any other is exact-only)."""

    options: Options = Options()
    subcommands: dict[str, Options] = field(default_factory=dict)
    scripts: frozenset[str] = frozenset()  # subcommands whose next word (a script's name) is granted too


NONE = Options()


def _harmless(*subcommands: str) -> dict[str, Options]:
    return dict.fromkeys(subcommands, NONE)


_SCRIPT = Options(closed=True)
_GO_FLAGS = ("exec", "toolexec", "o", "vettool", "cpuprofile", "memprofile", "blockprofile", "mutexprofile",
             "trace", "coverprofile", "outputdir", "pkgdir", "modfile", "overlay", "ldflags", "gcflags",
             "asmflags", "gccgoflags", "compiler", "C", "fuzzcache")
_PACKAGE_MANAGER = Options(every=True)  # every --option is a config setting (script-shell, userconfig ...)

_PLAIN = ("ls", "cat", "head", "tail", "wc", "pwd", "echo", "true", "false", "basename", "dirname",
          "realpath", "readlink", "stat", "du", "df", "which", "whoami", "id", "uname", "printenv", "grep",
          "egrep", "fgrep", "cut", "tr", "nl", "od", "hexdump", "strings", "comm", "join", "paste", "expand",
          "unexpand", "fold", "fmt", "column", "tac", "rev", "seq", "md5sum", "sha1sum", "sha256sum",
          "sha512sum", "b2sum", "cksum", "base64", "cmp", "diff", "jq")

PROGRAMS: dict[str, Program] = {
    **{name: Program() for name in _PLAIN},
    "file": Program(Options(short="C", long=("compile",))),  # -C writes a compiled magic file
    "tree": Program(Options(short="oR", long=("output",))),
    "date": Program(Options(short="s", long=("set",))),
    "sort": Program(Options(short="o", long=("output", "compress-program"))),
    "rg": Program(Options(long=("pre", "hostname-bin"))),
    "man": Program(Options(short="PHXpC", long=("pager", "html", "gxditview", "preprocessor",
                                                "config-file"))),
    "pytest": Program(Options(short="poc", long=(
        "basetemp", "junitxml", "junit-xml", "resultlog", "result-log", "report-log", "debug", "override-ini",
        "config-file", "confcutdir", "rootdir", "log-file", "html", "cov-report", "pastebin", "pyargs"))),
    "git": Program(
        Options(short="O", long=("output", "output-directory", "open-files-in-pager", "upload-pack",
                                 "receive-pack", "exec", "extcmd", "template", "config", "config-env",
                                 "separate-git-dir", "git-dir", "work-tree", "exec-path")),
        _harmless("status", "log", "show", "diff", "grep", "blame", "annotate", "shortlog", "describe",
                  "ls-files", "ls-tree", "rev-parse", "rev-list", "cat-file", "show-ref", "for-each-ref",
                  "merge-base", "name-rev", "whatchanged", "range-diff", "cherry", "count-objects",
                  "check-ignore", "check-attr", "diff-tree", "diff-files", "diff-index", "version", "fetch")
        | {"ls-remote": Options(short="u")},  # ls-remote -u is --upload-pack
    ),
    "npm": Program(_PACKAGE_MANAGER, {
        **{sub: _SCRIPT for sub in ("test", "t", "tst", "run", "run-script")},
        **_harmless("ls", "list", "ll", "la", "outdated", "view", "info", "show", "search", "why", "explain",
                    "prefix", "root"),
    }, frozenset({"run", "run-script"})),
    "yarn": Program(_PACKAGE_MANAGER, {"test": _SCRIPT, "run": _SCRIPT, "list": NONE, "info": NONE,
                                       "why": NONE, "outdated": NONE}, frozenset({"run"})),
    "pnpm": Program(_PACKAGE_MANAGER, {"test": _SCRIPT, "run": _SCRIPT, "list": NONE, "ls": NONE,
                                       "outdated": NONE, "why": NONE}, frozenset({"run"})),
    "cargo": Program(
        Options(short="CZ", long=("config", "target-dir", "artifact-dir", "out-dir", "manifest-path", "open",
                                  "logfile")),  # -C linker=... after `--` to clippy; libtest --logfile
        _harmless("test", "build", "check", "clippy", "fmt", "tree", "metadata", "bench", "doc"),
    ),
    "go": Program(Options(single=_GO_FLAGS + tuple(f"test.{name}" for name in _GO_FLAGS)),
                  _harmless("test", "build", "vet", "list", "version", "doc")),
    "pip": Program(Options(long=("log", "log-file", "python", "cache-dir")),
                   _harmless("list", "show", "freeze", "check")),
    "docker": Program(NONE, _harmless("ps", "images", "logs", "inspect", "version", "info", "top", "port",
                                      "history")),
    "kubectl": Program(
        Options(short="s", long=("kubeconfig", "server", "cache-dir", "profile", "profile-output", "log-file",
                                 "log-dir", "context", "cluster", "user")),
        _harmless("get", "describe", "logs", "explain", "version", "top", "api-resources", "api-versions"),
    ),
    "gh": Program(NONE, {"status": NONE, "search": NONE}),
}
PROGRAMS["pip3"] = PROGRAMS["pip"]
PROGRAMS["podman"] = PROGRAMS["docker"]
PROGRAMS["py.test"] = PROGRAMS["pytest"]

MODULES: dict[str, Options] = {"pytest": PROGRAMS["pytest"].options, "unittest": NONE}
"""``python -m MODULE`` granted by prefix, and the module's risky options."""


def dangerous_word(options: Options, words: Sequence[str]) -> str | None:
    """The first of ``words`` that is, or may be, one of ``options`` (None when none is)."""
    for word in words:
        if options.closed:
            return word
        if word.startswith("-") and word != "-" and (options.every or _matches(options, word)):
            return word
    return None


def _matches(options: Options, word: str) -> bool:
    name = word.lstrip("-").split("=", 1)[0]
    if name in options.single:
        return True
    if word.startswith("--"):
        # an abbreviation counts as the option it abbreviates; "--" alone is not an option
        return bool(name) and any(full.startswith(name) for full in options.long)
    return any(letter in options.short for letter in word[1:])
