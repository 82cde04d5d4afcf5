//! Starting real agents for tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use sam_core::agent_client::{
    AgentClient, AgentEndpoint, Caller, PtySize, StreamEvent, StreamHandle, StreamInfo, enroll,
};
use sam_test_support::binary;
use tempfile::TempDir;

/// Where a test agent keeps things, kept across restarts.
pub struct TestAgent {
    pub child: Child,
    pub addr: String,
    pub fingerprint: String,
    pub dir: TempDir,
    pub workspace: String,
    pub secret: String,
    pub key: SigningKey,
    extra: Vec<String>,
}

pub const WORKSPACE: &str = "abcdefghijkm";

impl TestAgent {
    /// A fresh agent with its own folders and a random port.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("workspace")).expect("workspace");
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random");
        let mut agent = Self {
            child: Command::new("true").spawn().expect("placeholder"),
            addr: "127.0.0.1:0".to_owned(),
            fingerprint: String::new(),
            dir,
            workspace: WORKSPACE.to_owned(),
            secret: format!("secret-{}", hex(&seed[..16])),
            key: SigningKey::from_bytes(&seed),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        agent.spawn();
        agent
    }

    pub fn workspace_root(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    fn spawn(&mut self) {
        let _ = self.child.wait();
        let public = sam_protocol::token::encode_public_key(&self.key.verifying_key());
        let mut child = Command::new(binary("sam-agent"))
            .arg(format!("--listen={}", self.addr))
            .arg(format!("--public-key={public}"))
            .arg(format!("--workspace-id={}", self.workspace))
            .arg("--workspace-root")
            .arg(self.workspace_root())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg(format!("--enrollment-secret={}", self.secret))
            .args(&self.extra)
            // A default the test's own flags may override.
            .env("SAM_AGENT_BACKSTOP", "none")
            .env("SHELL", "/bin/sh")
            .env("SAM_AGENT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agent starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("announcement");
        let announcement: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|err| panic!("{line:?}: {err}"));
        self.addr = announcement["addr"].as_str().expect("addr").to_owned();
        self.fingerprint = announcement["fingerprint"]
            .as_str()
            .expect("fingerprint")
            .to_owned();
        self.child = child;
    }

    /// SIGKILLs the agent and starts it again on the same address with the same state.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        self.spawn();
    }

    /// Waits (bounded) for the agent process to exit by itself and returns its exit code.
    pub async fn wait_for_exit(&mut self) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent did not exit"
            );
            // No exit event exists for a child we don't reap on another thread; poll briefly.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn caller(&self) -> Caller<'_> {
        Caller {
            key: &self.key,
            workspace: &self.workspace,
        }
    }

    /// Enrolls, checks the pin against what the agent printed, and connects.
    pub async fn client(&self) -> AgentClient {
        let pin = self.enroll().await;
        self.connect(&pin).await
    }

    /// Enrolls and checks the pin against what the agent printed.
    pub async fn enroll(&self) -> String {
        let pin = enroll(&self.addr, &self.caller(), &self.secret)
            .await
            .expect("enrollment");
        assert_eq!(pin, self.fingerprint);
        pin
    }

    /// Connects with a known pin.
    pub async fn connect(&self, pin: &str) -> AgentClient {
        let endpoint = AgentEndpoint {
            addr: self.addr.clone(),
            workspace: self.workspace.clone(),
            pin: pin.to_owned(),
        };
        let client = AgentClient::connect(endpoint, self.key.clone());
        client
            .wait_connected(Duration::from_secs(10))
            .await
            .expect("connected");
        client
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Output of a stream until `done` says the collected bytes are complete (or the stream exits).
pub async fn read_until(handle: &mut StreamHandle, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(20), async {
        while !done(&out) {
            match handle.next().await {
                Some(StreamEvent::Output { bytes, .. }) => out.extend_from_slice(&bytes),
                Some(StreamEvent::Exit(_)) | Some(StreamEvent::Reset) | None => break,
                Some(StreamEvent::Gap { .. }) => {}
            }
        }
    })
    .await;
    assert!(
        collected.is_ok(),
        "timed out; got {:?}",
        String::from_utf8_lossy(&out)
    );
    out
}

/// Everything a stream prints until it exits, and its exit status.
pub async fn read_to_exit(
    handle: &mut StreamHandle,
) -> (Vec<u8>, sam_core::agent_client::ExitStatus) {
    let mut out = Vec::new();
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match handle.next().await {
                Some(StreamEvent::Output { bytes, .. }) => out.extend_from_slice(&bytes),
                Some(StreamEvent::Exit(status)) => return status,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("the stream exits in time");
    (out, status)
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Waits (bounded) for a file to appear; the agent creates it from a command it runs.
pub async fn wait_for_file(path: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `/bin/sh` terminal, attached, after it has run `command` and printed `expect`.
pub async fn shell_after(
    client: &AgentClient,
    command: &str,
    expect: &str,
) -> (StreamHandle, StreamInfo) {
    let info = client
        .open_pty(
            Some(vec!["/bin/sh".into()]),
            None,
            Default::default(),
            PtySize { cols: 80, rows: 24 },
        )
        .await
        .expect("opens a terminal");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    term.write(format!("{command}\n").as_bytes(), true);
    read_until(&mut term, |out| contains(out, expect)).await;
    (term, info)
}
