-- Version 7: coding agents' sessions and their permission requests. A session is an ACP
-- session of a coding agent running as an `acp` stream on the workspace's agent; it lasts as
-- long as that agent (epoch). A permission request is kept with its exact input, the answer,
-- who gave it and when: the audit log of every decision.
CREATE TABLE agent_sessions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent         TEXT NOT NULL,
    command       TEXT NOT NULL,
    stream        INTEGER NOT NULL,
    epoch         TEXT NOT NULL,
    acp_session   TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_permissions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id     TEXT NOT NULL REFERENCES agent_sessions(id) ON DELETE CASCADE,
    rpc_id         TEXT NOT NULL,
    request        TEXT NOT NULL,
    asked_at_ms    INTEGER NOT NULL,
    answer         TEXT,
    answered_by    TEXT,
    answered_at_ms INTEGER,
    delivered      INTEGER NOT NULL DEFAULT 0
) STRICT;
