-- Version 3: the names of a workspace's terminal tabs. The terminals themselves live on the
-- workspace's agent (stream ids); a name outlives an app restart, not the agent.
CREATE TABLE terminal_tabs (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    stream        INTEGER NOT NULL,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, stream)
) STRICT;
