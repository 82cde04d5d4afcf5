//! `sam git …`: tokens for private repositories, per git host, kept in the OS keyring.

use std::io::BufRead;

use clap::Subcommand;

use super::{print_json, print_text};
use sam_core::Core;
use sam_core::error::SamError;
use sam_core::redact::Secret;

#[derive(Debug, Subcommand)]
pub(super) enum GitCommand {
    /// Keep a token for HOST (read from standard input) in the keyring: private repositories on
    /// that host clone, and git in their workspaces can fetch and push.
    SetToken {
        /// The host, such as github.com or git.example.com:8443.
        host: String,
    },
    /// Forget HOST's token.
    RemoveToken {
        /// The host.
        host: String,
    },
    /// The hosts SAM has a token for (never the tokens).
    Hosts,
}

/// One line of standard input, as a secret (tokens are never command-line arguments, which
/// other processes can read).
pub(super) fn secret_from_stdin() -> Result<Secret, SamError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| SamError::internal("Reading standard input failed.", &err))?;
    Ok(Secret::new(line.trim()))
}

pub(super) async fn run(core: &Core, command: GitCommand, json: bool) -> Result<(), SamError> {
    match command {
        GitCommand::SetToken { host } => {
            core.git().set_token(&host, &secret_from_stdin()?).await?;
        }
        GitCommand::RemoveToken { host } => core.git().remove_token(&host).await?,
        GitCommand::Hosts => {}
    }
    let hosts = core.git().token_hosts()?;
    if json {
        print_json(&serde_json::json!({ "hosts": hosts }));
    } else if hosts.is_empty() {
        print_text("SAM keeps no git tokens.");
    } else {
        print_text(&format!(
            "SAM keeps a token (in your keyring) for: {}",
            hosts.join(", ")
        ));
    }
    Ok(())
}
