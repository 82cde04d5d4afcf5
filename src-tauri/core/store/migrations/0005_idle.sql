-- Version 5: where each workspace's idle policy stands, as wall-clock times (Unix ms) so a
-- deadline means the same after the laptop sleeps or the app restarts.
CREATE TABLE idle_state (
    workspace_id     TEXT PRIMARY KEY NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    deadline_ms      INTEGER,
    warned_ms        INTEGER,
    snoozed_until_ms INTEGER
) STRICT;
