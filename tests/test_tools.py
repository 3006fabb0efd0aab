"""The tools: schemas, prepare (checks and planned edits), execute, and the file readers."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from agentcli.agent.errors import ToolError
from agentcli.agent.tools.registry import (
    READ_ONLY_TOOLS,
    ToolLimits,
    ToolOutput,
    ToolRegistry,
    default_registry,
)
from agentcli.agent.workspace.edits import FileEdit, apply_edit, edit_status
from agentcli.agent.workspace.jail import Workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "sessions").mkdir()
    (root / "sessions" / "s.sqlite").write_text("db")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


@pytest.fixture
def box(root: Path) -> ToolRegistry:
    return default_registry(Workspace(root, protected=[root / "sessions"]))


def run(box: ToolRegistry, name: str, **args: Any) -> ToolOutput:
    return box.prepare(name, json.dumps(args)).execute()


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def test_schemas_offer_exactly_the_spec_tools(box: ToolRegistry) -> None:
    schemas = box.schemas()
    names = [s["function"]["name"] for s in schemas]
    assert names == ["read_file", "list_files", "search", "write_file", "edit_file",
                     "run_shell", "update_plan"]
    for schema in schemas:
        assert schema["type"] == "function"
        assert schema["function"]["description"]
        assert schema["function"]["parameters"]["type"] == "object"
    params = {s["function"]["name"]: s["function"]["parameters"] for s in schemas}
    assert set(params["edit_file"]["properties"]) == {"path", "old_string", "new_string",
                                                      "replace_all"}
    assert params["search"]["required"] == ["pattern"]


def test_read_only_toolbox_offers_only_readers(root: Path) -> None:
    scout = default_registry(Workspace(root)).only(READ_ONLY_TOOLS)
    assert [s["function"]["name"] for s in scout.schemas()] == list(READ_ONLY_TOOLS)
    with pytest.raises(ToolError, match="Unknown tool 'write_file'"):
        scout.prepare("write_file", '{"path": "a", "content": ""}')


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("delete_everything", "{}", r"Unknown tool 'delete_everything'. The tools are: read_file"),
        ("read_file", '{"path": "a.py"', "not valid JSON"),
        ("read_file", '["a.py"]', "must be a JSON object, not an array"),
        ("read_file", "{}", "needs the argument 'path'"),
        ("read_file", '{"path": 3}', "path of read_file must be a string, not a number"),
        ("read_file", '{"path": "a.py", "offset": "x"}', "offset of read_file must be an integer"),
        ("read_file", '{"path": "a.py", "offset": 0}', "must be at least 1"),
        ("read_file", '{"path": "a.py", "lines": 3}', "no parameter 'lines'"),
        ("edit_file", '{"path": "a", "old_string": "x", "new_string": "y", "replace_all": 1}',
         "replace_all of edit_file must be a boolean"),
        ("read_file", '{"path": "../etc/passwd"}', "outside the workspace"),
        ("write_file", '{"path": ".git/config", "content": ""}', r"\.git folder"),
        ("list_files", '{"path": "sessions"}', "protected folder"),
    ],
)
def test_prepare_rejects_bad_calls(box: ToolRegistry, name: str, raw: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        box.prepare(name, raw)


def test_null_optional_arguments_and_empty_argument_string_are_accepted(
    box: ToolRegistry, root: Path
) -> None:
    write(root, {"a.py": "x\n"})
    call = box.prepare("read_file", '{"path": "a.py", "offset": null, "limit": 2.0}')
    assert call.args == {"path": "a.py", "limit": 2}
    assert box.prepare("list_files", "").kind == "read"


def test_read_file_numbers_lines_with_offset_and_limit(box: ToolRegistry, root: Path) -> None:
    write(root, {"a.py": "".join(f"line {n}\n" for n in range(1, 11))})
    out = run(box, "read_file", path="a.py", offset=3, limit=2)
    assert out.text.splitlines() == ["     3\tline 3", "     4\tline 4",
                                     "[showing lines 3-4 of 10; read on with offset=5]"]
    whole = run(box, "read_file", path="a.py").text
    assert whole.splitlines()[0] == "     1\tline 1" and "showing" not in whole


def test_read_file_binary_empty_missing_and_past_end(box: ToolRegistry, root: Path) -> None:
    write(root, {"img.png": b"\x89PNG\x00\x01\x02", "empty.txt": "", "a.txt": "one\n"})
    assert run(box, "read_file", path="img.png").text == "img.png is a binary file (7 bytes); not shown."
    assert run(box, "read_file", path="empty.txt").text == "empty.txt is empty."
    with pytest.raises(ToolError, match="File not found"):
        box.prepare("read_file", '{"path": "nope.txt"}')
    past = run(box, "read_file", path="a.txt", offset=5)
    assert past.is_error and "past the end" in past.text


def test_read_file_caps_lines(root: Path) -> None:
    box = default_registry(Workspace(root, protected=[root / "sessions"]), ToolLimits(read_line_limit=3))
    write(root, {"a.txt": "a\nb\nc\nd\ne\n"})
    text = run(box, "read_file", path="a.txt", limit=100).text
    assert text.splitlines()[-1] == "[showing lines 1-3 of 5; read on with offset=4]"


def test_list_files_honours_root_and_nested_gitignore(box: ToolRegistry, root: Path) -> None:
    write(root, {
        ".gitignore": "*.log\nbuild/\n",
        "app.py": "", "debug.log": "", "build/out.js": "",
        "src/.gitignore": "secret.txt\n!keep.log\n",
        "src/main.py": "", "src/secret.txt": "", "src/keep.log": "", "src/deep/secret.txt": "",
        "docs/secret.txt": "",
    })
    listed = run(box, "list_files").text.splitlines()
    assert listed == [".gitignore", "app.py", "docs/secret.txt", "src/.gitignore",
                      "src/keep.log", "src/main.py"]


def test_list_files_pattern_and_path(box: ToolRegistry, root: Path) -> None:
    write(root, {"a.py": "", "src/b.py": "", "src/ui/c.ts": "", "src/ui/d.tsx": "", "e.ts": ""})
    assert run(box, "list_files", pattern="*.py").text.splitlines() == ["a.py", "src/b.py"]
    assert run(box, "list_files", pattern="src/**/*.ts").text.splitlines() == ["src/ui/c.ts"]
    assert run(box, "list_files", path="src", pattern="**/*.{ts,tsx}").text.splitlines() == [
        "src/ui/c.ts", "src/ui/d.tsx"]
    assert run(box, "list_files", pattern="*.rs").text == "No files found matching '*.rs'."


def test_list_files_caps_output(root: Path) -> None:
    box = default_registry(Workspace(root, protected=[root / "sessions"]), ToolLimits(list_limit=2))
    write(root, {f"f{n}.txt": "" for n in range(5)})
    lines = run(box, "list_files").text.splitlines()
    assert lines[:2] == ["f0.txt", "f1.txt"]
    assert lines[2].startswith("[... 3 more files not shown")


def test_search_with_glob_and_ignores(box: ToolRegistry, root: Path) -> None:
    write(root, {
        ".gitignore": "vendor/\n",
        "a.py": "def handler():\n    return 1\n",
        "b.txt": "def handler in text\n",
        "vendor/c.py": "def handler():\n",
        "bin.dat": b"\x00def handler",
    })
    out = run(box, "search", pattern=r"def \w+", glob="*.py")
    assert out.text == "a.py:1: def handler():"
    assert run(box, "search", pattern="handler").text.splitlines() == [
        "a.py:1: def handler():", "b.txt:1: def handler in text"]
    assert run(box, "search", pattern="nothing-here").text == "No matches found."


def test_search_invalid_regex(box: ToolRegistry) -> None:
    with pytest.raises(ToolError, match=r"Invalid regular expression '\(unclosed'"):
        box.prepare("search", '{"pattern": "(unclosed"}')


def test_write_then_edit(box: ToolRegistry, root: Path) -> None:
    call = box.prepare("write_file", json.dumps({"path": "pkg/mod.py", "content": "a = 1\nb = 1\n"}))
    assert call.kind == "edit" and call.summary == "create pkg/mod.py"
    [edit] = call.edits
    assert (edit.path, edit.op, edit.before, edit.after) == ("pkg/mod.py", "create", None,
                                                             b"a = 1\nb = 1\n")
    assert not (root / "pkg").exists()  # prepare touches nothing
    assert call.execute().text == "Created pkg/mod.py (2 lines, 12 bytes)."
    assert (root / "pkg" / "mod.py").read_text() == "a = 1\nb = 1\n"

    edit_call = box.prepare("edit_file", json.dumps(
        {"path": "pkg/mod.py", "old_string": "a = 1", "new_string": "a = 2"}))
    assert edit_call.summary == "edit pkg/mod.py" and edit_call.edits[0].op == "modify"
    assert edit_call.execute().text == "Edited pkg/mod.py: replaced 1 occurrence."
    assert (root / "pkg" / "mod.py").read_text() == "a = 2\nb = 1\n"


def test_edit_failures_are_clear(box: ToolRegistry, root: Path) -> None:
    write(root, {"m.py": "x = 1\nx = 1\n"})
    cases = [
        ({"old_string": "y = 1", "new_string": "z"}, "old_string not found in 'm.py'"),
        ({"old_string": "x = 1", "new_string": "x = 2"}, "occurs 2 times.*replace_all"),
        ({"old_string": "x = 1", "new_string": "x = 1"}, "identical"),
        ({"old_string": "", "new_string": "x"}, "empty"),
    ]
    for args, message in cases:
        with pytest.raises(ToolError, match=message):
            box.prepare("edit_file", json.dumps({"path": "m.py", **args}))
    with pytest.raises(ToolError, match="File not found: 'nope.py'"):
        box.prepare("edit_file", '{"path": "nope.py", "old_string": "a", "new_string": "b"}')


def test_edit_replace_all_and_crlf(box: ToolRegistry, root: Path) -> None:
    write(root, {"m.py": "x = 1\nx = 1\n", "w.txt": b"one\r\ntwo\r\n"})
    out = run(box, "edit_file", path="m.py", old_string="x = 1", new_string="y", replace_all=True)
    assert out.text == "Edited m.py: replaced 2 occurrences."
    assert (root / "m.py").read_text() == "y\ny\n"
    run(box, "edit_file", path="w.txt", old_string="one\ntwo", new_string="1\n2")
    assert (root / "w.txt").read_bytes() == b"1\r\n2\r\n"


def test_write_preserves_mode_and_unchanged_write_has_no_edit(box: ToolRegistry, root: Path) -> None:
    write(root, {"run.sh": "#!/bin/sh\n"})
    (root / "run.sh").chmod(0o755)
    assert box.prepare("write_file", '{"path": "run.sh", "content": "#!/bin/sh\\n"}').edits == []
    call = box.prepare("write_file", '{"path": "run.sh", "content": "#!/bin/sh\\necho\\n"}')
    assert call.edits[0].before_mode == call.edits[0].after_mode == 0o755
    call.execute()
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o755


def test_apply_edit_and_edit_status_for_reconciliation(box: ToolRegistry, root: Path) -> None:
    write(root, {"f.txt": "old\n"})
    ws = box.ctx.workspace
    edit = FileEdit("f.txt", b"old\n", b"new\n", 0o644, 0o644)
    (root / "f.txt").chmod(0o644)
    assert edit_status(ws, edit) == "before"
    apply_edit(ws, edit)
    assert edit_status(ws, edit) == "after" and (root / "f.txt").read_bytes() == b"new\n"
    (root / "f.txt").write_text("someone else\n")
    assert edit_status(ws, edit) == "other"
    delete = FileEdit("f.txt", b"someone else\n", None, 0o644, None)
    assert delete.op == "delete"
    apply_edit(ws, delete)
    assert not (root / "f.txt").exists() and edit_status(ws, delete) == "after"
    assert FileEdit("g", b"x", b"x", 0o644, 0o755).op == "mode"
    assert edit.before_hash != edit.after_hash and len(edit.after_hash or "") == 64


def test_execute_reports_failures_instead_of_raising(box: ToolRegistry, root: Path) -> None:
    write(root, {"a.txt": "x\n"})
    call = box.prepare("read_file", '{"path": "a.txt"}')
    (root / "a.txt").unlink()
    out = call.execute()
    assert out.is_error and "No such file" in out.text


def test_update_plan_validation(box: ToolRegistry) -> None:
    items = [{"title": "Read code", "status": "done"}, {"title": "Fix", "status": "in_progress"},
             {"title": "Test", "status": "pending"}]
    call = box.prepare("update_plan", json.dumps({"items": items}))
    assert call.kind == "plan" and call.edits == []
    out = call.execute()
    assert out.data == {"items": items}
    assert out.text == "Plan updated:\n[x] Read code\n[>] Fix\n[ ] Test"
    bad = [
        ({"items": [{"title": "x", "status": "someday"}]}, r"items\[0\].status must be one of"),
        ({"items": [{"status": "done"}]}, r"items\[0\].title"),
        ({"items": ["x"]}, r"items\[0\] must be an object"),
        ({"items": "x"}, "items of update_plan must be an array"),
    ]
    for args, message in bad:
        with pytest.raises(ToolError, match=message):
            box.prepare("update_plan", json.dumps(args))


def test_run_shell_reports_exit_code_and_caps_timeout(box: ToolRegistry, root: Path) -> None:
    call = box.prepare("run_shell", '{"command": "echo hi; exit 2", "timeout": 9999}')
    assert call.kind == "shell" and call.summary == "$ echo hi; exit 2"
    out = call.execute()
    assert not out.is_error
    assert out.text == "hi\n[exit code: 2] [timeout capped at 600 s]"
    assert out.data["exit_code"] == 2 and out.data["timed_out"] is False
    assert run(box, "run_shell", command="pwd").text == f"{root.resolve()}\n[exit code: 0]"


def test_run_shell_timeout_is_an_error_result(root: Path) -> None:
    box = default_registry(Workspace(root), ToolLimits(shell_timeout=0.3))
    out = run(box, "run_shell", command="sleep 5")
    assert out.is_error and out.data["timed_out"] and out.data["exit_code"] is None
    assert "timed out after 0.3 s" in out.text


def test_listing_skips_symlinked_dirs_and_honours_info_exclude(
    box: ToolRegistry, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.py").write_text("")
    (root / "out").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / ".git" / "info").mkdir()
    (root / ".git" / "info" / "exclude").write_text("local.txt\n")
    write(root, {"local.txt": "", "kept.txt": ""})
    assert run(box, "list_files").text.splitlines() == ["kept.txt"]


def test_the_listing_follows_gits_ignore_rules(box: ToolRegistry, root: Path) -> None:
    write(root, {".gitignore": "*.log\n!build/keep.js\n", "src/.gitignore": "!keep.log\n", "src/keep.log": "",
                 "src/a.log": "", "build/keep.js": "", "src/app.py": ""})
    (root / ".git" / "info").mkdir()
    (root / ".git" / "info" / "exclude").write_text("build/\n")
    # Nothing inside an ignored folder can be re-included: git never looks inside it.
    assert run(box, "list_files").text.splitlines() == [".gitignore", "src/.gitignore", "src/app.py",
                                                        "src/keep.log"]


def test_explicitly_named_ignored_folder_is_listed(box: ToolRegistry, root: Path) -> None:
    write(root, {".gitignore": "build/\n", "build/app.js": "let x\n", "build/app.js.map": ""})
    assert run(box, "list_files", path="build").text.splitlines() == ["build/app.js",
                                                                      "build/app.js.map"]
    assert run(box, "search", pattern="let", path="build/app.js").text == "build/app.js:1: let x"
