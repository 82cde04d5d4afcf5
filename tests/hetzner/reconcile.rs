//! The reconciler against the fake: this installation's leftovers are "not known to SAM", other
//! installations' resources are listed apart, unlabelled ones never appear, records whose
//! server vanished are named — each with what it costs.

use std::collections::BTreeSet;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::provider::hetzner::reconcile::reconcile;
use sam_core::provider::{MachineSpec, Provider};
use sam_core::redact::Secret;
use sam_core::workspace::WorkspaceId;

use super::{WAIT, cloud, fast, provider::agent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_reported_by_owner_with_their_cost() {
    let cloud = cloud().await;
    let client = || {
        Arc::new(HetznerClient::new(Secret::new("t"), fast(cloud.fake.base_url())).expect("client"))
    };
    let provider = |installation: &str| {
        let mut settings = HetznerSettings::new(installation, agent());
        settings.action_timeout = WAIT;
        HetznerProvider::new(client(), settings)
    };
    let key = SigningKey::from_bytes(&[6; 32]);
    let spec = |workspace| MachineSpec {
        workspace,
        public_key: sam_protocol::token::encode_public_key(&key.verifying_key()),
        enrollment_secret: Some(Secret::new("reconcile-enrollment-secret")),
        idle_timeout_secs: None,
        placements: Vec::new(),
    };
    let known: WorkspaceId = "knownwsaaaa2".parse().expect("id");
    let forgotten: WorkspaceId = "forgottena22".parse().expect("id");
    let theirs: WorkspaceId = "otherlaptop2".parse().expect("id");
    let ours = provider("this-laptop");
    ours.provision(&spec(&known)).await.expect("known");
    ours.provision(&spec(&forgotten)).await.expect("forgotten");
    provider("other-laptop")
        .provision(&spec(&theirs))
        .await
        .expect("theirs");
    // Something the user made by hand: never SAM's business.
    client()
        .create_firewall("hand-made", &[], &Default::default())
        .await
        .expect("unlabelled firewall");

    let records = BTreeSet::from([known.clone(), "gonewsaaaaa2".parse().expect("id")]);
    let report = reconcile(
        &client(),
        &client().pricing().await.expect("pricing"),
        "this-laptop",
        &records,
        &records,
    )
    .await
    .expect("report")
    .report;

    let names = |list: &[sam_core::provider::hetzner::reconcile::Resource]| {
        list.iter()
            .map(|r| format!("{} {}", r.kind, r.name))
            .collect::<BTreeSet<_>>()
    };
    let forgotten_name = format!("sam-{forgotten}");
    assert_eq!(
        names(&report.unknown),
        BTreeSet::from([
            format!("firewall {forgotten_name}"),
            format!("server {forgotten_name}"),
            format!("volume {forgotten_name}"),
        ])
    );
    assert_eq!(names(&report.foreign).len(), 3, "{:?}", report.foreign);
    assert!(
        report
            .foreign
            .iter()
            .all(|r| r.installation.as_deref() == Some("other-laptop"))
    );
    assert!(
        !names(&report.unknown)
            .iter()
            .chain(names(&report.foreign).iter())
            .any(|n| n.contains("hand-made"))
    );
    assert_eq!(report.vanished, vec!["gonewsaaaaa2".to_owned()]);
    // Costs: a server's monthly cap plus its IPv4, 20 GB of volume, a free firewall.
    let cost = |kind: &str| {
        report
            .unknown
            .iter()
            .find(|r| r.kind == kind)
            .and_then(|r| r.monthly_centicents)
    };
    assert!(
        cost("server").expect("priced") > 30_000,
        "{:?}",
        cost("server")
    );
    assert!(cost("volume").expect("priced") > 0);
    assert_eq!(cost("firewall"), Some(0));
}
