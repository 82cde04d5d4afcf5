//! Unit tests of the user_data generator.

use std::path::PathBuf;

use super::*;
use crate::error::ErrorCategory;

/// Mirrors the private `File` in `agent/src/config.rs`: if the agent stops accepting a field
/// we write, this stops deserializing.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AgentFile {
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
}

const SECRET: &str = "enroll-0123456789-abcdefghij";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn public_key() -> String {
    sam_protocol::token::encode_public_key(
        &ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    )
}

/// Owns what a [`BootConfig`] borrows.
struct Inputs {
    workspace: WorkspaceId,
    secret: Secret,
    key: String,
    ssh: Vec<String>,
}

impl Inputs {
    fn new() -> Self {
        Self {
            workspace: "abcdefghijkm".parse().expect("id"),
            secret: Secret::new(SECRET),
            key: public_key(),
            ssh: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host".to_owned()],
        }
    }

    fn config(&self) -> BootConfig<'_> {
        BootConfig {
            workspace: &self.workspace,
            public_key: &self.key,
            enrollment_secret: &self.secret,
            agent_url: Some("https://example.com/sam-agent-x86_64"),
            agent_sha256: SHA,
            idle_timeout_secs: Some(1800),
            idle_grace_secs: 300,
            volume_device: Some("/dev/disk/by-id/scsi-0HC_Volume_123"),
            ssh_authorized_keys: &self.ssh,
        }
    }

    fn user_data(&self) -> String {
        user_data(&self.config()).expect("valid")
    }
}

fn parse(text: &str) -> Value {
    let json = text
        .strip_prefix("#cloud-config\n")
        .expect("starts with the cloud-config marker");
    serde_json::from_str(json).expect("one JSON document")
}

fn file<'a>(document: &'a Value, path: &str) -> &'a Value {
    document["write_files"]
        .as_array()
        .expect("write_files")
        .iter()
        .find(|entry| entry["path"] == path)
        .expect("the file is written")
}

#[test]
fn the_agent_config_entry_is_what_the_agent_accepts() {
    let text = Inputs::new().user_data();
    let document = parse(&text);
    let entry = file(&document, AGENT_CONFIG_PATH);
    assert_eq!(entry["permissions"], "0600");
    assert_eq!(entry["owner"], "sam-agent:sam-agent");
    let content = entry["content"].as_str().expect("plain text content");
    let fields: serde_json::Map<String, Value> =
        serde_json::from_str(content).expect("the config is JSON");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "backstop",
            "boot_log",
            "enrollment_secret",
            "idle_grace_secs",
            "idle_timeout_secs",
            "listen",
            "postpone_command",
            "poweroff_command",
            "public_key",
            "run_as",
            "state_dir",
            "workspace_id",
            "workspace_root",
        ]
    );
    let agent: AgentFile = serde_json::from_str(content).expect("the agent's shape");
    assert_eq!(agent.listen.as_deref(), Some("0.0.0.0:443"));
    assert_eq!(agent.workspace_id.as_deref(), Some("abcdefghijkm"));
    assert_eq!(agent.run_as.as_deref(), Some(WORKSPACE_USER));
    assert_eq!(agent.idle_timeout_secs, Some(1800));
    assert_eq!(agent.backstop.as_deref(), Some("poweroff"));
    assert_eq!(
        agent.postpone_command.as_deref(),
        Some("touch /var/lib/sam-agent/active")
    );
    // The agent asks root to power off; it cannot itself.
    assert_eq!(
        agent.poweroff_command.as_deref(),
        Some("touch /var/lib/sam-agent/poweroff-requested")
    );
    assert_eq!(agent.enrollment_secret.as_deref(), Some(SECRET));
}

#[test]
fn the_secret_appears_once_and_only_in_the_agent_config() {
    let text = Inputs::new().user_data();
    assert_eq!(text.matches(SECRET).count(), 1);
    let mut document = parse(&text);
    let files = document["write_files"].as_array_mut().expect("write_files");
    files.retain(|entry| entry["path"] != AGENT_CONFIG_PATH);
    assert!(!document.to_string().contains(SECRET));
}

#[test]
fn boot_settings_go_to_the_root_only_env_file() {
    let text = Inputs::new().user_data();
    let document = parse(&text);
    let env = file(&document, BOOT_ENV_PATH);
    assert_eq!(env["permissions"], "0600");
    assert_eq!(
        env["content"],
        "SAM_AGENT_URL=https://example.com/sam-agent-x86_64\n\
         SAM_AGENT_DELIVERY=download\n\
         SAM_AGENT_SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n\
         SAM_VOLUME_DEVICE=/dev/disk/by-id/scsi-0HC_Volume_123\n\
         SAM_IDLE_LIMIT_SECS=2100\n\
         SAM_WORKSPACE_USER=dev\n\
         SAM_AGENT_USER=sam-agent\n\
         SAM_SSH=on\n"
    );
    assert_eq!(file(&document, BOOT_SCRIPT_PATH)["content"], BOOT_SCRIPT);
    assert_eq!(
        document["runcmd"],
        json!([["/bin/sh", BOOT_SCRIPT_PATH, BOOT_ENV_PATH]])
    );
    assert_eq!(document["ssh_pwauth"], false);
}

#[test]
fn without_a_download_the_first_stage_is_written_and_the_agent_is_pushed() {
    let downloads = parse(&Inputs::new().user_data());
    let paths = |document: &Value| -> Vec<String> {
        document["write_files"]
            .as_array()
            .expect("write_files")
            .iter()
            .filter_map(|entry| entry["path"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(!paths(&downloads).contains(&RECEIVE_SCRIPT_PATH.to_owned()));

    let inputs = Inputs::new();
    let mut config = inputs.config();
    config.agent_url = None;
    let pushed = parse(&user_data(&config).expect("user_data"));
    let stage = file(&pushed, RECEIVE_SCRIPT_PATH);
    assert_eq!(stage["content"], RECEIVE_SCRIPT);
    assert_eq!(stage["permissions"], "0700");
    assert_eq!(stage["owner"], "root:root");
    let env = file(&pushed, BOOT_ENV_PATH)["content"]
        .as_str()
        .expect("env")
        .to_owned();
    assert!(
        env.starts_with("SAM_AGENT_URL=\nSAM_AGENT_DELIVERY=push\n"),
        "{env}"
    );
}

#[test]
fn never_idle_and_no_ssh_keys() {
    let inputs = Inputs::new();
    let config = BootConfig {
        idle_timeout_secs: None,
        ssh_authorized_keys: &[],
        volume_device: None,
        ..inputs.config()
    };
    let text = user_data(&config).expect("valid");
    let document = parse(&text);
    let env = file(&document, BOOT_ENV_PATH)["content"]
        .as_str()
        .expect("text");
    assert!(env.contains("SAM_IDLE_LIMIT_SECS=\n"));
    assert!(env.contains("SAM_VOLUME_DEVICE=\n"));
    assert!(env.contains("SAM_SSH=off\n"));
    let config: Value = serde_json::from_str(
        file(&document, AGENT_CONFIG_PATH)["content"]
            .as_str()
            .expect("text"),
    )
    .expect("json");
    assert_eq!(config["idle_timeout_secs"], 0);
    let users = document["users"].as_array().expect("users");
    assert!(
        users
            .iter()
            .all(|user| user.get("ssh_authorized_keys").is_none())
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    use ErrorCategory::{Configuration, InvalidInput};
    let inputs = Inputs::new();
    let base = || inputs.config();
    let short = Secret::new("short");
    let keys = |key: &str| vec![key.to_owned()];
    let bad_keys = [
        keys("ssh-ed25519 AAAA user\nssh-rsa AAAA other"),
        keys("ssh-dss AAAAB3NzaC1kc3M user"),
        keys("AAAAC3NzaC1lZDI1NTE5AAAAIA"),
        keys("ssh-ed25519"),
    ];
    let upper_sha = SHA.to_uppercase();
    let huge = keys(&format!("ssh-rsa AAAA{}", "x".repeat(40_000)));
    let mut cases = vec![
        (
            "ftp url",
            BootConfig {
                agent_url: Some("ftp://example.com/a"),
                ..base()
            },
            Configuration,
        ),
        (
            "no host",
            BootConfig {
                agent_url: Some("https:///a"),
                ..base()
            },
            Configuration,
        ),
        (
            "space",
            BootConfig {
                agent_url: Some("https://example.com/a b"),
                ..base()
            },
            Configuration,
        ),
        (
            "quote",
            BootConfig {
                agent_url: Some("https://example.com/a'b"),
                ..base()
            },
            Configuration,
        ),
        (
            "short sha",
            BootConfig {
                agent_sha256: "abc",
                ..base()
            },
            Configuration,
        ),
        (
            "upper-case sha",
            BootConfig {
                agent_sha256: &upper_sha,
                ..base()
            },
            Configuration,
        ),
        (
            "public key",
            BootConfig {
                public_key: "not-a-key",
                ..base()
            },
            Configuration,
        ),
        (
            "short secret",
            BootConfig {
                enrollment_secret: &short,
                ..base()
            },
            Configuration,
        ),
        (
            "relative device",
            BootConfig {
                volume_device: Some("sdb"),
                ..base()
            },
            InvalidInput,
        ),
        (
            "device with space",
            BootConfig {
                volume_device: Some("/dev/sd b"),
                ..base()
            },
            InvalidInput,
        ),
        (
            "device with ..",
            BootConfig {
                volume_device: Some("/dev/../etc/passwd"),
                ..base()
            },
            InvalidInput,
        ),
        (
            "device with ;",
            BootConfig {
                volume_device: Some("/dev/sdb;reboot"),
                ..base()
            },
            InvalidInput,
        ),
        (
            "overflow",
            BootConfig {
                idle_timeout_secs: Some(u64::MAX),
                ..base()
            },
            InvalidInput,
        ),
        (
            "too big",
            BootConfig {
                ssh_authorized_keys: &huge,
                ..base()
            },
            InvalidInput,
        ),
    ];
    for keys in &bad_keys {
        cases.push((
            "ssh key",
            BootConfig {
                ssh_authorized_keys: keys,
                ..base()
            },
            InvalidInput,
        ));
    }
    for (name, config, category) in cases {
        let err = user_data(&config).expect_err(name);
        assert_eq!(err.category, category, "{name}: {err:?}");
        assert!(!err.next_step.is_empty(), "{name}");
        assert!(!err.message.contains(SECRET), "{name}");
    }
    let err = user_data(&BootConfig {
        ssh_authorized_keys: &huge,
        ..base()
    })
    .expect_err("too big");
    assert!(err.message.contains("32768"), "{}", err.message);
}

#[test]
fn the_largest_realistic_inputs_fit() {
    let keys: Vec<String> = (0..10)
        .map(|i| format!("ssh-rsa AAAAB3NzaC1yc2E{} user{i}@laptop", "A".repeat(760)))
        .collect();
    assert!(keys.iter().all(|key| key.len() >= 790));
    let url = format!("https://downloads.example.com/{}", "a".repeat(470));
    assert!(url.len() >= 500);
    let inputs = Inputs::new();
    let config = BootConfig {
        ssh_authorized_keys: &keys,
        agent_url: Some(&url),
        ..inputs.config()
    };
    let text = user_data(&config).expect("fits");
    assert!(text.len() <= USER_DATA_LIMIT, "{} bytes", text.len());
}
