-- Version 6: what each cloud resource a workspace had was billed for, from its creation to its
-- deletion, at the prices of the time — so spend so far and this month survive the resource and
-- the workspace (no foreign key: the history outlives both).
CREATE TABLE billing (
    kind          TEXT    NOT NULL,          -- 'server' or 'volume'
    resource_id   INTEGER NOT NULL,          -- the cloud's id
    workspace_id  TEXT    NOT NULL,
    started_ms    INTEGER NOT NULL,          -- creation, Unix ms
    ended_ms      INTEGER,                   -- deletion; NULL while it exists
    hourly        INTEGER,                   -- gross, hundredths of a cent; NULL for volumes
    monthly       INTEGER NOT NULL,          -- the most one calendar month costs
    currency      TEXT    NOT NULL,
    PRIMARY KEY (kind, resource_id)
) STRICT;
CREATE INDEX billing_by_workspace ON billing (workspace_id);
CREATE INDEX billing_open ON billing (ended_ms) WHERE ended_ms IS NULL;
