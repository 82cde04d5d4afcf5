-- Workspaces whose repository's declared ports (devcontainer forwardPorts) were looked at and
-- forwarded once: a forward the user stops afterwards stays stopped.
CREATE TABLE declared_ports_checked (
    workspace_id  TEXT    PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    checked_at_ms INTEGER NOT NULL
);
