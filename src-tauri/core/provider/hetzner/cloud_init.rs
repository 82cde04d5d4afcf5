//! The user_data that boots a workspace server: `#cloud-config` followed by one JSON document.
//!
//! JSON is YAML, so cloud-init reads it as it is, and anything of ours (the fake Hetzner, tests)
//! reads it back with `serde_json`. The document only uses long-stable cloud-config keys:
//! `users`, `ssh_pwauth`, `disable_root`, `write_files` and `runcmd`. It writes three files —
//! the agent's config (the only place the enrollment secret goes), a root-only env file with the
//! boot settings, and the boot script ([`BOOT_SCRIPT`]) — and runs the script once.
//!
//! Hetzner stores user_data and serves it through the metadata service, so it carries no
//! long-lived secret (DESIGN §2): public keys, settings, and the one-time enrollment secret,
//! which the agent burns on first contact. The boot script blocks the metadata address for every
//! user but the agent's.

use serde::Serialize;
use serde_json::{Value, json};

use crate::agent_release::check;
use crate::error::SamError;
use crate::redact::Secret;
use crate::workspace::WorkspaceId;

/// Hetzner refuses user_data larger than this.
pub const USER_DATA_LIMIT: usize = 32 * 1024;
/// Where the agent's JSON config file is written.
pub const AGENT_CONFIG_PATH: &str = "/etc/sam-agent/config.json";
/// Where the boot script's settings are written (root only).
pub const BOOT_ENV_PATH: &str = "/etc/sam-agent/boot.env";
/// Where the boot script is written.
pub const BOOT_SCRIPT_PATH: &str = "/usr/local/lib/sam-agent/boot.sh";
/// The boot script: downloads, verifies and starts the agent; see the script's header.
pub const BOOT_SCRIPT: &str = include_str!("boot.sh");
/// Where the first stage that receives the agent from the app is written (builds that publish
/// no agent).
pub const RECEIVE_SCRIPT_PATH: &str = "/usr/local/lib/sam-agent/receive-agent.py";
/// The first stage: keeps only the agent binary whose SHA-256 user_data pins.
pub const RECEIVE_SCRIPT: &str = include_str!("receive-agent.py");
/// The system user the agent runs as.
pub const AGENT_USER: &str = "sam-agent";
/// The unprivileged user that shells and jobs run as.
pub const WORKSPACE_USER: &str = "dev";
/// The workspace folder (the volume's mount point).
pub const WORKSPACE_ROOT: &str = "/workspace";
/// The agent's state folder (TLS key, enrollment mark, activity stamp).
pub const STATE_DIR: &str = "/var/lib/sam-agent";
/// The boot script's log, which the agent follows into its event log.
pub const BOOT_LOG: &str = "/var/log/sam-boot.log";
/// The file the agent touches while the workspace is active; the backstop timer reads its age.
pub const ACTIVITY_STAMP: &str = "/var/lib/sam-agent/active";
/// The file the agent creates to have the server powered off (a root path unit does it; the
/// agent itself holds no power-off privilege).
pub const POWEROFF_REQUEST: &str = "/var/lib/sam-agent/poweroff-requested";

/// SSH key types accepted in `ssh_authorized_keys`.
const SSH_KEY_TYPES: [&str; 6] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
];

/// Everything a server needs to boot our agent.
#[derive(Debug, Clone)]
pub struct BootConfig<'a> {
    /// The workspace the agent serves.
    pub workspace: &'a WorkspaceId,
    /// The installation's Ed25519 public key, base64url (what the agent's `public_key` takes).
    pub public_key: &'a str,
    /// The one-time enrollment secret; written to the agent's config file and nowhere else.
    pub enrollment_secret: &'a Secret,
    /// An `https` (or, for tests, `http`) URL of the static `sam-agent` binary; `None` = the app
    /// sends the binary itself to the first stage ([`RECEIVE_SCRIPT`]).
    pub agent_url: Option<&'a str>,
    /// The binary's SHA-256 as 64 lower-case hex digits, checked before it is installed.
    pub agent_sha256: &'a str,
    /// Idle timeout; `None` = never (and no backstop timer).
    pub idle_timeout_secs: Option<u64>,
    /// Seconds past the idle deadline before the backstop acts.
    pub idle_grace_secs: u64,
    /// The volume's device (`/dev/disk/by-id/scsi-0HC_Volume_123`), mounted as the workspace;
    /// `None` = the workspace is a folder on the server's own disk.
    pub volume_device: Option<&'a str>,
    /// Public keys that may log in over SSH as the workspace user; empty = SSH is turned off.
    pub ssh_authorized_keys: &'a [String],
}

/// The agent's config file, as `agent/src/config.rs` reads it (it refuses unknown fields).
#[derive(Debug, Serialize)]
struct AgentConfig<'a> {
    listen: &'a str,
    public_key: &'a str,
    workspace_id: &'a str,
    workspace_root: &'a str,
    state_dir: &'a str,
    run_as: &'a str,
    enrollment_secret: &'a str,
    /// 0 = never.
    idle_timeout_secs: u64,
    idle_grace_secs: u64,
    backstop: &'a str,
    poweroff_command: String,
    postpone_command: String,
    boot_log: &'a str,
}

/// The user_data for a server, at most [`USER_DATA_LIMIT`] bytes.
pub fn user_data(config: &BootConfig<'_>) -> Result<String, SamError> {
    check_public_key(config.public_key)?;
    check_enrollment_secret(config.enrollment_secret)?;
    if let Some(url) = config.agent_url {
        check_agent_url(url)?;
    }
    check_sha256(config.agent_sha256)?;
    if let Some(device) = config.volume_device {
        check_device(device)?;
    }
    for key in config.ssh_authorized_keys {
        check_ssh_key(key)?;
    }
    let idle_timeout_secs = config.idle_timeout_secs.filter(|secs| *secs > 0);
    let idle_limit_secs = idle_timeout_secs
        .map(|timeout| {
            timeout.checked_add(config.idle_grace_secs).ok_or_else(|| {
                SamError::invalid_input(
                    "The idle timeout plus its grace period is too large.",
                    "Choose an idle timeout of at most a few days, or never.",
                )
            })
        })
        .transpose()?;

    let agent_config = AgentConfig {
        listen: "0.0.0.0:443",
        public_key: config.public_key,
        workspace_id: config.workspace.as_str(),
        workspace_root: WORKSPACE_ROOT,
        state_dir: STATE_DIR,
        run_as: WORKSPACE_USER,
        enrollment_secret: config.enrollment_secret.expose(),
        idle_timeout_secs: idle_timeout_secs.unwrap_or(0),
        idle_grace_secs: config.idle_grace_secs,
        backstop: "poweroff",
        poweroff_command: format!("touch {POWEROFF_REQUEST}"),
        postpone_command: format!("touch {ACTIVITY_STAMP}"),
        boot_log: BOOT_LOG,
    };
    let agent_config = serde_json::to_string_pretty(&agent_config)
        .map_err(|err| SamError::internal("The agent's configuration did not serialize.", &err))?;

    // Parsed line by line by the boot script, never sourced; every value was checked above.
    let boot_env = [
        (
            "SAM_AGENT_URL",
            config.agent_url.unwrap_or_default().to_owned(),
        ),
        (
            "SAM_AGENT_DELIVERY",
            if config.agent_url.is_some() {
                "download"
            } else {
                "push"
            }
            .to_owned(),
        ),
        ("SAM_AGENT_SHA256", config.agent_sha256.to_owned()),
        (
            "SAM_VOLUME_DEVICE",
            config.volume_device.unwrap_or_default().to_owned(),
        ),
        (
            "SAM_IDLE_LIMIT_SECS",
            idle_limit_secs
                .map(|secs| secs.to_string())
                .unwrap_or_default(),
        ),
        ("SAM_WORKSPACE_USER", WORKSPACE_USER.to_owned()),
        ("SAM_AGENT_USER", AGENT_USER.to_owned()),
        (
            "SAM_SSH",
            if config.ssh_authorized_keys.is_empty() {
                "off"
            } else {
                "on"
            }
            .to_owned(),
        ),
    ]
    .iter()
    .map(|(key, value)| format!("{key}={value}\n"))
    .collect::<String>();

    let mut workspace_user = json!({
        "name": WORKSPACE_USER,
        "gecos": "SAM workspace",
        "homedir": format!("/home/{WORKSPACE_USER}"),
        "shell": "/bin/bash",
        "lock_passwd": true,
    });
    if !config.ssh_authorized_keys.is_empty() {
        workspace_user["ssh_authorized_keys"] = json!(config.ssh_authorized_keys);
    }
    let mut document = json!({
        // No "default" entry: the image's default user (with sudo) is not created.
        "users": [
            {
                "name": AGENT_USER,
                "gecos": "SAM agent",
                "system": true,
                "homedir": STATE_DIR,
                "no_create_home": true,
                "shell": "/usr/sbin/nologin",
                "lock_passwd": true,
            },
            workspace_user,
        ],
        "ssh_pwauth": false,
        "disable_root": true,
        "write_files": [
            {
                "path": AGENT_CONFIG_PATH,
                "content": agent_config,
                "owner": format!("{AGENT_USER}:{AGENT_USER}"),
                "permissions": "0600",
                // Written in cloud-init's final stage, after `users` made the owner.
                "defer": true,
            },
            {
                "path": BOOT_ENV_PATH,
                "content": boot_env,
                "owner": "root:root",
                "permissions": "0600",
            },
            {
                "path": BOOT_SCRIPT_PATH,
                "content": BOOT_SCRIPT,
                "owner": "root:root",
                "permissions": "0700",
            },
        ],
        "runcmd": [["/bin/sh", BOOT_SCRIPT_PATH, BOOT_ENV_PATH]],
    });
    if config.agent_url.is_none()
        && let Some(files) = document["write_files"].as_array_mut()
    {
        files.push(json!({
            "path": RECEIVE_SCRIPT_PATH,
            "content": RECEIVE_SCRIPT,
            "owner": "root:root",
            "permissions": "0700",
        }));
    }
    let text = format!("#cloud-config\n{}\n", compact(&document)?);
    if text.len() > USER_DATA_LIMIT {
        return Err(SamError::invalid_input(
            format!(
                "The server's start-up data is {} bytes; Hetzner accepts at most {USER_DATA_LIMIT}.",
                text.len()
            ),
            "Remove some SSH keys (or use shorter ones) and try again.",
        ));
    }
    Ok(text)
}

fn compact(document: &Value) -> Result<String, SamError> {
    serde_json::to_string(document)
        .map_err(|err| SamError::internal("The server's start-up data did not serialize.", &err))
}

fn check_public_key(key: &str) -> Result<(), SamError> {
    sam_protocol::token::decode_public_key(key)
        .map(drop)
        .map_err(|err| {
            SamError::configuration(
                format!("This installation's public key is unusable ({err})."),
                "Restart SAM; if it persists, reset the installation key in Settings.",
            )
        })
}

fn check_enrollment_secret(secret: &Secret) -> Result<(), SamError> {
    let text = secret.expose();
    if text.len() < 16 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SamError::configuration(
            "The enrollment secret must be at least 16 printable characters without spaces.",
            "Try again; SAM generates a new secret for each server.",
        ));
    }
    Ok(())
}

/// The address must be what [`check::agent_url`] makes of it: the overrides are normalised
/// before they get here, so anything else is a bug upstream, reported as configuration.
fn check_agent_url(url: &str) -> Result<(), SamError> {
    match check::agent_url(url) {
        Ok(canonical) if canonical == url => Ok(()),
        Ok(_) => Err(SamError::configuration(
            format!("The agent download URL {url:?} has an upper-case scheme."),
            "Write the scheme as http:// or https://.",
        )),
        Err(problem) => Err(SamError::configuration(
            format!("The agent download URL {url:?} is not a plain http(s) URL: {problem}."),
            "Set the agent URL to an https:// URL without spaces or quotes.",
        )),
    }
}

/// The checksum must be in the lower case `sha256sum` prints, which `boot.sh` compares with.
fn check_sha256(sha256: &str) -> Result<(), SamError> {
    match check::sha256(sha256) {
        Ok(canonical) if canonical == sha256 => Ok(()),
        Ok(_) => Err(SamError::configuration(
            "The agent's SHA-256 must be written in lower-case hex digits.",
            "Copy the checksum as `sha256sum` prints it.",
        )),
        Err(problem) => Err(SamError::configuration(
            format!("The agent's SHA-256 is not 64 hex digits: {problem}."),
            "Copy the checksum from the agent release's SHA256SUMS file.",
        )),
    }
}

fn check_device(device: &str) -> Result<(), SamError> {
    let safe = device.starts_with("/dev/")
        && !device.split('/').any(|part| part == "..")
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.' | b':'));
    if !safe {
        return Err(SamError::invalid_input(
            format!("The volume device {device:?} is not a plain path under /dev."),
            "Use the volume's linux_device as Hetzner reports it, e.g. /dev/disk/by-id/scsi-0HC_Volume_123.",
        ));
    }
    Ok(())
}

/// Refuses anything but a single-line OpenSSH public key of a known type.
pub(super) fn check_ssh_key(key: &str) -> Result<(), SamError> {
    let mut words = key.split(' ');
    let known_type = words
        .next()
        .is_some_and(|kind| SSH_KEY_TYPES.contains(&kind));
    let has_body = words.next().is_some_and(|body| {
        !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    });
    let single_line = !key.chars().any(char::is_control);
    if !(known_type && has_body && single_line) {
        let start: String = key.chars().take(24).collect();
        return Err(SamError::invalid_input(
            format!("The SSH key starting {start:?} is not a single-line OpenSSH public key."),
            format!(
                "Paste the one line of your .pub file; it starts with one of {}.",
                SSH_KEY_TYPES.join(", ")
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
