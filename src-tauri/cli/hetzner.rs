//! `sam hetzner …`: the Hetzner account SAM works in.

use std::io::BufRead;

use clap::Subcommand;

use super::{print_json, print_text};
use sam_core::config::{Config, vars};
use sam_core::error::SamError;
use sam_core::installation::OsKeyring;
use sam_core::provider::hetzner::account;
use sam_core::provider::hetzner::client::{self, ClientOptions};
use sam_core::provider::hetzner::reconcile::Report;
use sam_core::redact::Secret;

#[derive(Debug, Subcommand)]
pub(super) enum HetznerCommand {
    /// Check a Read & Write API token (read from standard input) and keep it in the keyring.
    SetToken,
    /// Check the token SAM would use (HCLOUD_TOKEN, else the keyring's).
    CheckToken,
    /// What the reconciler sees: resources not known to SAM, other installations' resources,
    /// and workspaces whose server vanished, with what each costs a month.
    Resources,
    /// SSH keys for new servers: OpenSSH logs in as `dev` with them, and port 22 opens only
    /// while there is one.
    #[command(subcommand, name = "ssh-key")]
    SshKey(SshKeyCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum SshKeyCommand {
    /// Add a public key: the one line of a `.pub` file, as an argument or with --file.
    Add {
        /// The key (`ssh-ed25519 AAAA… comment`).
        key: Option<String>,
        /// Read the key from this file instead.
        #[arg(long, conflicts_with = "key")]
        file: Option<std::path::PathBuf>,
    },
    /// The keys new servers get.
    List,
    /// Remove a key, named by its number in the list, its comment or the key itself.
    Remove {
        /// Which key.
        key: String,
    },
}

pub(super) fn run(
    command: HetznerCommand,
    json: bool,
    config: &Config,
    core: impl FnOnce() -> Result<sam_core::Core, SamError>,
) -> Result<(), SamError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| SamError::internal("The CLI could not start its runtime.", &err))?;
    let options = ClientOptions::configured(&config.hetzner);
    match command {
        HetznerCommand::SetToken => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|err| SamError::internal("Reading standard input failed.", &err))?;
            let token = Secret::new(line.trim());
            runtime.block_on(account::save_token(&OsKeyring, &token, options))?;
            if json {
                print_json(&serde_json::json!({"ok": true, "stored": "keyring"}));
            } else {
                print_text("The token works (Read & Write) and is kept in your keyring.");
            }
        }
        HetznerCommand::CheckToken => {
            let from_env = config.hetzner.token.is_some();
            let token = client::token(&OsKeyring, config.hetzner.token.as_ref())?.ok_or_else(
                || {
                    SamError::new(
                        sam_core::error::ErrorCategory::Credentials,
                        "SAM has no Hetzner API token.",
                        "Run `sam hetzner set-token` and paste a Read & Write token, or set HCLOUD_TOKEN.",
                    )
                },
            )?;
            runtime.block_on(account::check_token(&token, options))?;
            let source = if from_env {
                vars::HCLOUD_TOKEN
            } else {
                "keyring"
            };
            if json {
                print_json(&serde_json::json!({"ok": true, "source": source}));
            } else {
                print_text(&format!("The token from {source} works (Read & Write)."));
            }
        }
        HetznerCommand::SshKey(command) => {
            let core = core()?;
            let account = core.hetzner();
            let keys = match command {
                SshKeyCommand::Add { key, file } => {
                    let key = match (key, file) {
                        (Some(key), _) => key,
                        (None, Some(path)) => std::fs::read_to_string(&path).map_err(|err| {
                            SamError::invalid_input(
                                format!("{} cannot be read: {err}.", path.display()),
                                "Give the path of your public key, e.g. ~/.ssh/id_ed25519.pub.",
                            )
                        })?,
                        (None, None) => {
                            return Err(SamError::invalid_input(
                                "No SSH key given.",
                                "sam hetzner ssh-key add \"ssh-ed25519 AAAA… you@host\", or --file ~/.ssh/id_ed25519.pub",
                            ));
                        }
                    };
                    account.add_ssh_key(&key)?
                }
                SshKeyCommand::List => account.ssh_keys()?,
                SshKeyCommand::Remove { key } => account.remove_ssh_key(&key)?,
            };
            if json {
                print_json(&serde_json::json!({ "keys": keys }));
            } else if keys.is_empty() {
                print_text(
                    "No SSH keys: new Hetzner servers accept no SSH logins (port 22 stays closed).",
                );
            } else {
                for (n, key) in keys.iter().enumerate() {
                    print_text(&format!("{}. {key}", n + 1));
                }
            }
        }
        HetznerCommand::Resources => {
            let core = core()?;
            let report = runtime.block_on(core.hetzner().resources())?;
            if json {
                print_json(&report);
            } else {
                print_report(&report);
            }
        }
    }
    Ok(())
}

fn print_report(report: &Report) {
    let euro = |centicents: Option<u64>| {
        centicents.map_or_else(
            || "?".to_owned(),
            |c| format!("€{:.2}", c as f64 / 10_000.0),
        )
    };
    let mut lines = vec![format!(
        "{} resource(s) not known to SAM, {} of other SAM installations, {} workspace(s) whose server vanished",
        report.unknown.len(),
        report.foreign.len(),
        report.vanished.len()
    )];
    for (title, list) in [
        ("not known to SAM", &report.unknown),
        ("other installations", &report.foreign),
    ] {
        for r in list.iter() {
            lines.push(format!(
                "  {title}: {} {} (id {}, {}) {}/month",
                r.kind,
                r.name,
                r.id,
                r.location.as_deref().unwrap_or("-"),
                euro(r.monthly_centicents)
            ));
        }
    }
    for w in &report.vanished {
        lines.push(format!("  vanished: workspace {w} has no server"));
    }
    print_text(&lines.join("\n"));
}
