-- Version 2: what the lifecycle needs: how to reach a workspace's agent, retries, idle policy,
-- operations (jobs) with leases, and installation settings.
ALTER TABLE workspaces ADD COLUMN agent_addr TEXT;
-- The SHA-256 of the agent's certificate, pinned at enrollment (public, not a secret).
ALTER TABLE workspaces ADD COLUMN agent_pin TEXT;
ALTER TABLE workspaces ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0;
-- NULL means never idle out.
ALTER TABLE workspaces ADD COLUMN idle_timeout_secs INTEGER;

CREATE TABLE operations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('create', 'stop', 'start', 'delete')),
    state            TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    -- The step under way, or the one that failed.
    step             TEXT,
    -- Who is working on it, until when (Unix ms). An expired lease may be taken over.
    lease_owner      TEXT,
    lease_expires_ms INTEGER,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
) STRICT;

-- One operation at a time per workspace.
CREATE UNIQUE INDEX one_running_operation ON operations (workspace_id) WHERE state = 'running';

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
