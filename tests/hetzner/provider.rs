//! The Hetzner provider against the fake: a workspace's server, Volume and Firewall; stop that
//! deletes the server and keeps the disk; restart in the Volume's location with work intact;
//! capacity fallback that moves a new, empty Volume along; destroy that leaves nothing.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use fake_hetzner::Faults;
use sam_core::agent_release::{AgentDownload, AgentSource};
use sam_core::provider::hetzner::api::Placement;
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::provider::{MachineSpec, MachineStatus, Provider};
use sam_core::redact::Secret;
use sam_core::workspace::WorkspaceId;

use super::{Cloud, WAIT, cloud, fast, run_on};

/// An agent download for the user_data (the fake reads the agent's config, not the binary).
pub fn agent() -> AgentDownload {
    AgentDownload {
        url: "https://example.com/sam-agent".to_owned(),
        sha256: "0".repeat(64),
    }
}

fn provider(cloud: &Cloud, installation: &str) -> HetznerProvider {
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let mut settings = HetznerSettings::new(installation, agent());
    settings.action_timeout = WAIT;
    settings.shutdown_timeout = Duration::from_secs(2);
    HetznerProvider::new(Arc::new(client), settings)
}

fn spec<'a>(workspace: &'a WorkspaceId, key: &SigningKey, secret: &str) -> MachineSpec<'a> {
    MachineSpec {
        workspace,
        public_key: sam_protocol::token::encode_public_key(&key.verifying_key()),
        enrollment_secret: Some(Secret::new(secret)),
        idle_timeout_secs: Some(1800),
        placements: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_keeps_the_disk_restart_finds_the_work_and_destroy_leaves_nothing() {
    let cloud = cloud().await;
    let provider = provider(&cloud, "inst-one");
    let workspace: WorkspaceId = "hzprovidera2".parse().expect("id");
    let key = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(
        provider.status(&workspace).await.expect("status"),
        MachineStatus::Missing
    );

    let machine = provider
        .provision(&spec(&workspace, &key, "first-enrollment-secret"))
        .await
        .expect("created");
    assert_eq!(
        provider.status(&workspace).await.expect("status"),
        MachineStatus::Running
    );
    run_on(
        &cloud,
        &machine.agent_addr,
        &key,
        workspace.as_str(),
        "first-enrollment-secret",
        "echo uncommitted > work.txt",
    )
    .await;
    // Provisioning again adopts the running server.
    let again = provider
        .provision(&spec(&workspace, &key, "unused-enrollment-secret"))
        .await
        .expect("adopted");
    assert_eq!(again.agent_addr, machine.agent_addr);
    assert!(machine.fresh, "made from the spec: enroll it");
    assert!(!again.fresh, "adopted: its agent keeps the pin it has");
    assert_eq!(cloud.fake.servers().len(), 1);

    provider.release(&workspace).await.expect("stopped");
    assert!(
        cloud.fake.servers().is_empty(),
        "the server is deleted: no bill"
    );
    assert_eq!(
        provider.status(&workspace).await.expect("status"),
        MachineStatus::Stopped
    );
    assert_eq!(
        provider.list_owned().await.expect("owned"),
        vec![workspace.clone()]
    );

    // A new server, the same disk: the work is there.
    let restarted = provider
        .provision(&spec(&workspace, &key, "second-enrollment-secret"))
        .await
        .expect("restarted");
    run_on(
        &cloud,
        &restarted.agent_addr,
        &key,
        workspace.as_str(),
        "second-enrollment-secret",
        "cp work.txt seen.txt",
    )
    .await;
    let disk = cloud.fake.volume_dir("sam-hzprovidera2").expect("the disk");
    assert_eq!(
        std::fs::read_to_string(disk.join("seen.txt")).expect("copied"),
        "uncommitted\n"
    );

    provider.destroy(&workspace).await.expect("destroyed");
    assert_eq!(
        provider.status(&workspace).await.expect("status"),
        MachineStatus::Missing
    );
    assert!(provider.list_owned().await.expect("owned").is_empty());
    assert!(cloud.fake.servers().is_empty());
    // Another installation's view is separate (labels): it never saw any of it.
    assert!(
        self::provider(&cloud, "inst-two")
            .list_owned()
            .await
            .expect("owned")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_fallback_moves_a_new_disk_but_a_restart_stays_with_its_disk() {
    let cloud = cloud().await;
    let provider = provider(&cloud, "inst-three");
    let workspace: WorkspaceId = "hzfallbacka2".parse().expect("id");
    let key = SigningKey::from_bytes(&[3; 32]);
    cloud.fake.set_faults(Faults {
        unavailable: vec!["@fsn1".to_owned()],
        ..Faults::default()
    });
    provider
        .provision(&spec(&workspace, &key, "fallback-enrollment-secret"))
        .await
        .expect("placed");
    let client = HetznerClient::new(Secret::new("t"), fast(cloud.fake.base_url())).expect("client");
    let volumes = client
        .volumes("sam-workspace=hzfallbacka2")
        .await
        .expect("volumes");
    assert_eq!(
        volumes.len(),
        1,
        "the disk made for fsn1 was deleted, not left behind"
    );
    assert_eq!(volumes[0].location.name, "nbg1");
    provider.release(&workspace).await.expect("stopped");

    // nbg1 is full now: the disk cannot move, so the restart says so rather than landing elsewhere.
    cloud.fake.set_faults(Faults {
        unavailable: vec!["@nbg1".to_owned()],
        ..Faults::default()
    });
    let err = provider
        .provision(&spec(&workspace, &key, "another-enrollment-secret"))
        .await
        .expect_err("no capacity");
    assert_eq!(
        err.category,
        sam_core::error::ErrorCategory::Capacity,
        "{err:?}"
    );
    assert!(cloud.fake.servers().is_empty());

    // Preferences with nothing in the disk's location are a configuration error.
    let mut settings = HetznerSettings::new("inst-three", agent());
    settings.placements = vec![Placement {
        server_type: "cx23".to_owned(),
        location: "hel1".to_owned(),
    }];
    let only_hel1 = HetznerProvider::new(Arc::new(client), settings);
    let err = only_hel1
        .provision(&spec(&workspace, &key, "third-enrollment-secret"))
        .await
        .expect_err("elsewhere");
    assert_eq!(
        err.category,
        sam_core::error::ErrorCategory::Configuration,
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_server_types_are_used_only_with_an_arm_agent() {
    let cloud = cloud().await;
    let workspace: WorkspaceId = "hzarmskipa22".parse().expect("id");
    let key = SigningKey::from_bytes(&[4; 32]);
    let placements = vec![
        Placement {
            server_type: "cax11".to_owned(),
            location: "fsn1".to_owned(),
        },
        Placement {
            server_type: "cx23".to_owned(),
            location: "fsn1".to_owned(),
        },
    ];
    let client = || {
        Arc::new(HetznerClient::new(Secret::new("t"), fast(cloud.fake.base_url())).expect("client"))
    };
    let mut settings = HetznerSettings::new("inst-arm", agent());
    settings.placements = placements.clone();
    settings.action_timeout = WAIT;
    HetznerProvider::new(client(), settings.clone())
        .provision(&spec(&workspace, &key, "x86-enrollment-secret"))
        .await
        .expect("placed");
    let servers = client()
        .servers("sam-workspace=hzarmskipa22")
        .await
        .expect("servers");
    assert_eq!(
        servers[0].server_type.name, "cx23",
        "no arm agent: cax11 skipped"
    );
    HetznerProvider::new(client(), settings.clone())
        .destroy(&workspace)
        .await
        .expect("destroyed");

    settings.arm_agent = Some(AgentSource::Download(agent()));
    HetznerProvider::new(client(), settings)
        .provision(&spec(&workspace, &key, "arm-enrollment-secret"))
        .await
        .expect("placed");
    let servers = client()
        .servers("sam-workspace=hzarmskipa22")
        .await
        .expect("servers");
    assert_eq!(
        servers[0].server_type.name, "cax11",
        "with an arm agent, the first preference"
    );
}
