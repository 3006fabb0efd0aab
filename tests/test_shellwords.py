"""Issue 20, critical 1 and major 13: a grant covers only what bash would run as shown.

The lexer (agent/shellwords.py) is checked against a real bash on random strings: every
command it accepts as literal words is split by bash into exactly those words. Random
compositions of a granted command with every bash operator and ``#`` placement are
never covered. Options that run a program or write a path make a command exact-only,
in every spelling the program accepts.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agentcli.agent.grant_options import PROGRAMS
from agentcli.agent.grants import EXACT, PREFIX, covers, grant_for
from agentcli.agent.shellwords import split_command

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# Pieces random commands are made of: plain characters and everything bash treats specially.
PIECES = ["a", "b", "x", "-", "--", "=", ".", "/", ",", ":", "@", "%", "+", "^", " ", "  ", "\t", "'", '"',
          "\\", "$", "#", ";", "&", "|", "(", ")", "<", ">", "`", "*", "?", "[", "]", "{", "}", "~", "!",
          "\n", "é", "\u202e", "\u00a0", "'a b'", '"a b"', "\\ ", "$x", "${x}", "$'a'", "\\'", '\\"', '"\\"',
          '"\\$"', '"\\q"']
QUOTING = ["a", "-", "=", " ", "\t", "'", '"', "\\", "\\ ", "'a b'", '"a b"', "\\'", '\\"', '"\\"',
           '"\\$"', '"\\q"', "é", "#", "'#;'", '";"']  # mostly what the lexer accepts
command_text = st.one_of(st.lists(st.sampled_from(PIECES), max_size=14).map("".join),
                         st.lists(st.sampled_from(QUOTING), max_size=14).map("".join))

OPERATORS = [";", "&", "&&", "|", "||", "|&", ";;", "\n", "\r", ">", ">>", "<", "<<", "<<<", "<>", ">|", "&>",
             "2>", "2>&1", ">&2", "<(", ">(", "$(", "`", "(", ")", "{", "}", "$((", "${", "#", "!", "*", "~"]
GRANTED = ["ls -la", "git status", "git log --oneline", "cat README.md", "sort -n data", "npm test",
           "python -m pytest -q", "grep -r foo src", "go test ./..."]


def bash_words(commands: list[str]) -> list[list[str]]:
    """How bash splits each command: ``printf`` prints the words it was given, NUL-ended."""
    script = "".join(f"printf '%s\\0' {command}\nprintf '\\1\\0'\n" for command in commands)
    run = subprocess.run([BASH, "--norc", "--noprofile"], input=script.encode(), capture_output=True,
                         timeout=30, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert run.returncode == 0, run.stderr
    records = run.stdout.split(b"\x01\x00")[:-1]
    return [[word.decode() for word in record.split(b"\x00")[:-1]] for record in records]


@needs_bash
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command_text, min_size=10, max_size=40))
def test_what_the_lexer_accepts_bash_splits_into_the_same_words(commands: list[str]) -> None:
    accepted = [(text, parsed) for text in commands
                if (parsed := split_command(text)) is not None and parsed.literal]
    if not accepted:
        return
    split = bash_words([text for text, _ in accepted])
    assert len(split) == len(accepted)
    for (text, parsed), words in zip(accepted, split):
        assert list(parsed.words) == words, repr(text)


@needs_bash
def test_known_cases_agree_with_bash() -> None:
    cases = ["git log --format='%h %s' -- src", "a\\ b \"c\\$d\\q\" 'e\\'", 'x"y"z\'w\'', "ls \\;touch",
             "printf '%s' \"it's\"", "ls -- -x", "echo é", "ls\ta"]
    parsed = [split_command(case) for case in cases]
    assert all(p is not None and p.literal for p in parsed)
    assert bash_words(cases) == [list(p.words) for p in parsed if p is not None]


@given(base=st.sampled_from(GRANTED), operator=st.sampled_from(OPERATORS),
       tail=st.sampled_from(["touch PWNED", "x", "", "rm -rf docs", "#", "PWNED"]),
       where=st.floats(min_value=0, max_value=1), spaced=st.booleans())
def test_a_granted_command_composed_with_any_operator_is_never_covered(
        base: str, operator: str, tail: str, where: float, spaced: bool) -> None:
    grant = grant_for(base)
    assert grant is not None and grant.kind == PREFIX, base
    command = f"{base} {tail}".strip()
    at = round(where * len(command))
    if spaced:
        operator = f" {operator} "
    composed = command[:at] + operator + command[at:]
    assume(composed.strip(" \t\n") != command)  # a newline before or after: bash runs just the command
    assert not covers(grant, composed), repr(composed)
    wanted = grant_for(composed)
    assert wanted is None or wanted.kind == EXACT, repr(composed)


def test_the_hole_bash_opened_is_closed(tmp_path) -> None:
    """shlex read ``ls x#;touch PWNED`` as ``ls x`` and a comment; bash runs the touch."""
    if BASH is not None:
        subprocess.run([BASH, "-c", "ls x#;touch PWNED"], cwd=tmp_path, capture_output=True, timeout=10)
        assert (tmp_path / "PWNED").exists()  # what bash does with it
    assert not covers(grant_for("ls -la"), "ls x#;touch PWNED")
    assert grant_for("ls x#;touch PWNED") is None


# Major 13: an option that runs a program or writes a path, in each spelling -> exact only.
EXACT_ONLY = [
    "git grep -O foo", "git grep -Ovim foo", "git grep -iO foo", "git grep --open-files-in-pager=vim foo",
    "git grep --open-files foo", "git diff --output=/tmp/x", "git diff --output /tmp/x", "git diff --outp=x",
    "git log --output=x", "git show HEAD --output x", "git fetch --upload-pack='touch PWNED' origin",
    "git fetch --upload-pack=x", "git ls-remote -u x origin", "git ls-remote --upload-pack x origin",
    "rg --pre ./x foo", "rg --pre=./x foo", "rg --hostname-bin=./x foo", "go test -exec ./x ./...",
    "go test --exec=./x ./...", "go test -toolexec ./x", "go vet -vettool=./x", "go build -o /tmp/x",
    "go test -ldflags=-extld=./x", "go test ./... -args -test.outputdir=/tmp", "sort -o out data",
    "sort -oout data", "sort -no out data", "sort --output=out data", "sort --out=out data",
    "sort --compress-program=./x data", "man -P ./x ls", "man -Pcat ls", "man --pager=./x ls", "man -H ls",
    "zip -TT ./x a.zip f", "zip a.zip f", "find . -fprint x", "find . -name x", "pytest --basetemp=/home",
    "python -m pytest --junitxml=/tmp/x", "pytest -p evil", "pytest --pastebin=all", "tree -o out",
    "file -C -m magic", "date -s 2020-01-01", "cargo test -- --logfile /tmp/x", "cargo doc --open",
    "cargo clippy -- -Clinker=./x", "cargo build --config x", "npm test --script-shell=./x",
    "npm ls --userconfig=./x", "npm run build -- --prod", "pip list --log /tmp/x",
    "kubectl get pods --kubeconfig=./x", "uniq in out", "xxd in out",
]


@pytest.mark.parametrize("command", EXACT_ONLY)
def test_an_option_that_runs_a_program_or_writes_a_path_makes_the_command_exact_only(command: str) -> None:
    grant = grant_for(command)
    assert grant is not None and grant.kind == EXACT, grant
    program = command.split()[0]
    prefix = grant_for(" ".join(command.split()[:2 if program in ("git", "go", "npm", "pip", "kubectl",
                                                                   "cargo") else 1]))
    if prefix is not None and prefix.kind == PREFIX:
        assert not covers(prefix, command)  # a grant of the program itself does not let it through


@pytest.mark.parametrize(("command", "prefix"), [
    ("git diff --stat", "git diff"), ("git diff --output-indicator-new=+ HEAD", "git diff"),
    ("git log --oneline -5", "git log"), ("git fetch origin", "git fetch"), ("rg --pretty foo", "rg"),
    ("sort -n -k2 data", "sort"), ("go test -run TestX ./...", "go test"), ("man ls", "man"),
    ("pytest -x -q tests", "pytest"), ("cargo test --release", "cargo test"), ("npm ls react", "npm ls"),
])
def test_harmless_options_keep_the_prefix(command: str, prefix: str) -> None:
    grant = grant_for(command)
    assert grant is not None and (grant.kind, grant.pattern) == (PREFIX, prefix)


@needs_bash
def test_no_program_a_prefix_may_name_is_a_bash_keyword_or_a_builtin_that_evaluates() -> None:
    names = sorted(PROGRAMS)
    script = "".join(f"type -t {name} || echo none\n" for name in names)
    run = subprocess.run([BASH, "--norc", "--noprofile"], input=script, capture_output=True, text=True,
                         timeout=30, env={"PATH": "/usr/bin:/bin"})
    kinds = dict(zip(names, run.stdout.split()))
    assert len(kinds) == len(names)
    odd = {name: kind for name, kind in kinds.items()
           if kind not in ("file", "none") and name not in ("echo", "pwd", "true", "false")}
    assert odd == {}
