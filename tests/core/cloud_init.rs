//! The Hetzner user_data against real tools: Debian's `cloud-init schema` validates it, and the
//! boot script runs for real (real `curl` from a loopback HTTP server, real `sha256sum`) in a
//! temporary root, with stand-ins for the commands that would change this machine.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sam_core::provider::hetzner::cloud_init::{
    AGENT_CONFIG_PATH, BOOT_ENV_PATH, BOOT_SCRIPT, BootConfig, user_data,
};
use sam_core::redact::Secret;
use sam_core::workspace::WorkspaceId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const DEVICE: &str = "/dev/disk/by-id/scsi-0HC_Volume_123";
pub(crate) const FAKE_AGENT: &[u8] = b"#!/bin/sh\necho 'a stand-in for sam-agent'\n";

/// Commands the boot script would use to change the machine; each stand-in appends its name and
/// arguments to `commands.log`. `blkid` finds no file system, as on a new volume.
const STAND_INS: [&str; 7] = [
    "systemctl",
    "nft",
    "mount",
    "blkid",
    "mkfs.ext4",
    "chown",
    "setcap",
];

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn generate(agent_url: Option<&str>, agent_sha256: &str, ssh: &[String]) -> String {
    let workspace: WorkspaceId = "abcdefghijkm".parse().expect("id");
    let key = sam_protocol::token::encode_public_key(
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    );
    let secret = Secret::new("one-time-enrollment-secret-0123");
    user_data(&BootConfig {
        workspace: &workspace,
        public_key: &key,
        enrollment_secret: &secret,
        agent_url,
        agent_sha256,
        idle_timeout_secs: Some(1800),
        idle_grace_secs: 300,
        volume_device: Some(DEVICE),
        ssh_authorized_keys: ssh,
    })
    .expect("valid user_data")
}

pub(crate) fn written_file(user_data: &str, path: &str) -> String {
    let document: Value = serde_json::from_str(
        user_data
            .strip_prefix("#cloud-config\n")
            .expect("cloud-config marker"),
    )
    .expect("JSON");
    document["write_files"]
        .as_array()
        .expect("write_files")
        .iter()
        .find(|entry| entry["path"] == path)
        .and_then(|entry| entry["content"].as_str())
        .expect("the file is written")
        .to_owned()
}

#[test]
fn cloud_init_accepts_the_user_data() {
    let dir = tempfile::tempdir().expect("dir");
    let keys: Vec<String> = (0..10)
        .map(|i| format!("ssh-rsa AAAAB3NzaC1yc2E{} user{i}@laptop", "A".repeat(760)))
        .collect();
    let url = format!("https://downloads.example.com/{}", "a".repeat(470));
    let text = generate(Some(&url), &"ab".repeat(32), &keys);
    let path = dir.path().join("user-data");
    std::fs::write(&path, &text).expect("write");
    let output = Command::new("cloud-init")
        .args(["schema", "--config-file"])
        .arg(&path)
        .output()
        .expect(
            "cloud-init is installed (scripts/setup installs it; `apt-get install cloud-init`)",
        );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("Valid cloud-config"),
        "cloud-init schema refused the user_data:\n{stdout}\n{stderr}"
    );
    // The fake Hetzner reads the agent config back the same way.
    let config: Value =
        serde_json::from_str(&written_file(&text, AGENT_CONFIG_PATH)).expect("config JSON");
    assert_eq!(config["workspace_id"], "abcdefghijkm");
}

/// Serves `body` to every request on a loopback port; returns the URL. The thread ends with the
/// test process.
fn serve(body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    format!("http://{addr}/sam-agent")
}

/// A temporary root with the boot script, its env file (taken from real user_data) and the
/// stand-in commands.
pub(crate) struct BootRoot {
    dir: TempDir,
}

impl BootRoot {
    pub(crate) fn new(user_data: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("root");
        let env = root.join(BOOT_ENV_PATH.trim_start_matches('/'));
        std::fs::create_dir_all(env.parent().expect("parent")).expect("mkdir");
        std::fs::write(&env, written_file(user_data, BOOT_ENV_PATH)).expect("env");
        // The volume "appears": the script waits for its device path.
        let device = root.join(DEVICE.trim_start_matches('/'));
        std::fs::create_dir_all(device.parent().expect("parent")).expect("mkdir");
        std::fs::write(&device, "").expect("device");
        std::fs::write(dir.path().join("boot.sh"), BOOT_SCRIPT).expect("script");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let log = dir.path().join("commands.log");
        for name in STAND_INS {
            let exit = if name == "blkid" { 2 } else { 0 };
            let script = format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit {exit}\n",
                log.display()
            );
            let path = bin.join(name);
            std::fs::write(&path, script).expect("stand-in");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub(crate) fn path(&self, absolute: &str) -> PathBuf {
        self.root().join(absolute.trim_start_matches('/'))
    }

    fn path_env(&self) -> String {
        let system = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        format!("{}:{system}", self.dir.path().join("bin").display())
    }

    fn boot(&self) -> Output {
        self.command().output().expect("sh runs")
    }

    /// The boot script's command, ready to run.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new("sh");
        command
            .arg(self.dir.path().join("boot.sh"))
            .arg(self.path(BOOT_ENV_PATH))
            .env("SAM_BOOT_ROOT", self.root())
            .env("PATH", self.path_env());
        command
    }

    fn commands(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("commands.log")).unwrap_or_default()
    }

    pub(crate) fn read(&self, absolute: &str) -> String {
        std::fs::read_to_string(self.path(absolute))
            .unwrap_or_else(|err| panic!("{absolute}: {err}"))
    }
}

pub(crate) fn describe(output: &Output, root: &BootRoot) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}\ncommands:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        root.commands()
    )
}

#[test]
fn the_boot_script_installs_and_starts_a_verified_agent() {
    let url = serve(FAKE_AGENT);
    let boot = BootRoot::new(&generate(Some(&url), &sha256_hex(FAKE_AGENT), &[]));
    let output = boot.boot();
    let report = describe(&output, &boot);
    assert!(output.status.success(), "{report}");

    // Every phase logged one `ok` line, to stdout and to the log file, in order.
    let phases = [
        "read-config",
        "download-agent",
        "verify-agent",
        "install-agent",
        "mount-workspace",
        "block-metadata",
        "ssh",
        "arm-backstop",
        "start-agent",
        "done",
    ];
    let log = boot.read("/var/log/sam-boot.log");
    let logged: Vec<&str> = log
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("sam-boot: ").expect("prefixed");
            let (phase, result) = rest.split_once(": ").expect("phase: result");
            assert!(result.starts_with("ok"), "{line}");
            phase
        })
        .collect();
    assert_eq!(logged, phases, "{report}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), log);

    let agent = boot.path("/usr/local/bin/sam-agent");
    assert_eq!(std::fs::read(&agent).expect("installed"), FAKE_AGENT);
    let mode = std::fs::metadata(&agent)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);

    let root = boot.root().display().to_string();
    let commands = boot.commands();
    for expected in [
        format!(
            "setcap cap_net_bind_service,cap_setuid,cap_setgid,cap_chown,cap_dac_override,cap_fowner,cap_kill=ep {root}/usr/local/bin/sam-agent"
        ),
        format!("blkid -o value -s TYPE {DEVICE}"),
        format!("mkfs.ext4 -q -L sam-workspace {DEVICE}"),
        format!("mount {root}/workspace"),
        format!("chown dev:dev {root}/workspace"),
        "systemctl enable --now sam-metadata-block.service".to_owned(),
        "systemctl disable --now ssh.service ssh.socket".to_owned(),
        format!(
            "chown sam-agent:sam-agent {root}/var/lib/sam-agent {root}/var/lib/sam-agent/active"
        ),
        "systemctl enable --now sam-poweroff.path sam-backstop.timer".to_owned(),
        "systemctl enable --now sam-agent.service".to_owned(),
    ] {
        assert!(
            commands.lines().any(|line| line == expected),
            "missing `{expected}`\n{report}"
        );
    }
    assert_eq!(
        boot.read("/etc/fstab"),
        format!("{DEVICE} /workspace ext4 defaults,nofail,discard 0 2\n")
    );
    let rule = boot.read("/usr/local/lib/sam-agent/metadata.nft");
    assert!(
        rule.contains(r#"ip daddr 169.254.169.254 meta skuid != "sam-agent" reject"#),
        "{rule}"
    );
    let unit = boot.read("/etc/systemd/system/sam-agent.service");
    for line in [
        "User=sam-agent",
        "ExecStart=/usr/local/bin/sam-agent --config /etc/sam-agent/config.json",
        "Restart=always",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    assert!(
        boot.read("/etc/systemd/system/sam-backstop.service")
            .contains(
                "ExecStart=/usr/local/lib/sam-agent/backstop-check /var/lib/sam-agent/active 2100"
            )
    );
    assert!(
        boot.read("/etc/systemd/system/sam-backstop.timer")
            .contains("OnUnitActiveSec=1min")
    );
    let state = std::fs::metadata(boot.path("/var/lib/sam-agent")).expect("state dir");
    assert_eq!(state.permissions().mode() & 0o777, 0o700);
    assert!(boot.path("/var/lib/sam-agent/active").is_file());
}

#[test]
fn the_boot_script_refuses_an_agent_with_the_wrong_checksum() {
    let url = serve(FAKE_AGENT);
    let wrong = sha256_hex(b"some other binary");
    let boot = BootRoot::new(&generate(Some(&url), &wrong, &[]));
    let output = boot.boot();
    let report = describe(&output, &boot);
    assert!(!output.status.success(), "{report}");
    let expected = format!(
        "sam-boot: verify-agent: FAILED: checksum mismatch (expected {wrong}, got {})",
        sha256_hex(FAKE_AGENT)
    );
    let log = boot.read("/var/log/sam-boot.log");
    assert_eq!(log.lines().last(), Some(expected.as_str()), "{report}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&expected),
        "{report}"
    );
    assert!(
        !boot.path("/usr/local/bin/sam-agent").exists(),
        "installed anyway"
    );
    assert!(!boot.path("/var/lib/sam-boot/sam-agent.download").exists());
    assert!(!boot.commands().contains("systemctl"), "{report}");
}

#[test]
fn the_backstop_check_powers_off_only_after_the_idle_limit() {
    let url = serve(FAKE_AGENT);
    let boot = BootRoot::new(&generate(Some(&url), &sha256_hex(FAKE_AGENT), &[]));
    let output = boot.boot();
    assert!(output.status.success(), "{}", describe(&output, &boot));
    let check = boot.path("/usr/local/lib/sam-agent/backstop-check");
    let stamp = boot.path("/var/lib/sam-agent/active");
    let run = |stamp: &Path| {
        let output = Command::new(&check)
            .arg(stamp)
            .arg("2100")
            .env("PATH", boot.path_env())
            .output()
            .expect("check runs");
        assert!(output.status.success(), "{}", describe(&output, &boot));
        boot.commands().matches("systemctl poweroff").count()
    };
    assert_eq!(run(&stamp), 0, "a fresh stamp keeps the server on");
    let status = Command::new("touch")
        .args(["-d", "2101 seconds ago"])
        .arg(&stamp)
        .status()
        .expect("touch");
    assert!(status.success());
    assert_eq!(run(&stamp), 1, "an old stamp powers off");
    assert_eq!(
        run(&boot.root().join("missing")),
        2,
        "a missing stamp powers off"
    );
}
