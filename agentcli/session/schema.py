"""The session file's schema, as numbered migrations. Documented in sessions/README.md.

Never edit a migration that has shipped: add the next one, then regenerate the snapshot
new files are created from (``python -m agentcli.session.schema_writer``).
``SCHEMA.version`` is the number of migrations and is what ``PRAGMA user_version`` holds
after opening.
"""

from __future__ import annotations

import json
from typing import Any

from agentcli.session import schema_snapshot
from agentcli.store.durable import Schema

APPLICATION_ID = 0x41474E54  # "AGNT": marks a SQLite file as an agentcli session

SCHEMA = Schema("agentcli", application_id=APPLICATION_ID, label="agentcli session")
SCHEMA.snapshot(schema_snapshot.VERSION, schema_snapshot.STATEMENTS)

_SESSION_TABLES = """
CREATE TABLE meta (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    workspace_root TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    model TEXT,
    endpoint_host TEXT,
    status TEXT NOT NULL DEFAULT 'idle',
    schema_version INTEGER NOT NULL,
    agentcli_version TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'argument',
    status TEXT NOT NULL DEFAULT 'queued',
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    rolled_back_by INTEGER
);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT 'orchestrator',
    prompt_id INTEGER REFERENCES prompts(id),
    role TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    chars INTEGER NOT NULL DEFAULT 0,
    tool_calls TEXT,
    tool_call_id TEXT,
    model_call_id INTEGER,
    created_at TEXT NOT NULL,
    rolled_back_by INTEGER
);
CREATE INDEX messages_agent ON messages (agent, id);

CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT 'orchestrator',
    prompt_id INTEGER REFERENCES prompts(id),
    message_id INTEGER NOT NULL REFERENCES messages(id),
    position INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    kind TEXT,
    summary TEXT,
    approval TEXT,
    status TEXT NOT NULL,
    result TEXT,
    is_error INTEGER NOT NULL DEFAULT 0,
    data TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    UNIQUE (message_id, position)
);

CREATE TABLE model_calls (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT 'orchestrator',
    prompt_id INTEGER REFERENCES prompts(id),
    attempt INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL,
    endpoint_host TEXT NOT NULL,
    request TEXT NOT NULL,
    request_message_ids TEXT NOT NULL DEFAULT '[]',
    response TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT,
    http_status INTEGER,
    latency_ms INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX model_calls_agent ON model_calls (agent, id);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX tasks_plan ON tasks (plan_id);

CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER REFERENCES prompts(id),
    last_message_id INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    file_count INTEGER,
    note TEXT
);

CREATE TABLE file_changes (
    id INTEGER PRIMARY KEY,
    prompt_id INTEGER REFERENCES prompts(id),
    tool_call_id INTEGER REFERENCES tool_calls(id),
    rollback_id INTEGER,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    op TEXT NOT NULL,
    before_hash TEXT,
    after_hash TEXT,
    before_mode INTEGER,
    after_mode INTEGER,
    before_size INTEGER,
    after_size INTEGER,
    restorable INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'applied',
    created_at TEXT NOT NULL
);
CREATE INDEX file_changes_path ON file_changes (path, id);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    pattern TEXT NOT NULL DEFAULT '',
    tool_call_id INTEGER,
    created_at TEXT NOT NULL
);
"""


@SCHEMA.migration
def m002_session_tables(db: Any) -> None:
    """The coding-session tables of SPEC §1."""
    for statement in _SESSION_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


_TRACKING_TABLES = """
CREATE TABLE file_states (
    path TEXT PRIMARY KEY,
    mode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    hash TEXT,
    restorable INTEGER NOT NULL DEFAULT 1,
    checked_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rollbacks (
    id INTEGER PRIMARY KEY,
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    mode TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'running',
    undo_of INTEGER REFERENCES rollbacks(id),
    undone_by INTEGER REFERENCES rollbacks(id),
    summary TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    finished_at TEXT
);

ALTER TABLE checkpoints ADD COLUMN last_file_change_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX file_changes_rollback ON file_changes (rollback_id);
CREATE INDEX file_changes_tool_call ON file_changes (tool_call_id)
"""


@SCHEMA.migration
def m003_file_tracking(db: Any) -> None:
    """SPEC §5: the scanned baseline of the workspace, rollbacks, checkpoint watermarks."""
    for statement in _TRACKING_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


_SCOUT_TABLES = """
CREATE TABLE scouts (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL UNIQUE,
    tool_call_id INTEGER NOT NULL REFERENCES tool_calls(id),
    call_id TEXT NOT NULL,
    parent_agent TEXT NOT NULL,
    prompt_id INTEGER REFERENCES prompts(id),
    position INTEGER NOT NULL,
    task TEXT NOT NULL,
    depth INTEGER NOT NULL DEFAULT 1,
    model TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    report TEXT,
    error TEXT,
    steps INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_ms INTEGER,
    rolled_back_by INTEGER,
    UNIQUE (tool_call_id, position)
);
CREATE INDEX scouts_prompt ON scouts (prompt_id)
"""


_COMPACTION_TABLES = """
CREATE TABLE compactions (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT 'orchestrator',
    prompt_id INTEGER REFERENCES prompts(id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    first_message_id INTEGER NOT NULL,
    last_message_id INTEGER NOT NULL,
    at_message_id INTEGER NOT NULL,
    pinned_message_id INTEGER,
    previous_id INTEGER REFERENCES compactions(id),
    summary TEXT,
    model_call_id INTEGER REFERENCES model_calls(id),
    tokens_before INTEGER,
    tokens_after INTEGER,
    error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    rolled_back_by INTEGER
);
CREATE INDEX compactions_agent ON compactions (agent, id);
CREATE INDEX compactions_pending ON compactions (agent) WHERE status = 'pending';

ALTER TABLE model_calls ADD COLUMN purpose TEXT NOT NULL DEFAULT 'turn';
ALTER TABLE model_calls ADD COLUMN estimated_tokens INTEGER;
ALTER TABLE model_calls ADD COLUMN cached_tokens INTEGER;
ALTER TABLE model_calls ADD COLUMN compaction_id INTEGER
"""


@SCHEMA.migration
def m004_scouts(db: Any) -> None:
    """SPEC §4: one row per scout, linking its agent id to the tool call and task."""
    for statement in _SCOUT_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


@SCHEMA.migration
def m005_linear_audit(db: Any) -> None:
    """Issue 15: the audit log grows linearly. A request's tools list is stored once, as a
    blob named by ``model_calls.tools_hash``; the messages it carried are stored as id
    ranges (``"1-40,43-57"``) instead of a JSON list of every id. Older rows are converted."""
    from agentcli.session.audit_codec import encode_ids, tools_blob

    db.execute("ALTER TABLE model_calls ADD COLUMN tools_hash TEXT")
    rows = db.execute("SELECT id, request, request_message_ids FROM model_calls").fetchall()
    for row_id, request, message_ids in rows:
        body = json.loads(request or "{}")
        tools = body.pop("tools", None)
        digest = None
        if tools is not None:
            blob = tools_blob(tools)
            db.execute("INSERT OR IGNORE INTO blobs (hash, size, compression, data) VALUES (?, ?, ?, ?)",
                       [blob.hash, blob.size, blob.compression, blob.data])
            digest = blob.hash
        ids = json.loads(message_ids) if (message_ids or "").startswith("[") else None
        db.execute("UPDATE model_calls SET request = ?, request_message_ids = ?, tools_hash = ? WHERE id = ?",
                   [json.dumps(body), encode_ids(ids) if ids is not None else message_ids, digest, row_id])


@SCHEMA.migration
def m006_compaction(db: Any) -> None:
    """SPEC §4b: summaries of older turns, and what each request cost in tokens.
    """
    for statement in _COMPACTION_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


@SCHEMA.migration
def m007_request_shape(db: Any) -> None:
    """Issue 15: ``agentcli log --full`` rebuilds every request exactly. A turn's request
    records the length above which it sent tool results trimmed; a summarising call
    keeps its two messages in ``request`` (they are built for it, not transcript rows)."""
    db.execute("ALTER TABLE model_calls ADD COLUMN tool_result_chars INTEGER")


@SCHEMA.migration
def m008_tool_call_sandbox(db: Any) -> None:
    """Issue 19: each shell call records the sandbox it ran under (``workspace-write``,
    ``read-only``; or without one: ``off``, ``outside`` when it asked to, ``unavailable``)."""
    db.execute("ALTER TABLE tool_calls ADD COLUMN sandbox TEXT")


_MCP_TABLES = """
CREATE TABLE mcp_tools (
    id INTEGER PRIMARY KEY,
    server TEXT NOT NULL,
    tools_hash TEXT NOT NULL,
    tool_count INTEGER NOT NULL,
    changes TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX mcp_tools_server ON mcp_tools (server, id);

ALTER TABLE tool_calls ADD COLUMN server TEXT;
ALTER TABLE tool_calls ADD COLUMN resume TEXT
"""


@SCHEMA.migration
def m009_mcp_tools(db: Any) -> None:
    """Issue 23 (SPEC §2c): the tool list each MCP server gave the session, one row each time
    it changed (the list itself in ``blobs``); a tool call's MCP server, and what resume does
    with a call a crash caught running. Numbered 9: m008 is the sandbox's (issue 19)."""
    for statement in _MCP_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


@SCHEMA.migration
def m010_forks(db: Any) -> None:
    """Issue 24 (SPEC §5b): a fork's link to its parent — ``forked_from`` (the parent's id),
    ``forked_at`` (the checkpoint it was cut at; NULL: the whole session) — and
    ``untrusted_origin``: set when the parent was a session file from elsewhere, so that
    its fork, though created in the user's own folder, is no more trusted than it was."""
    for column in ("forked_from TEXT", "forked_at INTEGER", "untrusted_origin TEXT"):
        db.execute(f"ALTER TABLE meta ADD COLUMN {column}")
