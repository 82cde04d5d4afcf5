//! `sam agent …`: the coding agents SAM knows how to start.

use clap::Subcommand;

use super::agent_sessions::SessionCommand;
use super::{print_json, print_text};
use sam_core::Core;
use sam_core::coding_agents::{self, Distribution, Entry, Origin};
use sam_core::error::SamError;

#[derive(Debug, Subcommand)]
pub(super) enum AgentCommand {
    /// The coding agents SAM knows: built-in ones and your own.
    Catalog,
    /// Add (or replace) your own coding agent: any program that speaks ACP on its standard
    /// input and output.
    Add {
        /// A short id: lowercase letters, digits and dashes.
        id: String,
        /// The program and its arguments, as one string: "my-agent --acp".
        #[arg(long)]
        command: String,
        /// What to call it (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// One line about it.
        #[arg(long)]
        description: Option<String>,
        /// An environment variable for it, NAME=VALUE (repeatable; never a secret).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// The environment variable it reads its API key from (repeatable).
        #[arg(long = "key-env", value_name = "NAME")]
        key_env: Vec<String>,
    },
    /// Remove one of your own coding agents.
    Remove {
        /// Its id.
        id: String,
    },
    /// Keep the API key of a catalogue agent (read from standard input) in the keyring: its
    /// sessions get it in their environment, under the variable the catalogue names.
    SetKey {
        /// The agent's id.
        id: String,
    },
    /// Forget an agent's API key.
    RemoveKey {
        /// The agent's id.
        id: String,
    },
    #[command(flatten)]
    Session(SessionCommand),
    #[command(flatten)]
    Rule(super::agent_rules::RuleCommand),
}

pub(super) async fn run(core: &Core, command: AgentCommand, json: bool) -> Result<(), SamError> {
    let store = core.store();
    match command {
        AgentCommand::Session(command) => {
            return super::agent_sessions::run(core, command, json).await;
        }
        AgentCommand::Rule(command) => return super::agent_rules::run(core, command, json),
        AgentCommand::Catalog => {}
        AgentCommand::Add {
            id,
            command,
            name,
            description,
            env,
            key_env,
        } => {
            let mut spec =
                coding_agents::from_command_line(&id, name.as_deref(), &command, &env, key_env)?;
            spec.description = description.unwrap_or_default();
            coding_agents::add_custom(store, spec)?;
        }
        AgentCommand::SetKey { id } => {
            coding_agents::keys::set_key(core, &id, &super::git::secret_from_stdin()?).await?;
        }
        AgentCommand::RemoveKey { id } => coding_agents::keys::remove_key(core, &id).await?,
        AgentCommand::Remove { id } => {
            if !coding_agents::remove_custom(store, &id)? {
                return Err(SamError::invalid_input(
                    format!("You have no coding agent \"{id}\"."),
                    "See your agents with: sam agent catalog",
                ));
            }
        }
    }
    let entries = coding_agents::catalogue(store)?;
    let keyed = coding_agents::keys::keyed(core)?;
    if json {
        print_json(&serde_json::json!({ "agents": entries, "keyed": keyed }));
    } else {
        print_text(&table(&entries, &keyed));
    }
    Ok(())
}

fn table(entries: &[Entry], keyed: &[String]) -> String {
    let mut lines = Vec::new();
    for entry in entries {
        let spec = &entry.spec;
        let how = match &spec.distribution {
            Distribution::Npx {
                package,
                args,
                node_min,
            } => {
                let mut how = format!("npm {package}");
                if !args.is_empty() {
                    how.push_str(&format!(" ({})", args.join(" ")));
                }
                if let Some(node) = node_min {
                    how.push_str(&format!(", Node.js {node} or later"));
                }
                how
            }
            Distribution::Command { command, args, .. } => std::iter::once(command.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let key = if spec.key_env.is_empty() {
            String::new()
        } else {
            let kept = if keyed.contains(&spec.id) {
                " (kept in your keyring)"
            } else {
                ""
            };
            format!("; key: {}{kept}", spec.key_env.join(" or "))
        };
        let mine = if entry.origin == Origin::Custom {
            " (yours)"
        } else {
            ""
        };
        lines.push(format!("{:<14} {}{mine}: {how}{key}", spec.id, spec.name));
        if let Some(login) = &spec.login {
            lines.push(format!(
                "{:<14} or log in, in a terminal of the workspace: {login}",
                ""
            ));
        }
    }
    lines.push(String::new());
    lines.push(
        "An npm agent is installed on the workspace's machine when it first starts; the machine \
         needs npm, and SAM brings a newer Node.js when the agent needs one."
            .to_owned(),
    );
    lines.join("\n")
}
