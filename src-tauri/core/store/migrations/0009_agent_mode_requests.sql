-- Version 9: a mode change asked while another process follows a session's turn. Only the
-- follower writes to the coding agent (one writer keeps the stream's input in order), so the
-- asker records the mode here and the follower hands it over, clears it and records the outcome
-- in the transcript.
ALTER TABLE agent_sessions ADD COLUMN mode_request TEXT;
ALTER TABLE agent_sessions ADD COLUMN mode_request_by TEXT;
