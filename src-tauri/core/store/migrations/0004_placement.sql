-- Version 4: where a Hetzner workspace was asked to run (the create dialog's choice); NULL for
-- Local workspaces and for ones that follow the preferences in Settings.
ALTER TABLE workspaces ADD COLUMN location TEXT;
ALTER TABLE workspaces ADD COLUMN server_type TEXT;
