//! SAM's Hetzner client against the fake Hetzner Cloud (`tests/fake-hetzner`): every verb and
//! error class, adoption after a retried create, capacity fallback, the rate-limit budget,
//! retries, and a server that boots the real agent.

mod account;
mod agents;
mod backstop;
mod chaos;
mod choices;
mod client;
mod contract;
mod credentials;
mod fake;
mod killed;
mod lifecycle;
mod provider;
mod reconcile;
mod ssh_keys;

use std::collections::BTreeMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use fake_hetzner::{FakeHetzner, Options};
use sam_core::agent_client::{AgentClient, AgentEndpoint, Caller, StreamEvent, enroll};
use sam_core::provider::hetzner::api::{Created, LABEL_MANAGED, LABEL_WORKSPACE};
use sam_core::provider::hetzner::client::{ClientOptions, HetznerClient};
use sam_core::provider::hetzner::model::{CreateServer, CreatedServer, Labels};
use sam_core::redact::Secret;
use tempfile::TempDir;

/// How long a fake server may take to answer.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fake project and a client for it, with waits shortened for tests.
#[derive(Debug)]
pub struct Cloud {
    pub fake: FakeHetzner,
    pub client: HetznerClient,
    pub dir: TempDir,
}

/// Client options for tests: the real policy, with millisecond waits.
pub fn fast(endpoint: &str) -> ClientOptions {
    ClientOptions {
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        max_rate_wait: Duration::from_secs(5),
        ..ClientOptions::new(endpoint)
    }
}

/// Starts a fake (adjusted by `configure`) and a client with token `token`.
pub async fn cloud_with(token: &str, configure: impl FnOnce(&mut Options)) -> Cloud {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = Options::new(dir.path().join("fake"));
    options.agent_bin = sam_test_support::binary("sam-agent");
    configure(&mut options);
    let fake = FakeHetzner::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("the fake starts");
    let client = HetznerClient::new(Secret::new(token), fast(fake.base_url())).expect("client");
    Cloud { fake, client, dir }
}

/// A fake with defaults and a client.
pub async fn cloud() -> Cloud {
    cloud_with("test-token", |_| {}).await
}

/// Labels of a SAM workspace's resources.
pub fn labels(workspace: &str) -> Labels {
    BTreeMap::from([
        (LABEL_MANAGED.to_owned(), "true".to_owned()),
        (LABEL_WORKSPACE.to_owned(), workspace.to_owned()),
    ])
}

pub fn request<'a>(
    name: &'a str,
    labels: &'a Labels,
    server_type: &'a str,
    location: &'a str,
) -> CreateServer<'a> {
    CreateServer {
        name,
        server_type,
        image: "debian-12",
        location,
        user_data: "#cloud-config\n{}",
        labels,
        volumes: Vec::new(),
        automount: false,
        firewalls: Vec::new(),
        start_after_create: true,
    }
}

/// Creates a server that must be new.
pub async fn create_new(client: &HetznerClient, request: &CreateServer<'_>) -> CreatedServer {
    match client.create_server(request).await.expect("created") {
        Created::New(created) => *created,
        Created::Adopted(server) => panic!("a new server, not an adopted one: {server:?}"),
    }
}

/// Every agent log and boot error the fake's servers left, for failure messages.
pub fn agent_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir.join("fake")) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        for file in ["agent.log", "boot-error"] {
            if let Ok(text) = std::fs::read_to_string(entry.path().join(file)) {
                out.push_str(&format!("--- {}/{file}\n{text}\n", entry.path().display()));
            }
        }
    }
    out
}

/// Enrolls with the agent at `addr` (retrying while it boots: the port is the only signal) and runs `script` in the
/// workspace; returns when it exited.
pub async fn run_on(
    cloud: &Cloud,
    addr: &str,
    key: &SigningKey,
    workspace: &str,
    secret: &str,
    script: &str,
) {
    let caller = Caller { key, workspace };
    let deadline = tokio::time::Instant::now() + WAIT;
    let pin = loop {
        match enroll(addr, &caller, secret).await {
            Ok(pin) => break pin,
            Err(err) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the agent never answered: {err}\n{}",
                    agent_logs(cloud.dir.path())
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let client = AgentClient::connect(
        AgentEndpoint {
            addr: addr.to_owned(),
            workspace: workspace.to_owned(),
            pin,
        },
        key.clone(),
    );
    client.wait_connected(WAIT).await.expect("connected");
    run_script(&client, script).await;
}

/// Runs `script` with `sh -c` in the workspace through `client` and waits until it exited.
pub async fn run_script(client: &AgentClient, script: &str) {
    let job = client
        .run_job(
            vec!["sh".into(), "-c".into(), script.into()],
            None,
            Default::default(),
        )
        .await
        .expect("job");
    let (mut handle, _) = client.attach(job.stream, 0).await.expect("attached");
    while let Some(event) = handle.next().await {
        if matches!(event, StreamEvent::Exit(_)) {
            return;
        }
    }
}
