-- Version 10: rules that answer coding agents' permission requests for a workspace, and the
-- audit log of every decision.
--
-- A rule names the agent (NULL: any), the tool kind (NULL: any) and a pattern (a command
-- prefix for `execute`, a path glob for kinds with locations; NULL: any), and whether it allows
-- or denies. The desktop evaluates them; none exist until the user adds one.
CREATE TABLE permission_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent         TEXT,
    tool_kind     TEXT,
    pattern       TEXT,
    decision      TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Every answer to a permission request, with the exact request, who or what gave it and when.
-- Nothing refers to it and it refers to nothing, so deleting a workspace or a session keeps it;
-- the triggers refuse changes and deletions.
CREATE TABLE agent_audit (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms          INTEGER NOT NULL,
    workspace_id   TEXT NOT NULL,
    workspace_name TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    agent          TEXT NOT NULL,
    permission_id  INTEGER NOT NULL,
    request        TEXT NOT NULL,
    answer         TEXT NOT NULL,
    answered_by    TEXT NOT NULL
) STRICT;

CREATE TRIGGER agent_audit_no_update BEFORE UPDATE ON agent_audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER agent_audit_no_delete BEFORE DELETE ON agent_audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Answers given before this version join the log.
INSERT INTO agent_audit (at_ms, workspace_id, workspace_name, session_id, agent, permission_id,
                         request, answer, answered_by)
SELECT p.answered_at_ms, s.workspace_id, COALESCE(w.name, ''), p.session_id, s.agent, p.id,
       p.request, p.answer, COALESCE(p.answered_by, '')
FROM agent_permissions p
JOIN agent_sessions s ON s.id = p.session_id
LEFT JOIN workspaces w ON w.id = s.workspace_id
WHERE p.answer IS NOT NULL
ORDER BY p.answered_at_ms, p.id;
