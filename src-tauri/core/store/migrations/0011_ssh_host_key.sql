-- The public half of each workspace agent's SSH host key, learned at enrollment over the pinned
-- connection; SAM's known-hosts file is written from it.
ALTER TABLE workspaces ADD COLUMN agent_ssh_host_key TEXT;
