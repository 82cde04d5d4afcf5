-- Version 1: workspaces and their step/event log.
CREATE TABLE workspaces (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    repo_url      TEXT NOT NULL,
    branch        TEXT,
    provider      TEXT NOT NULL,
    status        TEXT NOT NULL,
    -- The shared error shape as JSON, present when status = 'error'.
    error_json    TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE workspace_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    at_ms         INTEGER NOT NULL,
    step          TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message       TEXT NOT NULL
) STRICT;

CREATE INDEX workspace_events_by_workspace ON workspace_events (workspace_id, seq);
