//! The coding agents SAM knows how to start: a catalogue kept as data. The built-in entries are
//! the well-known ACP adapters; users add their own (any program that speaks ACP on stdin and
//! stdout), kept in the `agents.custom` setting. The shape follows the ACP registry's
//! `agent.json` (an id, a name, and a distribution: an npm package run with `npx`, or a command),
//! cut to what SAM uses.

pub mod images;
pub mod install;
pub mod keys;
pub mod mentions;
pub mod rules;
pub mod sessions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SamError;
use crate::store::{Setting, Store};

/// The user's own coding agents.
pub const CUSTOM_AGENTS: Setting<Vec<AgentSpec>> = Setting::new("agents.custom");

/// How to start one coding agent.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSpec {
    /// A short id: lowercase letters, digits and dashes, at most 32 characters.
    pub id: String,
    /// What the user sees.
    pub name: String,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// How it is installed and started.
    pub distribution: Distribution,
    /// The environment variables it reads a vendor API key from, in the order it prefers them.
    #[serde(default)]
    pub key_env: Vec<String>,
    /// The session mode SAM sets when a session starts: one in which the agent asks before it
    /// acts (some adapters' default modes decide permissions themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How to log in with an account instead of an API key, for an agent that offers that: a
    /// command to run in one of the workspace's terminals (as the user the agent runs as).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The modes in which it performs some actions without asking (accepting edits, running
    /// commands): the session header says so while one is current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acts_alone_in: Vec<String>,
}

/// How a coding agent is installed and started.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Distribution {
    /// An npm package whose command is run with `args` (the registry's `npx`).
    Npx {
        /// The package, with its version (`@agentclientprotocol/codex-acp@2.6.0`).
        package: String,
        /// Arguments after the package's command.
        #[serde(default)]
        args: Vec<String>,
        /// The Node.js major version it needs at least.
        #[serde(default)]
        node_min: Option<u32>,
    },
    /// A program that is already on the machine.
    Command {
        /// The program.
        command: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
        /// Extra environment variables (never secrets: those are keys, in the keyring).
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
}

/// Where an entry comes from.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Shipped with SAM.
    BuiltIn,
    /// Added by the user.
    Custom,
}

/// One catalogue entry.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Where it comes from.
    pub origin: Origin,
    /// The agent.
    #[serde(flatten)]
    pub spec: AgentSpec,
}

/// The agents shipped with SAM, with the versions SAM was tested against where known.
pub fn built_in() -> Vec<AgentSpec> {
    let npx = |package: &str, args: &[&str], node_min: Option<u32>| Distribution::Npx {
        package: package.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        node_min,
    };
    let spec = |id: &str, name: &str, description: &str, distribution, keys: &[&str]| AgentSpec {
        id: id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        distribution,
        key_env: keys.iter().map(|k| (*k).to_owned()).collect(),
        mode: None,
        login: None,
        acts_alone_in: Vec::new(),
    };
    let with_mode = |spec: AgentSpec, mode: &str, alone: &[&str]| AgentSpec {
        mode: Some(mode.to_owned()),
        acts_alone_in: alone.iter().map(|m| (*m).to_owned()).collect(),
        ..spec
    };
    // The vendors' own log-in commands for a machine without a browser (each prints a link
    // to open on the desktop and asks for the code it shows); not exercised by SAM's tests,
    // which cannot reach the vendors.
    let with_login = |spec: AgentSpec, login: &str| AgentSpec {
        login: Some(login.to_owned()),
        ..spec
    };
    vec![
        // Its `default` mode asks before edits and commands; `acceptEdits` edits and
        // `bypassPermissions` does everything without asking.
        with_login(
            with_mode(
                spec(
                    "claude-code",
                    "Claude Code",
                    "Anthropic's coding agent, through its ACP adapter.",
                    npx(
                        "@agentclientprotocol/claude-agent-acp@0.101.0",
                        &[],
                        Some(22),
                    ),
                    &["ANTHROPIC_API_KEY"],
                ),
                "default",
                &["acceptEdits", "bypassPermissions"],
            ),
            "npx --yes @anthropic-ai/claude-code, then /login",
        ),
        // Its default mode (`agent`) reviews escalations itself; `workspace-write` asks (wave 2
        // research, measured with codex-acp 2.6.0).
        with_login(
            with_mode(
                spec(
                    "codex",
                    "Codex",
                    "OpenAI's coding agent, through its ACP adapter.",
                    npx("@agentclientprotocol/codex-acp@2.6.0", &[], Some(20)),
                    &["OPENAI_API_KEY", "CODEX_API_KEY"],
                ),
                "workspace-write",
                &["agent", "agent-full-access"],
            ),
            "npx --yes @openai/codex login --device-auth",
        ),
        with_login(
            spec(
                "gemini",
                "Gemini CLI",
                "Google's coding agent, which speaks ACP itself (gemini --acp).",
                npx("@google/gemini-cli", &["--acp"], Some(20)),
                &["GEMINI_API_KEY"],
            ),
            "NO_BROWSER=true npx --yes @google/gemini-cli, then sign in with Google",
        ),
        with_login(
            spec(
                "opencode",
                "OpenCode",
                "The open-source coding agent, which speaks ACP itself (opencode acp).",
                npx("opencode-ai", &["acp"], None),
                &[],
            ),
            "npx --yes opencode-ai auth login",
        ),
    ]
}

/// The whole catalogue: built-in agents first, then the user's.
pub fn catalogue(store: &Store) -> Result<Vec<Entry>, SamError> {
    let custom = store.get(&CUSTOM_AGENTS)?.unwrap_or_default();
    let entries = built_in()
        .into_iter()
        .map(|spec| Entry {
            origin: Origin::BuiltIn,
            spec,
        })
        .chain(custom.into_iter().map(|spec| Entry {
            origin: Origin::Custom,
            spec,
        }))
        .collect();
    Ok(entries)
}

/// Adds (or replaces) one of the user's agents, after checking it.
pub fn add_custom(store: &Store, spec: AgentSpec) -> Result<(), SamError> {
    validate(&spec)?;
    if built_in().iter().any(|b| b.id == spec.id) {
        return Err(SamError::invalid_input(
            format!("\"{}\" is a built-in agent's id.", spec.id),
            "Choose another id for your agent.",
        ));
    }
    let mut custom = store.get(&CUSTOM_AGENTS)?.unwrap_or_default();
    custom.retain(|existing| existing.id != spec.id);
    custom.push(spec);
    store.put(&CUSTOM_AGENTS, &custom)?;
    Ok(())
}

/// One of the user's agents from a command line as a shell would split it (`my-agent --acp
/// 'two words'`) and `NAME=VALUE` environment pairs; checked as [`add_custom`] checks.
pub fn from_command_line(
    id: &str,
    name: Option<&str>,
    command_line: &str,
    env: &[String],
    key_env: Vec<String>,
) -> Result<AgentSpec, SamError> {
    let words = shell_words::split(command_line).map_err(|err| {
        SamError::invalid_input(
            format!("The command {command_line:?} cannot be read: {err}."),
            "Quote arguments with spaces, and close every quote.",
        )
    })?;
    let Some((program, args)) = words.split_first() else {
        return Err(SamError::invalid_input(
            "The command is empty.",
            "Give the program and its arguments, such as: my-agent --acp",
        ));
    };
    let mut vars = BTreeMap::new();
    for pair in env {
        let Some((variable, value)) = pair.split_once('=') else {
            return Err(SamError::invalid_input(
                format!("The environment entry {pair:?} is not NAME=VALUE."),
                "Write each variable as NAME=VALUE.",
            ));
        };
        vars.insert(variable.trim().to_owned(), value.to_owned());
    }
    let spec = AgentSpec {
        id: id.trim().to_owned(),
        name: name
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or(id)
            .trim()
            .to_owned(),
        description: String::new(),
        distribution: Distribution::Command {
            command: program.clone(),
            args: args.to_vec(),
            env: vars,
        },
        key_env: key_env
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect(),
        mode: None,
        login: None,
        acts_alone_in: Vec::new(),
    };
    validate(&spec)?;
    Ok(spec)
}

/// Removes one of the user's agents; whether it was there.
pub fn remove_custom(store: &Store, id: &str) -> Result<bool, SamError> {
    let mut custom = store.get(&CUSTOM_AGENTS)?.unwrap_or_default();
    let before = custom.len();
    custom.retain(|existing| existing.id != id);
    if custom.len() == before {
        return Ok(false);
    }
    store.put(&CUSTOM_AGENTS, &custom)?;
    Ok(true)
}

/// Checks an agent's fields, naming the first one at fault.
pub fn validate(spec: &AgentSpec) -> Result<(), SamError> {
    let bad = |what: String| Err(SamError::invalid_input(what, FIX));
    const FIX: &str = "Fix the agent's definition and add it again.";
    let id_ok = !spec.id.is_empty()
        && spec.id.len() <= 32
        && spec
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !spec.id.starts_with('-');
    if !id_ok {
        return bad(format!(
            "The agent id {:?} is not valid: use 1 to 32 lowercase letters, digits and dashes, not starting with a dash.",
            spec.id
        ));
    }
    if spec.name.trim().is_empty() {
        return bad(format!("The agent {:?} has no name.", spec.id));
    }
    for name in &spec.key_env {
        if !is_env_name(name) {
            return bad(format!("{name:?} is not an environment variable name."));
        }
    }
    match &spec.distribution {
        Distribution::Npx { package, .. } => {
            if package.trim().is_empty() || package.contains(char::is_whitespace) {
                return bad(format!("The npm package {package:?} is not valid."));
            }
        }
        Distribution::Command { command, env, .. } => {
            if command.trim().is_empty() {
                return bad(format!("The agent {:?} has no command.", spec.id));
            }
            if let Some(name) = env.keys().find(|name| !is_env_name(name)) {
                return bad(format!("{name:?} is not an environment variable name."));
            }
            if let Some(name) = env.keys().find(|name| crate::config::is_secret_name(name)) {
                return bad(format!(
                    "{name} looks like a secret; environment values are stored in plain text. Name it as the agent's key variable instead, and SAM keeps its value in the keyring."
                ));
            }
        }
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(id: &str, command: &str) -> AgentSpec {
        AgentSpec {
            id: id.to_owned(),
            name: "Mine".to_owned(),
            description: String::new(),
            distribution: Distribution::Command {
                command: command.to_owned(),
                args: Vec::new(),
                env: BTreeMap::new(),
            },
            key_env: Vec::new(),
            mode: None,
            login: None,
            acts_alone_in: Vec::new(),
        }
    }

    #[test]
    fn built_in_agents_start_in_a_mode_in_which_they_ask() {
        for spec in built_in() {
            if let Some(mode) = &spec.mode {
                assert!(!spec.acts_alone_in.contains(mode), "{}: {mode}", spec.id);
            }
        }
    }

    #[test]
    fn the_built_in_agents_are_valid_and_distinct() {
        let agents = built_in();
        for agent in &agents {
            validate(agent).expect("valid");
        }
        let mut ids: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), agents.len());
    }

    #[test]
    fn bad_definitions_name_what_is_wrong() {
        let mut secret_env = custom("mine", "my-agent");
        if let Distribution::Command { env, .. } = &mut secret_env.distribution {
            env.insert("OPENAI_API_KEY".to_owned(), "sk-1".to_owned());
        }
        let mut bad_key = custom("mine", "my-agent");
        bad_key.key_env.push("1KEY".to_owned());
        let cases = [
            (custom("My Agent", "x"), "is not valid"),
            (custom("-x", "x"), "is not valid"),
            (custom(&"a".repeat(33), "x"), "is not valid"),
            (custom("mine", " "), "has no command"),
            (secret_env, "looks like a secret"),
            (bad_key, "not an environment variable name"),
        ];
        for (spec, expected) in cases {
            let err = validate(&spec).expect_err("refused");
            assert!(
                err.message.contains(expected),
                "{}: {}",
                spec.id,
                err.message
            );
        }
    }

    #[test]
    fn a_definition_reads_as_the_registry_shape() {
        let text = r#"{"id":"mine","name":"Mine","distribution":{"command":{"command":"my-agent","args":["--acp"],"env":{"MODE":"fast"}}},"keyEnv":["MINE_KEY"]}"#;
        let spec: AgentSpec = serde_json::from_str(text).expect("reads");
        validate(&spec).expect("valid");
        assert_eq!(spec.key_env, ["MINE_KEY"]);
        let unknown = r#"{"id":"mine","name":"Mine","distribution":{"binary":{}}}"#;
        assert!(serde_json::from_str::<AgentSpec>(unknown).is_err());
    }
}
