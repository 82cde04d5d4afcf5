//! `sam github …`: signing in with GitHub (the device flow), and out.

use clap::Subcommand;

use super::{print_json, print_text};
use crate::core::Core;
use crate::core::error::SamError;
use crate::core::github;
use crate::core::opener;

#[derive(Debug, Subcommand)]
pub(super) enum GitHubCommand {
    /// Sign in: SAM shows a code to enter at GitHub and waits until you have.
    SignIn,
    /// Who is signed in.
    Status,
    /// Forget the GitHub token on this computer.
    SignOut,
}

#[allow(clippy::print_stderr)]
pub(super) async fn run(core: &Core, command: GitHubCommand, json: bool) -> Result<(), SamError> {
    let store = core.store();
    match command {
        GitHubCommand::SignIn => {
            core.lifecycle()
                .github_sign_in(|code, page| {
                    // On standard error, so that --json output stays one object.
                    eprintln!("Enter the code {code} at {page} (SAM waits until you have).");
                    if let Err(err) = opener::open_url(page) {
                        tracing::debug!(%err, "no browser for the sign-in page");
                    }
                })
                .await?;
        }
        GitHubCommand::Status => {}
        GitHubCommand::SignOut => core.lifecycle().github_sign_out().await?,
    }
    let account = github::account(store)?;
    if json {
        print_json(&serde_json::json!({ "account": account }));
    } else {
        match account {
            Some(account) => print_text(&format!(
                "Signed in with GitHub as {} ({}); the token is in your keyring.",
                account.login,
                account.name.as_deref().unwrap_or("no name")
            )),
            None => print_text("Not signed in with GitHub."),
        }
    }
    Ok(())
}
