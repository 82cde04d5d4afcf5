//! `sam github …`: signing in with GitHub (with a code: the browser sign-in ends in the desktop
//! app, which receives the `sam://` link), and out; the user's own GitHub app; the
//! repositories and branches the picker offers.

use clap::Subcommand;

use super::git::secret_from_stdin;
use super::{print_json, print_text};
use sam_core::Core;
use sam_core::error::SamError;

#[derive(Debug, Subcommand)]
pub(super) enum GitHubCommand {
    /// Sign in: SAM shows a code to enter at GitHub and waits until you have.
    SignIn,
    /// Who is signed in, how, and until when.
    Status,
    /// Sign out: revoke the token at GitHub (when SAM has the app's secret) and forget it here.
    SignOut,
    /// Sign in as your own GitHub app (docs/github-app.md); its client secret is read from
    /// standard input and kept in the keyring.
    UseApp {
        /// The app's client id.
        client_id: String,
    },
    /// Stop using your own GitHub app.
    ForgetApp,
    /// Your repositories (matching QUERY).
    Repos {
        /// Words to find in the name or description.
        query: Option<String>,
    },
    /// A repository's branches.
    Branches {
        /// owner/repository.
        repository: String,
    },
}

#[allow(clippy::print_stderr)]
pub(super) async fn run(core: &Core, command: GitHubCommand, json: bool) -> Result<(), SamError> {
    let mut note = None;
    match command {
        GitHubCommand::SignIn => {
            core.github()
                .sign_in(|code, page| {
                    // On standard error, so that --json output stays one object.
                    eprintln!("Enter the code {code} at {page} (SAM waits until you have).");
                    if let Err(err) = core.open_url(page) {
                        tracing::debug!(%err, "no browser for the sign-in page");
                    }
                })
                .await?;
        }
        GitHubCommand::Status => {}
        GitHubCommand::SignOut => {
            let report = core.github().sign_out().await?;
            note = Some(
                report
                    .note
                    .unwrap_or_else(|| "The token was revoked at GitHub.".to_owned()),
            );
        }
        GitHubCommand::UseApp { client_id } => {
            core.github()
                .set_app(&client_id, secret_from_stdin()?)
                .await?;
        }
        GitHubCommand::ForgetApp => core.github().forget_app().await?,
        GitHubCommand::Repos { query } => {
            let list = core
                .github()
                .repos(query.as_deref().unwrap_or_default(), false)
                .await?;
            if json {
                print_json(&list);
            } else {
                for repo in &list.repos {
                    let private = if repo.private { " (private)" } else { "" };
                    print_text(&format!("{}{private}  {}", repo.full_name, repo.clone_url));
                }
                print_text(&format!("{} of {} shown", list.repos.len(), list.matched));
            }
            return Ok(());
        }
        GitHubCommand::Branches { repository } => {
            let branches = core.github().branches(&repository).await?;
            if json {
                print_json(&serde_json::json!({ "branches": branches }));
            } else {
                print_text(&branches.join("\n"));
            }
            return Ok(());
        }
    }
    let status = core.github().status().await?;
    if json {
        print_json(
            &serde_json::json!({ "account": status.account, "session": status.session,
            "app": status.app, "note": note }),
        );
        return Ok(());
    }
    if let Some(note) = note {
        print_text(&note);
    }
    match (&status.account, &status.session) {
        (Some(account), session) => {
            let until = session
                .as_ref()
                .and_then(|s| s.expires_at)
                .map(|at| format!(", renewed before {}", sam_core::clock::format_utc(at)))
                .unwrap_or_default();
            print_text(&format!(
                "Signed in with GitHub as {} ({}); the token is in your keyring ({}){until}.",
                account.login,
                account.name.as_deref().unwrap_or("no name"),
                status.token_entry,
            ));
        }
        (None, _) => print_text("Not signed in with GitHub."),
    }
    if let Some(app) = &status.app {
        print_text(&format!(
            "GitHub app: {} ({:?}{})",
            app.client_id,
            app.source,
            if app.has_secret {
                ", with its secret"
            } else {
                ", no secret: sign-in with a code only"
            }
        ));
    }
    Ok(())
}
