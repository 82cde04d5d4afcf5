//! SAM's own SSH files, kept in step with the workspaces: `<data>/ssh/config` (a `Host` section
//! per workspace, see [`crate::ssh_config::hosts_file`]) and `<data>/ssh/known_hosts` (each
//! workspace's host key, as its agent reported it at enrollment over the pinned connection,
//! under the alias `sam-<id>`).
//!
//! Both files are SAM's alone: they are rewritten whole (atomically) whenever they would change.
//! The user's `~/.ssh/config` reaches them only through the block `sam ssh-config` adds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::SamError;
use crate::paths::AppPaths;
use crate::provider::hetzner::cloud_init::{WORKSPACE_ROOT, WORKSPACE_USER};
use crate::provider::local::LocalProvider;
use crate::ssh_config::{HostEntry, hosts_file, write_atomic};
use crate::store::Store;
use crate::workspace::{ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

/// Where SAM's SSH files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshFiles {
    /// The hosts file that `~/.ssh/config` includes.
    pub config: PathBuf,
    /// The known-hosts file it points OpenSSH at.
    pub known_hosts: PathBuf,
}

impl SshFiles {
    /// The files in SAM's data folder.
    pub fn of(paths: &AppPaths) -> Self {
        let dir = paths.data_dir.join("ssh");
        Self {
            config: dir.join("config"),
            known_hosts: dir.join("known_hosts"),
        }
    }
}

/// One workspace as SSH knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// What the user types: `sam-<name>`.
    pub alias: String,
    /// The user processes run as.
    pub user: String,
}

/// The host name `ssh` knows a workspace by, `sam-<name>` with anything OpenSSH would trip on
/// made a dash; the workspace's id when its name leaves nothing.
pub fn alias(name: &str, id: &WorkspaceId) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        format!("sam-{id}")
    } else {
        format!("sam-{name}")
    }
}

/// The user a workspace's processes run as: `dev` on a server, this computer's user locally.
pub fn user(workspace: &Workspace) -> Result<String, SamError> {
    match workspace.provider {
        ProviderKind::Hetzner => Ok(WORKSPACE_USER.to_owned()),
        ProviderKind::Local => crate::platform::user_name().ok_or_else(|| {
            SamError::configuration(
                "SAM could not find this computer's user name for SSH.",
                "Check that your user has an entry in /etc/passwd.",
            )
        }),
    }
}

/// The workspaces SSH can reach, each with its host and host key: those enrolled with a host
/// key and not being deleted. Two workspaces with the same name: the later one is known by
/// `sam-<id>`.
pub fn hosts(store: &Store) -> Result<Vec<(Workspace, SshHost, String)>, SamError> {
    let mut taken = BTreeSet::new();
    let mut hosts = Vec::new();
    let mut workspaces = store.workspaces()?;
    workspaces.sort_by_key(|w| w.created_at_ms);
    for workspace in workspaces {
        if matches!(
            workspace.status,
            WorkspaceStatus::Deleting | WorkspaceStatus::Deleted
        ) {
            continue;
        }
        let Some(key) = store.ssh_host_key(&workspace.id)? else {
            continue;
        };
        let mut alias = alias(&workspace.name, &workspace.id);
        if !taken.insert(alias.clone()) {
            alias = format!("sam-{}", workspace.id);
            taken.insert(alias.clone());
        }
        let host = SshHost {
            alias,
            user: user(&workspace)?,
        };
        hosts.push((workspace, host, key));
    }
    Ok(hosts)
}

/// The workspace `alias` names, among [`hosts`].
pub fn find(store: &Store, target: &str) -> Result<Option<(Workspace, SshHost)>, SamError> {
    Ok(hosts(store)?
        .into_iter()
        .find(|(workspace, host, _)| {
            host.alias == target || workspace.id.as_str() == target || workspace.name == target
        })
        .map(|(workspace, host, _)| (workspace, host)))
}

/// Like [`find`], with an error that says why a workspace has no SSH host.
pub fn require(store: &Store, target: &str) -> Result<(Workspace, SshHost), SamError> {
    if let Some(found) = find(store, target)? {
        return Ok(found);
    }
    let known = store
        .workspaces()?
        .into_iter()
        .find(|w| w.id.as_str() == target || w.name == target);
    Err(match known {
        Some(workspace) => SamError::invalid_input(
            format!(
                "Workspace {} has no SSH host key: it was created before SAM could SSH, or it is \
                 being deleted.",
                workspace.name
            ),
            "Create a new workspace to reach it over SSH.",
        ),
        None => SamError::invalid_input(
            format!("There is no workspace {target:?}."),
            "See `sam workspace list` for ids and names.",
        ),
    })
}

/// The folder editors open: the repository's checkout on the workspace's machine.
pub fn folder(workspace: &Workspace, paths: &AppPaths) -> String {
    match workspace.provider {
        ProviderKind::Hetzner => WORKSPACE_ROOT.to_owned(),
        ProviderKind::Local => LocalProvider::folder_in(&paths.data_dir, &workspace.id)
            .display()
            .to_string(),
    }
}

/// The user's own SSH config, `~/.ssh/config`.
pub fn user_ssh_config() -> Result<PathBuf, SamError> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".ssh").join("config"))
        .ok_or_else(|| {
            SamError::configuration(
                "SAM could not find your home folder for ~/.ssh/config.",
                "Set HOME, or name the file with --ssh-config.",
            )
        })
}

/// Rewrites SAM's SSH files from the store if they would change; `sam` is the command-line
/// tool the ProxyCommand runs. Returns whether anything was written.
pub fn sync(store: &Store, files: &SshFiles, sam: &Path) -> Result<bool, SamError> {
    let hosts = hosts(store)?;
    let entries: Vec<HostEntry> = hosts
        .iter()
        .map(|(workspace, host, _)| HostEntry {
            alias: host.alias.clone(),
            key_alias: format!("sam-{}", workspace.id),
            user: host.user.clone(),
            proxy_command: vec![
                sam.display().to_string(),
                "ssh".to_owned(),
                "--stdio".to_owned(),
                workspace.id.to_string(),
            ],
        })
        .collect();
    let config = hosts_file(&entries, &files.known_hosts)?;
    let mut known_hosts = String::from("# Written by SAM: the host keys of its workspaces.\n");
    for (workspace, _, key) in &hosts {
        let key = key.trim();
        // One line per key, nothing the agent could smuggle a second entry in with.
        if key.is_empty() || key.contains(['\n', '\r']) {
            continue;
        }
        known_hosts.push_str(&format!("sam-{} {key}\n", workspace.id));
    }
    let mut wrote = false;
    for (path, text) in [(&files.known_hosts, &known_hosts), (&files.config, &config)] {
        if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            write_atomic(path, text.as_bytes())?;
            wrote = true;
        }
    }
    Ok(wrote)
}

/// The `sam` command-line tool that ProxyCommands run: this program when it is `sam`, the
/// `sam` beside it (the desktop app and the tool are installed together), or `sam` on `PATH`.
pub fn sam_command() -> PathBuf {
    let Ok(exe) = std::env::current_exe() else {
        return PathBuf::from("sam");
    };
    if exe.file_name().is_some_and(|name| name == "sam") {
        return exe;
    }
    match exe.parent().map(|dir| dir.join("sam")) {
        Some(beside) if beside.is_file() => beside,
        _ => PathBuf::from("sam"),
    }
}

/// Brings SAM's SSH files in step with the workspaces after a change. A failure is logged, not
/// raised: SSH access follows the lifecycle, it is not part of it.
pub fn refresh(store: &Store, paths: &AppPaths) {
    if let Err(err) = sync(store, &SshFiles::of(paths), &sam_command()) {
        tracing::warn!(error = %err.message, "SAM's SSH files could not be updated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_names_openssh_takes() {
        let id = WorkspaceId::generate().expect("id");
        assert_eq!(alias("My App", &id), "sam-my-app");
        assert_eq!(alias("api.v2_x", &id), "sam-api.v2_x");
        assert_eq!(alias("ü ö", &id), format!("sam-{id}"));
        assert_eq!(alias("Ünï 2", &id), "sam-n--2");
    }
}
