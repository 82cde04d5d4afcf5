-- Version 8: a coding agent session's transcript, the desktop's journal of it. Every event the
-- desktop saw (prompts, the agent's updates, permission requests and their answers, turn ends)
-- is appended in order; `read_offset` is how far into the agent's `acp` stream the transcript
-- has read, written in the same transaction as the events it produced, so a desktop that
-- restarts resumes exactly there: nothing doubled, nothing skipped. `driver_seen_ms` is the
-- heartbeat of the process following the session's turn; a stale one is adopted by the next.
CREATE TABLE agent_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES agent_sessions(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    at_ms      INTEGER NOT NULL
) STRICT;

CREATE INDEX agent_events_by_session ON agent_events (session_id, seq);

ALTER TABLE agent_sessions ADD COLUMN read_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_sessions ADD COLUMN driver_seen_ms INTEGER NOT NULL DEFAULT 0;
