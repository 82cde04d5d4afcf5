-- The ports a user chose to forward from each workspace: kept across restarts of the app, and
-- listening on this computer's loopback while the workspace runs.
CREATE TABLE port_forwards (
    workspace_id  TEXT    NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    remote_port   INTEGER NOT NULL CHECK (remote_port BETWEEN 1 AND 65535),
    local_port    INTEGER NOT NULL CHECK (local_port BETWEEN 0 AND 65535),
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, remote_port)
);
