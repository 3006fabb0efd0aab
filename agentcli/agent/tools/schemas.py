"""What the model is told about each tool: names, descriptions, JSON-schema parameters."""

from __future__ import annotations

from typing import Any

PLAN_STATUSES = ("pending", "in_progress", "done")


def _tool(name: str, description: str, properties: dict[str, Any],
          required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_PATH = "Path relative to the workspace root (an absolute path inside the workspace works too)."

TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "read_file": _tool(
        "read_file",
        "Read a text file. Lines come numbered like `cat -n` (number, tab, text); the numbers "
        "are not part of the file. Reads up to 2000 lines at a time; use offset and limit "
        "for more. Binary files are reported, not shown.",
        {
            "path": {"type": "string", "description": _PATH},
            "offset": {"type": "integer", "minimum": 1,
                       "description": "1-based number of the first line to read (default 1)."},
            "limit": {"type": "integer", "minimum": 1,
                      "description": "How many lines to read (default and maximum 2000)."},
        },
        ["path"],
    ),
    "list_files": _tool(
        "list_files",
        "List files recursively, sorted, one relative path per line. Files ignored by "
        ".gitignore and the .git folder are left out. Long listings are cut at 1000 files.",
        {
            "path": {"type": "string", "description": "Folder to list (default: the root)."},
            "pattern": {"type": "string",
                        "description": "Glob to filter by, e.g. `*.py` (file name at any depth) "
                                       "or `src/**/*.ts` (whole relative path)."},
        },
        [],
    ),
    "search": _tool(
        "search",
        "Search file contents with a Python regular expression, line by line. Results are "
        "`path:line: text`, at most 200. Honours .gitignore; binary files are skipped.",
        {
            "pattern": {"type": "string",
                        "description": "Python regular expression, e.g. `def \\w+_handler`."},
            "path": {"type": "string",
                     "description": "File or folder to search (default: the root)."},
            "glob": {"type": "string",
                     "description": "Only search files matching this glob, e.g. `*.py`."},
        },
        ["pattern"],
    ),
    "write_file": _tool(
        "write_file",
        "Create a file or replace its whole content. Parent folders are created. Prefer "
        "edit_file to change part of an existing file.",
        {
            "path": {"type": "string", "description": _PATH},
            "content": {"type": "string", "description": "The complete new content."},
        },
        ["path", "content"],
    ),
    "edit_file": _tool(
        "edit_file",
        "Replace an exact piece of text in a file. old_string must match the file exactly "
        "(whitespace and indentation included, without line-number prefixes) and occur "
        "once, unless replace_all is true. Read the file first.",
        {
            "path": {"type": "string", "description": _PATH},
            "old_string": {"type": "string", "description": "The exact text to replace."},
            "new_string": {"type": "string", "description": "The text to put in its place."},
            "replace_all": {"type": "boolean",
                            "description": "Replace every occurrence (default false)."},
        },
        ["path", "old_string", "new_string"],
    ),
    "run_shell": _tool(
        "run_shell",
        "Run a bash command in the workspace root, without input (stdin is empty) and "
        "without a terminal. stdout and stderr come back merged, with the exit code; long "
        "output keeps its beginning and end. The command and everything it started are "
        "stopped at the timeout, and background processes are ended when it finishes.",
        {
            "command": {"type": "string", "description": "The bash command line."},
            "timeout": {"type": "number", "minimum": 1,
                        "description": "Seconds before the command is stopped "
                                       "(default 120, maximum 600)."},
        },
        ["command"],
    ),
    "update_plan": _tool(
        "update_plan",
        "Replace the task plan with this list of steps. Keep it short; mark the step you "
        "work on `in_progress` and finished ones `done`.",
        {
            "items": {
                "type": "array",
                "description": "The whole plan, in order.",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "description": "What the step does."},
                        "status": {"type": "string", "enum": list(PLAN_STATUSES)},
                    },
                    "required": ["title", "status"],
                    "additionalProperties": False,
                },
            },
        },
        ["items"],
    ),
}
