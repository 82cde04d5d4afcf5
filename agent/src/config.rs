//! The agent's configuration: a JSON file (what cloud-init or the Local provider writes) with
//! command-line flags and `SAM_AGENT_*` environment variables layered on top, validated into
//! [`Config`] before anything starts. A bad value is an error that names the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ed25519_dalek::VerifyingKey;
use sam_protocol::enroll::EnrollmentKey;
use sam_protocol::message::{BackstopAction, IdlePolicy};
use serde::Deserialize;

/// A configuration error, naming the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// The field (as spelled in the config file).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

/// Command-line flags; each may also come from its environment variable or the config file.
#[derive(Debug, Default, Parser)]
#[command(name = "sam-agent", version, about = "SAM's per-workspace agent")]
pub struct Flags {
    /// A JSON configuration file; flags and environment variables override its values.
    #[arg(long, env = "SAM_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port and prints it).
    #[arg(long, env = "SAM_AGENT_LISTEN")]
    pub listen: Option<String>,
    /// The desktop installation's Ed25519 public key (base64url, 32 bytes; it may start with
    /// a dash).
    #[arg(long, env = "SAM_AGENT_PUBLIC_KEY", allow_hyphen_values = true)]
    pub public_key: Option<String>,
    /// The workspace this agent serves.
    #[arg(long, env = "SAM_AGENT_WORKSPACE_ID")]
    pub workspace_id: Option<String>,
    /// The folder the workspace lives in; files and shells are confined to it.
    #[arg(long, env = "SAM_AGENT_WORKSPACE_ROOT")]
    pub workspace_root: Option<PathBuf>,
    /// Where the agent keeps its TLS key and enrollment mark.
    #[arg(long, env = "SAM_AGENT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The unprivileged user shells and jobs run as (when the agent runs as root).
    #[arg(long, env = "SAM_AGENT_RUN_AS")]
    pub run_as: Option<String>,
    /// The one-time enrollment secret.
    #[arg(
        long,
        env = "SAM_AGENT_ENROLLMENT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub enrollment_secret: Option<String>,
    /// Read the enrollment secret from the first line of standard input (keeps it out of the
    /// process's command line and environment).
    #[arg(long)]
    pub enrollment_secret_stdin: bool,
    /// The enrollment secret's SHA-256, as 64 hex digits (instead of the secret).
    #[arg(long, env = "SAM_AGENT_ENROLLMENT_KEY", hide_env_values = true)]
    pub enrollment_key: Option<String>,
    /// Idle timeout in seconds; 0 means never.
    #[arg(long, env = "SAM_AGENT_IDLE_TIMEOUT")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds past the idle deadline before the backstop acts.
    #[arg(long, env = "SAM_AGENT_IDLE_GRACE")]
    pub idle_grace_secs: Option<u64>,
    /// What the backstop does: poweroff, exit or none.
    #[arg(long, env = "SAM_AGENT_BACKSTOP")]
    pub backstop: Option<String>,
    /// The command the `poweroff` backstop runs.
    #[arg(long, env = "SAM_AGENT_POWEROFF_COMMAND")]
    pub poweroff_command: Option<String>,
    /// A command run (at most once a minute) while the workspace is active, to postpone a
    /// system-level idle timer.
    #[arg(long, env = "SAM_AGENT_POSTPONE_COMMAND")]
    pub postpone_command: Option<String>,
    /// How many PTYs and jobs may be open at once.
    #[arg(long, env = "SAM_AGENT_MAX_STREAMS")]
    pub max_streams: Option<u32>,
    /// Bytes of output kept per stream for resume.
    #[arg(long, env = "SAM_AGENT_RING_BYTES")]
    pub ring_bytes: Option<u64>,
    /// The machine's boot log (absolute path), followed into the event log as `boot: ` lines.
    #[arg(long, env = "SAM_AGENT_BOOT_LOG")]
    pub boot_log: Option<PathBuf>,
    /// Where the git credential broker listens (default: `git-credential.sock` in the state
    /// folder).
    #[arg(long, env = "SAM_AGENT_CREDENTIAL_SOCKET")]
    pub credential_socket: Option<PathBuf>,
}

/// The config file's shape: every field optional, unknown fields refused (a typo should not
/// silently fall back to a default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    public_key: Option<String>,
    workspace_id: Option<String>,
    workspace_root: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    run_as: Option<String>,
    enrollment_secret: Option<String>,
    enrollment_key: Option<String>,
    idle_timeout_secs: Option<u64>,
    idle_grace_secs: Option<u64>,
    backstop: Option<String>,
    poweroff_command: Option<String>,
    postpone_command: Option<String>,
    max_streams: Option<u32>,
    ring_bytes: Option<u64>,
    boot_log: Option<PathBuf>,
    credential_socket: Option<PathBuf>,
}

/// A user that shells run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home folder.
    pub home: PathBuf,
    /// Login shell.
    pub shell: PathBuf,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The key that signs connection tokens.
    pub public_key: VerifyingKey,
    /// The workspace id tokens must name.
    pub workspace_id: String,
    /// The workspace folder.
    pub workspace_root: PathBuf,
    /// TLS key, certificate and enrollment mark.
    pub state_dir: PathBuf,
    /// Who shells run as; `None` = the agent's own user.
    pub run_as: Option<RunAs>,
    /// The enrollment key; `None` when the agent was configured without one (then it can only
    /// serve an installation that enrolled it before).
    pub enrollment_key: Option<EnrollmentKey>,
    /// The idle policy at start-up (the desktop may replace it).
    pub idle: IdlePolicy,
    /// The backstop's power-off command.
    pub poweroff_command: Vec<String>,
    /// The postpone command, if any.
    pub postpone_command: Option<Vec<String>>,
    /// Stream cap.
    pub max_streams: u32,
    /// Output ring size per stream.
    pub ring_bytes: usize,
    /// The machine's boot log, followed into the event log.
    pub boot_log: Option<PathBuf>,
    /// Where the git credential broker listens.
    pub credential_socket: PathBuf,
}

/// Default output ring per stream: enough to refill a 10 000-line scrollback.
pub const DEFAULT_RING_BYTES: u64 = 4 * 1024 * 1024;
/// Default stream cap.
pub const DEFAULT_MAX_STREAMS: u32 = 32;
/// How often a postpone command may run.
pub const POSTPONE_INTERVAL: Duration = Duration::from_secs(60);

impl Config {
    /// Reads the file named by `flags.config` (if any), applies the flags, and validates.
    pub fn load(mut flags: Flags) -> Result<Self, ConfigError> {
        if flags.enrollment_secret_stdin {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|err| {
                bad(
                    "enrollment_secret",
                    format!("cannot read it from standard input: {err}"),
                )
            })?;
            flags.enrollment_secret = Some(line.trim_end_matches(['\r', '\n']).to_owned());
        }
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        Self::resolve(flags, file)
    }

    fn resolve(flags: Flags, file: File) -> Result<Self, ConfigError> {
        let listen_text = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "0.0.0.0:443".to_owned());
        let listen = listen_text.parse().map_err(|err| {
            bad(
                "listen",
                format!("{listen_text:?} is not an address: {err}"),
            )
        })?;

        let key_text = flags
            .public_key
            .or(file.public_key)
            .ok_or_else(|| bad("public_key", "missing"))?;
        let public_key = sam_protocol::token::decode_public_key(&key_text)
            .map_err(|err| bad("public_key", err))?;

        let workspace_id = flags
            .workspace_id
            .or(file.workspace_id)
            .ok_or_else(|| bad("workspace_id", "missing"))?;
        if workspace_id.is_empty()
            || workspace_id.len() > 64
            || !workspace_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad(
                "workspace_id",
                "expected 1–64 letters, digits or dashes",
            ));
        }

        let workspace_root = flags
            .workspace_root
            .or(file.workspace_root)
            .ok_or_else(|| bad("workspace_root", "missing"))?;
        let workspace_root = existing_dir("workspace_root", &workspace_root)?;

        let state_dir = flags
            .state_dir
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from("/var/lib/sam-agent"));
        std::fs::create_dir_all(&state_dir).map_err(|err| {
            bad(
                "state_dir",
                format!("cannot create {}: {err}", state_dir.display()),
            )
        })?;
        let state_dir = existing_dir("state_dir", &state_dir)?;

        let run_as = flags
            .run_as
            .or(file.run_as)
            .map(|name| lookup_user(&name))
            .transpose()?;

        let enrollment_key = match (
            flags.enrollment_secret.or(file.enrollment_secret),
            flags.enrollment_key.or(file.enrollment_key),
        ) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "enrollment_key",
                    "give the secret or its key, not both",
                ));
            }
            (Some(secret), None) if secret.len() < 16 => {
                return Err(bad("enrollment_secret", "shorter than 16 characters"));
            }
            (Some(secret), None) => Some(EnrollmentKey::from_secret(&secret)),
            (None, Some(hex)) => {
                Some(EnrollmentKey::from_hex(&hex).map_err(|err| bad("enrollment_key", err))?)
            }
            (None, None) => None,
        };

        let action = match flags.backstop.or(file.backstop).as_deref() {
            None | Some("poweroff") => BackstopAction::Poweroff,
            Some("exit") => BackstopAction::Exit,
            Some("none") => BackstopAction::None,
            Some(other) => {
                return Err(bad(
                    "backstop",
                    format!("{other:?} is not one of poweroff, exit, none"),
                ));
            }
        };
        let timeout = flags
            .idle_timeout_secs
            .or(file.idle_timeout_secs)
            .unwrap_or(30 * 60);
        let idle = IdlePolicy {
            timeout_secs: (timeout > 0).then_some(timeout),
            extend_until: None,
            grace_secs: flags
                .idle_grace_secs
                .or(file.idle_grace_secs)
                .unwrap_or(5 * 60),
            action,
        };

        let poweroff_command = split_command(
            "poweroff_command",
            &flags
                .poweroff_command
                .or(file.poweroff_command)
                .unwrap_or_else(|| "systemctl poweroff".to_owned()),
        )?;
        let postpone_command = flags
            .postpone_command
            .or(file.postpone_command)
            .map(|text| split_command("postpone_command", &text))
            .transpose()?;

        let max_streams = flags
            .max_streams
            .or(file.max_streams)
            .unwrap_or(DEFAULT_MAX_STREAMS);
        if !(1..=1024).contains(&max_streams) {
            return Err(bad("max_streams", "expected 1 to 1024"));
        }
        let ring_bytes = flags
            .ring_bytes
            .or(file.ring_bytes)
            .unwrap_or(DEFAULT_RING_BYTES);
        if !(64 * 1024..=256 * 1024 * 1024).contains(&ring_bytes) {
            return Err(bad("ring_bytes", "expected 64 KiB to 256 MiB"));
        }

        let boot_log = flags.boot_log.or(file.boot_log);
        if boot_log.as_ref().is_some_and(|path| !path.is_absolute()) {
            return Err(bad("boot_log", "expected an absolute path"));
        }

        let credential_socket = flags
            .credential_socket
            .or(file.credential_socket)
            .unwrap_or_else(|| state_dir.join("git-credential.sock"));
        if !credential_socket.is_absolute() {
            return Err(bad("credential_socket", "expected an absolute path"));
        }

        Ok(Self {
            listen,
            public_key,
            workspace_id,
            workspace_root,
            state_dir,
            run_as,
            enrollment_key,
            idle,
            poweroff_command,
            postpone_command,
            max_streams,
            ring_bytes: usize::try_from(ring_bytes).map_err(|_| bad("ring_bytes", "too large"))?,
            boot_log,
            credential_socket,
        })
    }
}

fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| bad("config", format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text).map_err(|err| bad("config", format!("{}: {err}", path.display())))
}

fn existing_dir(field: &'static str, path: &Path) -> Result<PathBuf, ConfigError> {
    let canonical = path
        .canonicalize()
        .map_err(|err| bad(field, format!("{}: {err}", path.display())))?;
    if !canonical.is_dir() {
        return Err(bad(field, format!("{} is not a folder", path.display())));
    }
    Ok(canonical)
}

/// Splits a command line on whitespace. Commands here are set by the installer, not users;
/// anything needing quoting belongs in a script.
fn split_command(field: &'static str, text: &str) -> Result<Vec<String>, ConfigError> {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return Err(bad(field, "empty command"));
    }
    Ok(words)
}

fn lookup_user(name: &str) -> Result<RunAs, ConfigError> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|err| bad("run_as", format!("cannot look up {name:?}: {err}")))?
        .ok_or_else(|| bad("run_as", format!("no user named {name:?}")))?;
    Ok(RunAs {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir,
        shell: user.shell,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid minimal configuration rooted at `dir`, for this crate's tests.
    pub(crate) fn flags(dir: &Path) -> Flags {
        Flags {
            listen: Some("127.0.0.1:0".into()),
            public_key: Some(sam_protocol::token::encode_public_key(
                &ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
            )),
            workspace_id: Some("abcdefghijkm".into()),
            workspace_root: Some(dir.to_path_buf()),
            state_dir: Some(dir.join("state")),
            ..Flags::default()
        }
    }

    #[test]
    fn a_minimal_configuration_gets_sane_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let config = Config::resolve(flags(dir.path()), File::default()).expect("valid");
        assert_eq!(config.idle.timeout_secs, Some(1800));
        assert_eq!(config.idle.action, BackstopAction::Poweroff);
        assert_eq!(config.poweroff_command, ["systemctl", "poweroff"]);
        assert!(config.enrollment_key.is_none());
        assert!(config.state_dir.is_dir());
    }

    #[test]
    fn errors_name_the_field() {
        let dir = tempfile::tempdir().expect("dir");
        let cases: Vec<(Flags, &str)> = vec![
            (
                Flags {
                    listen: Some("nowhere".into()),
                    ..flags(dir.path())
                },
                "listen",
            ),
            (
                Flags {
                    public_key: Some("short".into()),
                    ..flags(dir.path())
                },
                "public_key",
            ),
            (
                Flags {
                    public_key: None,
                    ..flags(dir.path())
                },
                "public_key",
            ),
            (
                Flags {
                    workspace_id: Some("a/b".into()),
                    ..flags(dir.path())
                },
                "workspace_id",
            ),
            (
                Flags {
                    workspace_root: Some(dir.path().join("missing")),
                    ..flags(dir.path())
                },
                "workspace_root",
            ),
            (
                Flags {
                    backstop: Some("explode".into()),
                    ..flags(dir.path())
                },
                "backstop",
            ),
            (
                Flags {
                    enrollment_secret: Some("short".into()),
                    ..flags(dir.path())
                },
                "enrollment_secret",
            ),
            (
                Flags {
                    enrollment_key: Some("12".into()),
                    ..flags(dir.path())
                },
                "enrollment_key",
            ),
            (
                Flags {
                    run_as: Some("no-such-user-here".into()),
                    ..flags(dir.path())
                },
                "run_as",
            ),
            (
                Flags {
                    max_streams: Some(0),
                    ..flags(dir.path())
                },
                "max_streams",
            ),
            (
                Flags {
                    ring_bytes: Some(10),
                    ..flags(dir.path())
                },
                "ring_bytes",
            ),
        ];
        for (flags, field) in cases {
            let err = Config::resolve(flags, File::default()).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn the_file_is_read_and_flags_override_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"idle_timeout_secs": 60, "backstop": "exit", "listen": "127.0.0.1:9"}"#,
        )
        .expect("write");
        let mut flags = flags(dir.path());
        flags.config = Some(path);
        flags.listen = None;
        flags.idle_timeout_secs = Some(0);
        let config = Config::load(flags).expect("valid");
        assert_eq!(config.listen.port(), 9);
        assert_eq!(config.idle.timeout_secs, None, "the flag's 0 (never) wins");
        assert_eq!(config.idle.action, BackstopAction::Exit);
    }

    #[test]
    fn unknown_or_malformed_file_fields_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        for text in [
            r#"{"listne": "x"}"#,
            "not json",
            r#"{"idle_timeout_secs": "soon"}"#,
        ] {
            let path = dir.path().join("config.json");
            std::fs::write(&path, text).expect("write");
            let err = Config::load(Flags {
                config: Some(path),
                ..flags(dir.path())
            })
            .expect_err(text);
            assert_eq!(err.field, "config");
        }
    }
}
