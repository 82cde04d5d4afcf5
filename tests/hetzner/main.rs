//! SAM's Hetzner client against the fake Hetzner Cloud (`tests/fake-hetzner`): every verb and
//! error class, adoption after a retried create, capacity fallback, the rate-limit budget,
//! retries, and a server that boots the real agent.

mod client;
mod contract;
mod fake;

use std::collections::BTreeMap;
use std::time::Duration;

use fake_hetzner::{FakeHetzner, Options};
use sam_desktop::core::provider::hetzner::api::{Created, LABEL_MANAGED, LABEL_WORKSPACE};
use sam_desktop::core::provider::hetzner::client::{ClientOptions, HetznerClient};
use sam_desktop::core::provider::hetzner::model::{CreateServer, CreatedServer, Labels};
use sam_desktop::core::redact::Secret;
use tempfile::TempDir;

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
