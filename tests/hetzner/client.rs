//! The client's verbs and error classes against the fake.

use std::time::Duration;

use fake_hetzner::Faults;
use sam_core::error::ErrorCategory;
use sam_core::provider::hetzner::api::{Created, Placement, Power};
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::error::HetznerError;
use sam_core::provider::hetzner::model::{Architecture, FirewallRef, FirewallRule, ServerStatus};
use sam_core::redact::Secret;

use super::{WAIT, cloud, cloud_with, create_new, fast, labels, request};

#[tokio::test]
async fn the_catalogue_and_prices_parse() {
    let cloud = cloud().await;
    let locations = cloud.client.locations().await.expect("locations");
    assert!(
        locations
            .iter()
            .any(|l| l.name == "fsn1" && l.network_zone == "eu-central")
    );
    let types = cloud.client.server_types().await.expect("server types");
    let cx23 = types.iter().find(|t| t.name == "cx23").expect("cx23");
    assert_eq!(cx23.architecture, Architecture::X86);
    assert!(cx23.locations.iter().all(|l| l.available));
    let images = cloud.client.system_images("x86").await.expect("images");
    assert!(images.iter().all(|i| i.architecture == Architecture::X86));
    assert!(
        images
            .iter()
            .any(|i| i.name.as_deref() == Some("debian-12"))
    );
    let pricing = cloud.client.pricing().await.expect("pricing");
    assert_eq!(pricing.currency, "EUR");
    let fsn1 = pricing.server("cx23", "fsn1").expect("cx23 in fsn1");
    // Hourly prices add up to about the monthly cap (Hetzner's month is capped near 672 h).
    let hourly = fsn1.price_hourly.gross_centicents().expect("decimal");
    let monthly = fsn1.price_monthly.gross_centicents().expect("decimal");
    assert!(
        (600..=744).contains(&(monthly / hourly)),
        "{hourly} {monthly}"
    );
    assert!(
        pricing.server("cx23", "ash").is_none(),
        "cx23 is not offered in Ashburn"
    );
    assert!(
        pricing
            .ipv4("fsn1")
            .expect("IPv4 price")
            .price_monthly
            .gross_centicents()
            > Some(0)
    );
    assert!(fsn1.price_hourly.gross_centicents().expect("decimal") > 0);
    assert!(
        pricing
            .volume
            .price_per_gb_month
            .gross_centicents()
            .expect("decimal")
            > 0
    );
}

#[tokio::test]
async fn servers_are_created_listed_powered_and_deleted() {
    let cloud = cloud().await;
    let mine = labels("ws-one");
    let created = create_new(&cloud.client, &request("sam-ws-one", &mine, "cx23", "fsn1")).await;
    assert!(
        created.server.id > i64::from(i32::MAX),
        "ids beyond 32 bits"
    );
    cloud
        .client
        .wait(&created.action, WAIT)
        .await
        .expect("create_server");
    cloud
        .client
        .wait_all(&created.next_actions, WAIT)
        .await
        .expect("start_server");
    let listed = cloud
        .client
        .servers("sam-managed=true,sam-workspace=ws-one")
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, ServerStatus::Running);
    assert!(
        cloud
            .client
            .servers("sam-workspace=other")
            .await
            .expect("list")
            .is_empty()
    );

    let shutdown = cloud
        .client
        .power(created.server.id, Power::Shutdown)
        .await
        .expect("shutdown");
    cloud.client.wait(&shutdown, WAIT).await.expect("shut down");
    let server = cloud
        .client
        .server(created.server.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(server.status, ServerStatus::Off);

    let delete = cloud
        .client
        .delete_server(created.server.id)
        .await
        .expect("delete");
    cloud
        .client
        .wait(&delete.expect("an action"), WAIT)
        .await
        .expect("deleted");
    assert!(
        cloud
            .client
            .server(created.server.id)
            .await
            .expect("get")
            .is_none()
    );
    // Deleting what is gone is not an error.
    assert!(
        cloud
            .client
            .delete_server(created.server.id)
            .await
            .expect("gone")
            .is_none()
    );
}

#[tokio::test]
async fn volumes_and_firewalls_follow_the_api_rules() {
    let cloud = cloud().await;
    let mine = labels("ws-two");
    let (volume, action) = cloud
        .client
        .create_volume("sam-ws-two", 10, "fsn1", &mine)
        .await
        .expect("volume");
    cloud.client.wait(&action, WAIT).await.expect("created");
    assert!(volume.linux_device.ends_with(&volume.id.to_string()));
    let rules = [FirewallRule {
        direction: "in",
        protocol: "tcp",
        port: "443".to_owned(),
        source_ips: vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()],
        description: "SAM agent".to_owned(),
    }];
    let firewall = cloud
        .client
        .create_firewall("sam-ws-two", &rules, &mine)
        .await
        .expect("firewall");
    let mut create = request("sam-ws-two", &mine, "cx23", "fsn1");
    create.volumes = vec![volume.id];
    create.firewalls = vec![FirewallRef {
        firewall: firewall.id,
    }];
    let created = create_new(&cloud.client, &create).await;
    cloud
        .client
        .wait_all(&created.next_actions, WAIT)
        .await
        .expect("attached");
    assert_eq!(created.server.volumes, vec![volume.id]);

    // An applied firewall and an attached volume cannot be deleted.
    let err = cloud
        .client
        .delete_firewall(firewall.id)
        .await
        .expect_err("in use");
    assert_eq!(err.code(), Some("resource_in_use"));
    let err = cloud
        .client
        .delete_volume(volume.id)
        .await
        .expect_err("attached");
    assert_eq!(err.code(), Some("volume_already_attached"));

    let delete = cloud
        .client
        .delete_server(created.server.id)
        .await
        .expect("delete");
    cloud
        .client
        .wait(&delete.expect("action"), WAIT)
        .await
        .expect("deleted");
    // The server's deletion detached both; the volume survived it.
    let volumes = cloud
        .client
        .volumes("sam-workspace=ws-two")
        .await
        .expect("volumes");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].server, None);
    cloud
        .client
        .delete_firewall(firewall.id)
        .await
        .expect("firewall deleted");
    cloud
        .client
        .delete_volume(volume.id)
        .await
        .expect("volume deleted");
    assert!(
        cloud
            .client
            .volumes("sam-workspace=ws-two")
            .await
            .expect("volumes")
            .is_empty()
    );
    assert!(
        cloud
            .client
            .firewalls("sam-workspace=ws-two")
            .await
            .expect("firewalls")
            .is_empty()
    );
}

#[tokio::test]
async fn a_retried_create_adopts_its_own_server_and_never_another() {
    let cloud = cloud().await;
    let mine = labels("ws-three");
    let first = cloud
        .client
        .create_server(&request("sam-ws-three", &mine, "cx23", "fsn1"))
        .await
        .expect("first");
    let second = cloud
        .client
        .create_server(&request("sam-ws-three", &mine, "cx23", "fsn1"))
        .await
        .expect("second");
    let Created::Adopted(adopted) = second else {
        panic!("adopted")
    };
    assert_eq!(adopted.id, first.server().id);
    assert_eq!(
        cloud.fake.servers().len(),
        1,
        "never two servers for one workspace"
    );
    // The same name with another workspace's label is not ours to adopt.
    let theirs = labels("someone-else");
    let err = cloud
        .client
        .create_server(&request("sam-ws-three", &theirs, "cx23", "fsn1"))
        .await
        .expect_err("taken");
    assert_eq!(err.code(), Some("uniqueness_error"));
}

#[tokio::test]
async fn capacity_errors_fall_back_through_the_preferences_in_order() {
    let cloud = cloud().await;
    cloud.fake.set_faults(Faults {
        unavailable: vec!["cx23@fsn1".to_owned(), "@nbg1".to_owned()],
        ..Faults::default()
    });
    let mine = labels("ws-four");
    let placements: Vec<Placement> = [
        ("cx23", "fsn1"),
        ("cx23", "nbg1"),
        ("cx33", "nbg1"),
        ("cx33", "fsn1"),
        ("cx23", "hel1"),
    ]
    .iter()
    .map(|(t, l)| Placement {
        server_type: (*t).to_owned(),
        location: (*l).to_owned(),
    })
    .collect();
    let (created, landed) = cloud
        .client
        .create_server_somewhere(&placements, |p| {
            request("sam-ws-four", &mine, &p.server_type, &p.location)
        })
        .await
        .expect("placed");
    assert_eq!(landed, placements[3]);
    assert_eq!(created.server().server_type.name, "cx33");
    assert_eq!(created.server().location.name, "fsn1");
    // The catalogue shows the stock-out too.
    let types = cloud.client.server_types().await.expect("types");
    let cx23 = types.iter().find(|t| t.name == "cx23").expect("cx23");
    assert!(
        !cx23
            .locations
            .iter()
            .find(|l| l.name == "fsn1")
            .expect("fsn1")
            .available
    );
    // Nowhere left: a capacity error.
    let err = cloud
        .client
        .create_server_somewhere(&placements[..3], |p| {
            request("sam-ws-five", &mine, &p.server_type, &p.location)
        })
        .await
        .expect_err("no capacity");
    assert_eq!(err.to_sam_error().category, ErrorCategory::Capacity);
}

#[tokio::test]
async fn each_error_class_becomes_the_right_category() {
    let cloud = cloud_with("right", |o| {
        o.token = Some("right".to_owned());
        o.read_only_token = Some("reader".to_owned());
    })
    .await;
    let endpoint = cloud.fake.base_url().to_owned();
    let with =
        |token: &str| HetznerClient::new(Secret::new(token), fast(&endpoint)).expect("client");

    let err = with("wrong").locations().await.expect_err("unauthorized");
    assert_eq!(err.code(), Some("unauthorized"));
    assert_eq!(err.to_sam_error().category, ErrorCategory::Credentials);

    let reader = with("reader");
    reader.locations().await.expect("a read-only token reads");
    let mine = labels("ws-six");
    let err = reader
        .create_server(&request("sam-ws-six", &mine, "cx23", "fsn1"))
        .await
        .expect_err("read-only");
    assert_eq!(err.code(), Some("token_readonly"));
    assert_eq!(err.to_sam_error().category, ErrorCategory::Credentials);

    let err = cloud
        .client
        .create_server(&request("not a hostname", &mine, "cx23", "fsn1"))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Some("invalid_input"));
    assert_eq!(err.to_sam_error().category, ErrorCategory::Provider);
    assert!(!err.is_transient());

    let err = cloud
        .client
        .servers("bad selector ((")
        .await
        .expect_err("invalid selector");
    assert_eq!(err.code(), Some("invalid_input"));

    // Transient errors are retried; a run of them longer than the retries is a transient error.
    cloud.fake.set_faults(Faults {
        server_errors: 2,
        ..Faults::default()
    });
    cloud
        .client
        .locations()
        .await
        .expect("retried past two 503s");
    cloud.fake.set_faults(Faults {
        server_errors: 50,
        ..Faults::default()
    });
    let err = cloud.client.locations().await.expect_err("still failing");
    assert!(matches!(err, HetznerError::Api { status: 503, .. }));
    assert_eq!(err.to_sam_error().category, ErrorCategory::Transient);

    // Nobody listening: a network error, transient.
    let nowhere =
        HetznerClient::new(Secret::new("t"), fast("http://127.0.0.1:9/v1")).expect("client");
    let err = nowhere.locations().await.expect_err("no server");
    assert!(matches!(err, HetznerError::Network(_)), "{err:?}");
    assert_eq!(err.to_sam_error().category, ErrorCategory::Transient);
}

#[tokio::test]
async fn failing_and_slow_actions_are_reported() {
    let cloud = cloud().await;
    let mine = labels("ws-seven");
    cloud.fake.set_faults(Faults {
        failing_actions: true,
        ..Faults::default()
    });
    let created = create_new(
        &cloud.client,
        &request("sam-ws-seven", &mine, "cx23", "fsn1"),
    )
    .await;
    let err = cloud
        .client
        .wait(&created.action, WAIT)
        .await
        .expect_err("failed");
    assert!(
        matches!(err, HetznerError::ActionFailed { ref code, .. } if code == "action_failed"),
        "{err:?}"
    );

    cloud.fake.set_faults(Faults {
        action_delay_ms: 60_000,
        ..Faults::default()
    });
    let shutdown = cloud
        .client
        .power(created.server.id, Power::Poweroff)
        .await
        .expect("accepted");
    let err = cloud
        .client
        .wait(&shutdown, Duration::from_millis(200))
        .await
        .expect_err("slow");
    assert!(matches!(err, HetznerError::ActionTimeout { .. }), "{err:?}");
}

#[tokio::test]
async fn a_run_beyond_the_budget_slows_down_instead_of_failing() {
    // A budget of 10 refilled at 20 a second: 40 requests need pacing.
    let cloud = cloud_with("t", |o| {
        o.rate_limit = 10;
        o.refill_per_sec = 20.0;
    })
    .await;
    let mut options = fast(cloud.fake.base_url());
    options.reserve = 3;
    options.retries = 0; // A 429 would fail the run: pacing alone must avoid it.
    let client = HetznerClient::new(Secret::new("t"), options).expect("client");
    for _ in 0..40 {
        client.locations().await.expect("paced, never refused");
    }
    // An injected burst of 429s is waited out.
    cloud.fake.set_faults(Faults {
        rate_limited: 1,
        ..Faults::default()
    });
    cloud
        .client
        .locations()
        .await
        .expect("waited for the budget");
}

#[tokio::test]
async fn a_spent_budget_says_when_to_come_back() {
    let cloud = cloud_with("t", |o| {
        o.rate_limit = 10;
        o.refill_per_sec = 0.01;
    })
    .await;
    let mut options = fast(cloud.fake.base_url());
    options.retries = 0; // The 429 itself is what is under test.
    let client = HetznerClient::new(Secret::new("t"), options).expect("client");
    cloud.fake.set_faults(Faults {
        rate_limited: 1,
        ..Faults::default()
    });
    let err = client.locations().await.expect_err("refused");
    let shown = sam_core::error::SamError::from(err.clone());
    assert_eq!(shown.category, ErrorCategory::Transient, "{err:?}");
    assert!(shown.retryable);
    let after = shown.retry_after_secs.expect("when to come back");
    assert!(after >= 1, "{after}");
}
