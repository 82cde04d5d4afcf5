//! The core of SAM Desktop: everything that is not window, tray or IPC glue.
//!
//! This crate has no GUI framework in its dependency tree (the compiler holds the boundary, and
//! `tests/core/architecture.rs` holds the dependency list), so the `sam` tool and the integration
//! tests drive exactly the code the app runs, headless. The TypeScript binding derives are behind
//! the `specta` feature, which only the app enables.

#![deny(missing_docs)]

pub mod account;
pub mod acp;
pub mod agent_client;
pub mod agent_release;
pub mod clock;
pub mod coding_agents;
pub mod config;
pub mod context;
pub mod deep_link;
pub mod devcontainer;
pub mod editors;
pub mod error;
pub mod forwards;
pub mod github;
pub mod http;
pub mod idle;
pub mod installation;
pub mod lifecycle;
pub mod logging;
pub mod notice;
pub mod opener;
pub mod paths;
pub mod platform;
pub mod port_forward;
pub mod provider;
pub mod redact;
pub mod repo;
pub mod ssh_config;
pub mod ssh_hosts;
pub mod store;
pub mod tasks;
pub mod terminal;
pub mod terminals;
pub mod tunnel;
pub mod workspace;

use std::sync::Arc;

use serde::Serialize;

use self::account::git::GitCredentials;
use self::account::github::{GitHub, GitHubTokens};
use self::config::Config;
use self::context::Context;
use self::error::SamError;
use self::forwards::Forwards;
use self::idle::watch::IdleWatch;
use self::installation::{KeyStore, OsKeyring};
use self::lifecycle::Workspaces;
use self::notice::Notices;
use self::paths::AppPaths;
use self::provider::hetzner::account::HetznerAccount;
use self::provider::registry::Providers;
use self::store::{Operation, Store};
use self::tasks::{Shutdown, Tasks};
use self::terminals::Terminals;
use self::workspace::{Workspace, WorkspaceId};

/// Facts about this installation that the UI shows in its about/settings screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppInfo {
    /// SAM's version.
    pub version: String,
    /// Where SAM keeps its data.
    pub data_dir: String,
    /// Where SAM writes its logs.
    pub log_dir: String,
    /// The database's schema version.
    pub schema_version: u32,
}

/// One running instance of SAM's core: its folders, its database, and the services that own
/// each concept — the workspaces (operations and their jobs), the Hetzner account, the GitHub
/// sign-in, the git credentials, the idle policy and the terminals. The app's IPC layer and the
/// `sam` tool call them through `core.workspaces()`, `core.hetzner()` and so on.
#[derive(Debug)]
pub struct Core {
    ctx: Arc<Context>,
    providers: Providers,
    workspaces: Workspaces,
    hetzner: HetznerAccount,
    git: GitCredentials,
    github: GitHub,
    idle: IdleWatch,
    terminals: Terminals,
    forwards: Arc<Forwards>,
    tasks: Tasks,
}

impl Core {
    /// Opens the database under `paths` (creating and migrating it as needed), with keys in the
    /// OS keyring, configured by `config` (read once from the environment at start-up).
    pub fn open(paths: AppPaths, config: Config) -> Result<Self, SamError> {
        Self::open_with(paths, config, Arc::new(OsKeyring), None)
    }

    /// Opens with explicit parts: a key store, and the lease owner (a CLI worker continues the
    /// operation its parent began under that owner).
    pub fn open_with(
        paths: AppPaths,
        config: Config,
        keys: Arc<dyn KeyStore>,
        owner: Option<String>,
    ) -> Result<Self, SamError> {
        let store = Arc::new(Store::open(&paths.database())?);
        keep_private(&paths.data_dir);
        let ctx = Context::new(paths, store, keys, Arc::new(config));
        let hetzner = HetznerAccount::new(Arc::clone(&ctx));
        let providers =
            Providers::new(&ctx.paths().data_dir, ctx.config().agent_binary(), &hetzner);
        let tokens = GitHubTokens::new(Arc::clone(&ctx));
        let git = GitCredentials::new(Arc::clone(&ctx), Arc::clone(&tokens));
        let github = GitHub::new(Arc::clone(&ctx), tokens, git.clone());
        let workspaces = Workspaces::new(Arc::clone(&ctx), providers.clone(), git.clone(), owner);
        let idle = IdleWatch::new(Arc::clone(&ctx), workspaces.clone());
        let forwards = Arc::new(Forwards::new(Arc::clone(&ctx)));
        tracing::info!(data_dir = %ctx.paths().data_dir.display(), "core opened");
        Ok(Self {
            ctx,
            providers,
            workspaces,
            hetzner,
            git,
            github,
            idle,
            terminals: Terminals::default(),
            forwards,
            tasks: Tasks::default(),
        })
    }

    /// The workspaces: create, stop, start, delete and retry as durable operations, their
    /// machines, and the sweep.
    pub fn workspaces(&self) -> &Workspaces {
        &self.workspaces
    }

    /// Every provider workspaces can run on, with what each can do.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The Hetzner account: token, catalogue, preferences, resources, spend, self-deletion.
    pub fn hetzner(&self) -> &HetznerAccount {
        &self.hetzner
    }

    /// The GitHub sign-in and the repository picker's lists.
    pub fn github(&self) -> &GitHub {
        &self.github
    }

    /// Tokens for private git repositories, per host.
    pub fn git(&self) -> &GitCredentials {
        &self.git
    }

    /// The idle policy: each workspace's timeout, warnings and stops.
    pub fn idle(&self) -> &IdleWatch {
        &self.idle
    }

    /// The core's long-lived tasks, which [`Core::shutdown`] ends.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Starts what the app runs for as long as it is open: the idle check and GitHub token
    /// renewal every 30 s (`SAM_IDLE_TICK_SECS` in tests), the Hetzner sweep at start and then
    /// every minute, and the operations an earlier process left unfinished. The `sam` tool runs
    /// none of them.
    pub fn start_background(&self) {
        let every = self.config().hooks.idle_tick.unwrap_or(idle::watch::TICK);
        let (idle, github) = (self.idle.clone(), self.github.clone());
        self.tasks.every("idle and token renewal", every, move || {
            let (idle, github) = (idle.clone(), github.clone());
            async move {
                if let Err(err) = idle.tick(clock::now_ms()).await {
                    tracing::warn!(error = %err, "the idle check failed");
                }
                // GitHub tokens renewed before they expire, and handed to workspaces.
                if let Err(err) = github.rotate_token(clock::now_ms() / 1000).await {
                    tracing::warn!(error = %err, "renewing the GitHub token failed");
                }
            }
        });
        let sweeping = self.workspaces.clone();
        self.tasks.spawn(
            "Hetzner sweep",
            async move { sweeping.sweep_forever().await },
        );
        let resuming = self.workspaces.clone();
        self.tasks
            .spawn("resume unfinished operations", async move {
                match resuming.resume_orphans().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "resumed unfinished operations"),
                    Err(err) => {
                        tracing::warn!(error = %err, "resuming unfinished operations failed")
                    }
                }
            });
    }

    /// Runs `operation` in the background; its outcome is recorded on the workspace (status,
    /// error, events), and an interrupted one is resumed by the next process.
    pub fn run_in_background(&self, operation: Operation) {
        let workspaces = self.workspaces.clone();
        self.tasks.spawn("operation", async move {
            let _ = workspaces.run(operation).await;
        });
    }

    /// Ends every task the core owns, waiting up to `grace`.
    pub async fn shutdown(&self, grace: std::time::Duration) -> Shutdown {
        let outcome = self.tasks.shutdown(grace).await;
        tracing::info!(?outcome, "core shut down");
        outcome
    }

    /// What the user should hear about outside the window (desktop notifications).
    pub fn notices(&self) -> &Notices {
        self.ctx.notices()
    }

    /// The workspaces' port forwards.
    pub fn forwards(&self) -> &Arc<Forwards> {
        &self.forwards
    }

    /// The workspaces' terminals.
    pub fn terminals(&self) -> &Terminals {
        &self.terminals
    }

    /// The folders in use.
    pub fn paths(&self) -> &AppPaths {
        self.ctx.paths()
    }

    /// What the environment said at start-up.
    pub fn config(&self) -> &Config {
        self.ctx.config()
    }

    /// Opens `url` (http or https only) in the configured browser (`SAM_BROWSER`) or the
    /// desktop's default, without waiting for it.
    pub fn open_url(&self, url: &str) -> Result<(), SamError> {
        let config = self.config();
        opener::open_url(
            url,
            opener::Browser {
                program: config.browser.as_deref(),
                withheld: &config.inherited_secrets,
            },
        )
    }

    /// What turning SSH access for editors on (`on`) or off changes in the user's SSH config at
    /// `ssh_config`; turning it on first brings SAM's own SSH files up to date, since the block
    /// includes them.
    pub fn plan_ssh_config(
        &self,
        ssh_config: &std::path::Path,
        on: bool,
    ) -> Result<ssh_config::Change, SamError> {
        if !on {
            return ssh_config::plan_remove(ssh_config);
        }
        let files = ssh_hosts::SshFiles::of(self.paths());
        ssh_hosts::sync(self.store(), &files, &ssh_hosts::sam_command())?;
        ssh_config::plan_install(ssh_config, &files.config)
    }

    /// Opens the workspace's repository in `editor` over SSH and returns the link handed to the
    /// desktop. Editors find `sam-<name>` through the user's SSH config (`ssh_config`), so SAM's
    /// block must be in it: without it this says how to add it, and opens nothing.
    pub fn open_in_editor(
        &self,
        id: &WorkspaceId,
        editor: editors::Editor,
        ssh_config: &std::path::Path,
    ) -> Result<String, SamError> {
        if !self.plan_ssh_config(ssh_config, true)?.is_noop() {
            return Err(SamError::configuration(
                format!(
                    "Editors find workspaces through {}, which does not include SAM's hosts yet.",
                    ssh_config.display()
                ),
                "Turn on SSH access for editors in Settings, or run `sam ssh-config`.",
            ));
        }
        let (workspace, host) = ssh_hosts::require(self.store(), id.as_str())?;
        let folder = ssh_hosts::folder(&workspace, self.paths());
        let url = editor.url(&host.alias, &host.user, &folder)?;
        let config = self.config();
        opener::open_editor_link(
            &url,
            opener::Browser {
                program: config.browser.as_deref(),
                withheld: &config.inherited_secrets,
            },
        )?;
        Ok(url)
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        self.ctx.store()
    }

    /// About this installation.
    pub fn app_info(&self) -> Result<AppInfo, SamError> {
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            data_dir: self.paths().data_dir.display().to_string(),
            log_dir: self.paths().log_dir.display().to_string(),
            schema_version: self.store().schema_version()?,
        })
    }

    /// Every workspace, newest first.
    pub fn list_workspaces(&self) -> Result<Vec<Workspace>, SamError> {
        Ok(self.store().workspaces()?)
    }
}

/// Makes the data folder readable by this user only: it holds the Local workspaces (whose
/// credential sockets any process that can reach them may ask) and the logs.
fn keep_private(data_dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(err) = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(%err, dir = %data_dir.display(), "could not make the data folder private");
        }
    }
    // Elsewhere, the folder under the user's profile is the user's already.
    #[cfg(not(unix))]
    let _ = data_dir;
}
