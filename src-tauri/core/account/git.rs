//! Git credentials for private repositories: a personal access token per git host (GitHub,
//! GitLab, Bitbucket, any https host) in the OS keyring (`git-token/<host>`), the list of hosts
//! (never the tokens) in SQLite. A workspace's agent is handed the token for its own repository
//! only, as the in-memory secret `git:<host>/<path>` its credential broker answers from
//! (`docs/agent-protocol.md` §7.1).

use std::sync::Arc;

use super::github::GitHubTokens;
use crate::agent_client::AgentClient;
use crate::clock::now_ms;
use crate::context::Context;
use crate::error::SamError;
use crate::github;
use crate::redact::Secret;
use crate::repo::RepoUrl;
use crate::store::Setting;
use crate::workspace::{EventLevel, Workspace, WorkspaceStatus};

/// The setting listing the hosts that have a token (JSON array of host names).
const HOSTS: Setting<Vec<String>> = Setting::new("git.token_hosts");

/// The keyring entry of `host`'s token.
fn entry(host: &str) -> String {
    format!("git-token/{host}")
}

/// Checks a host as the user typed it: `github.com`, `git.example.com:8443`.
fn check_host(host: &str) -> Result<String, SamError> {
    let host = host.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if valid {
        Ok(host)
    } else {
        Err(SamError::invalid_input(
            format!("{host:?} is not a git host name."),
            "Give the host alone, such as github.com or git.example.com:8443 (no https://, no path).",
        ))
    }
}

/// The git credentials of one process: tokens per host, and GitHub's sign-in for its host.
#[derive(Debug, Clone)]
pub struct GitCredentials {
    ctx: Arc<Context>,
    github: Arc<GitHubTokens>,
}

impl GitCredentials {
    /// The credentials over `ctx`, with GitHub's sign-in from `github`.
    pub fn new(ctx: Arc<Context>, github: Arc<GitHubTokens>) -> Self {
        Self { ctx, github }
    }

    /// The git hosts SAM has a token for.
    pub fn token_hosts(&self) -> Result<Vec<String>, SamError> {
        Ok(self.ctx.store().get(&HOSTS)?.unwrap_or_default())
    }

    fn set_token_hosts(&self, hosts: &[String]) -> Result<(), SamError> {
        Ok(self.ctx.store().put(&HOSTS, &hosts.to_vec())?)
    }

    /// Keeps `token` for `host` in the keyring, and hands it to the running workspaces of that
    /// host's repositories (others get it at their next create or start).
    pub async fn set_token(&self, host: &str, token: &Secret) -> Result<(), SamError> {
        let host = check_host(host)?;
        if !token.is_one_word() {
            return Err(SamError::invalid_input(
                "That token is empty or contains spaces.",
                "Paste the token alone, as the host showed it.",
            ));
        }
        let (name, value) = (entry(&host), token.expose().to_owned());
        self.ctx
            .with_keys(move |keys, _| keys.set(&name, &value))
            .await?;
        let mut hosts = self.token_hosts()?;
        if !hosts.contains(&host) {
            hosts.push(host.clone());
            hosts.sort();
        }
        self.set_token_hosts(&hosts)?;
        // Running workspaces of that host's repositories get it now.
        self.hand_out(&host).await;
        Ok(())
    }

    /// Forgets `host`'s token (from the keyring too), and takes it back from every running
    /// workspace's agent that holds it.
    pub async fn remove_token(&self, host: &str) -> Result<(), SamError> {
        let host = check_host(host)?;
        let name = entry(&host);
        self.ctx
            .with_keys(move |keys, _| keys.delete(&name))
            .await?;
        let hosts: Vec<String> = self
            .token_hosts()?
            .into_iter()
            .filter(|h| *h != host)
            .collect();
        self.set_token_hosts(&hosts)?;
        self.take_back(&host).await;
        Ok(())
    }

    /// The running workspaces whose repository is on `host`, with the repository's path.
    fn running_on(&self, host: &str) -> Vec<(Workspace, String)> {
        let Ok(workspaces) = self.ctx.store().workspaces() else {
            return Vec::new();
        };
        workspaces
            .into_iter()
            .filter(|workspace| workspace.status == WorkspaceStatus::Running)
            .filter_map(|workspace| {
                let (repo_host, path) = RepoUrl::parse(&workspace.repo_url)
                    .ok()
                    .and_then(|repo| repo.host_and_path())?;
                (repo_host == host).then_some((workspace, path))
            })
            .collect()
    }

    /// Makes every running workspace whose repository is on `host` forget its token, then hands
    /// it whichever credential SAM still has for that host (a token given for the host, or the
    /// GitHub sign-in), if any.
    pub(crate) async fn take_back(&self, host: &str) {
        self.hand_out_all(host, true).await;
    }

    /// Hands every running workspace whose repository is on `host` the current token (after a
    /// renewal, or a token given for the host). Returns how many took one.
    pub(crate) async fn hand_out(&self, host: &str) -> usize {
        self.hand_out_all(host, false).await
    }

    /// Hands each running workspace of `host` its repository's current credential, taking the
    /// one it holds back first with `take_back`. An agent that cannot be reached is logged; a
    /// token it holds dies with it (memory only). Returns how many were handed one.
    async fn hand_out_all(&self, host: &str, take_back: bool) -> usize {
        let mut handed = 0;
        for (workspace, path) in self.running_on(host) {
            let outcome = async {
                let client = self.ctx.connect(&workspace).await?;
                if take_back {
                    client.revoke_secret(&format!("git:{host}/{path}")).await?;
                }
                self.push_to(&client, &workspace).await
            }
            .await;
            match outcome {
                Ok(true) => handed += 1,
                Ok(false) if take_back => self.ctx.log(
                    &workspace.id,
                    "credentials",
                    EventLevel::Info,
                    &format!("the agent no longer holds your {host} token"),
                ),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(workspace = %workspace.id, %err, "handing out a git token failed");
                }
            }
        }
        handed
    }

    /// Hands the workspace's agent the token for its own repository, if SAM has one for its
    /// host; returns whether it did. Nothing is handed for other repositories, and nothing is
    /// written anywhere.
    pub(crate) async fn push_to(
        &self,
        client: &AgentClient,
        workspace: &Workspace,
    ) -> Result<bool, SamError> {
        let Some((host, path)) = RepoUrl::parse(&workspace.repo_url)
            .ok()
            .and_then(|repo| repo.host_and_path())
        else {
            return Ok(false);
        };
        // A token the user gave for the host wins; GitHub's sign-in serves github.com, with
        // its expiry (the agent refuses it afterwards, and SAM hands a fresh one before).
        let (token, expires_at) = if self.token_hosts()?.contains(&host) {
            let name = entry(&host);
            let Some(token) = self.ctx.with_keys(move |keys, _| keys.get(&name)).await? else {
                return Ok(false);
            };
            (token, None)
        } else if host == self.github.host() && github::account(self.ctx.store())?.is_some() {
            let Some(tokens) = self.github.fresh(now_ms() / 1000).await? else {
                return Ok(false);
            };
            (tokens.access(), tokens.expires_at())
        } else {
            return Ok(false);
        };
        client
            .push_secret(&format!("git:{host}/{path}"), token.expose(), expires_at)
            .await?;
        self.ctx.log(
            &workspace.id,
            "credentials",
            EventLevel::Info,
            &format!("the agent holds your {host} token for {path}, in memory only"),
        );
        Ok(true)
    }
}
