//! What the user chooses and sees on Hetzner, through the lifecycle against the fake: the
//! preferences are checked against the catalogue, saved and tried in order, a workspace's own
//! choice first; a bad placement is refused before anything is recorded; the workspace page's
//! details (server, location, address, cost so far); and only resources the reconciler listed
//! can be deleted (another installation's only when the user says so).

use std::collections::BTreeMap;

use sam_core::error::ErrorCategory;
use sam_core::provider::Placement;
use sam_core::provider::hetzner::api::{LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE};
use sam_core::provider::hetzner::catalog::Preferences;
use sam_core::store::OperationKind;
use sam_core::workspace::WorkspaceStatus;

use super::cloud;
use super::lifecycle::{create_request, hetzner_core, running_workspace};

fn place(server_type: &str, location: &str) -> Placement {
    Placement {
        server_type: server_type.to_owned(),
        location: location.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_are_checked_saved_and_tried_in_order_after_a_workspace_s_own_choice() {
    let cloud = cloud().await;
    let core = hetzner_core(&cloud, "choices-test");
    let lifecycle = core.workspaces();
    assert_eq!(
        core.hetzner().preferences().expect("defaults"),
        Preferences::default()
    );

    let unknown = Preferences {
        locations: vec!["mars1".into()],
        server_types: vec!["cx23".into()],
    };
    let err = core
        .hetzner()
        .set_preferences(&unknown)
        .await
        .expect_err("refused");
    assert_eq!(err.category, ErrorCategory::InvalidInput);
    assert!(
        err.next_step.contains("fsn1"),
        "lists the real ones: {err:?}"
    );

    let chosen = Preferences {
        locations: vec!["hel1".into(), "fsn1".into()],
        server_types: vec!["cx33".into(), "cx23".into()],
    };
    core.hetzner()
        .set_preferences(&chosen)
        .await
        .expect("saved");
    assert_eq!(core.hetzner().preferences().expect("read"), chosen);

    // A bad choice in the create dialog or on the command line is refused up front.
    let repo = sam_test_support::source_repo(cloud.dir.path());
    let mut request = create_request(repo.clone());
    request.placement = Some(place("cx23", "mars1"));
    let err = lifecycle
        .check_placement(&request)
        .await
        .expect_err("refused");
    assert!(err.message.contains("mars1"), "{err:?}");

    // No choice: the first preference.
    let (by_preference, operation) = lifecycle
        .begin_create(&create_request(repo.clone()))
        .expect("begun");
    lifecycle.run(operation).await.expect("created");
    // Its own choice first.
    request.placement = Some(place("cx23", "nbg1"));
    lifecycle.check_placement(&request).await.expect("offered");
    let (by_choice, operation) = lifecycle.begin_create(&request).expect("begun");
    assert_eq!(by_choice.placement, Some(place("cx23", "nbg1")), "recorded");
    lifecycle.run(operation).await.expect("created");

    for (workspace, server_type, location) in [
        (&by_preference, "cx33", "hel1"),
        (&by_choice, "cx23", "nbg1"),
    ] {
        let server = cloud
            .client
            .server_named(&format!("sam-{}", workspace.id))
            .await
            .expect("get")
            .expect("a server");
        assert_eq!(
            (
                server.server_type.name.as_str(),
                server.location.name.as_str()
            ),
            (server_type, location)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_page_shows_server_location_address_and_cost() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "details-test").await;
    let lifecycle = core.workspaces();

    let details = lifecycle
        .machine_details(&workspace.id)
        .await
        .expect("details")
        .expect("a Hetzner machine");
    let name = format!("sam-{}", workspace.id);
    assert_eq!(
        details.fact("server"),
        Some(format!("{name} (cx23)").as_str())
    );
    assert_eq!(details.fact("location"), Some("fsn1"));
    assert!(
        details
            .fact("ip")
            .is_some_and(|ip| ip.starts_with("127.0.0.")),
        "{details:?}"
    );
    assert_eq!(details.fact("disk"), Some("20 GB, kept while stopped"));
    let cost = details.cost.clone().expect("a cost");
    assert_eq!(cost.currency, "EUR");
    let hourly = cost.hourly_centicents.expect("an hourly price");
    let so_far = cost.so_far_centicents.expect("a cost so far");
    // One started hour of server and address, plus an hour of the disk.
    assert!(so_far > hourly, "{details:?}");
    assert!(cost.monthly_centicents.expect("monthly") > so_far);

    // Stopped: no server, the disk (and its location) still there.
    let operation = lifecycle
        .begin(&workspace.id, OperationKind::Stop)
        .expect("stop begun");
    let stopped = lifecycle
        .run(operation)
        .await
        .expect("stopped")
        .expect("ws");
    assert_eq!(stopped.status, WorkspaceStatus::Stopped);
    let details = lifecycle
        .machine_details(&workspace.id)
        .await
        .expect("details")
        .expect("the disk");
    assert_eq!(
        details.fact("server"),
        Some("none while stopped — nothing is billed for compute")
    );
    assert_eq!(
        details.cost.as_ref().expect("a cost").hourly_centicents,
        None
    );
    assert_eq!(details.fact("location"), Some("fsn1"));
    assert_eq!(details.fact("disk"), Some("20 GB, kept while stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_the_reconciler_listed_is_deleted_and_another_installation_s_only_on_request() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "this-laptop").await;
    let lifecycle = core.workspaces();

    let volume = async |installation: &str, workspace: &str| {
        let labels = BTreeMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_INSTALLATION.to_owned(), installation.to_owned()),
            (LABEL_WORKSPACE.to_owned(), workspace.to_owned()),
        ]);
        cloud
            .client
            .create_volume(&format!("sam-{workspace}"), 10, "fsn1", &labels)
            .await
            .expect("volume")
            .0
            .id
    };
    let forgotten = volume("this-laptop", "forgottenws2").await;
    let theirs = volume("other-laptop", "otherlaptop2").await;

    // Nothing listed yet: nothing may be deleted.
    let err = core
        .hetzner()
        .delete_resource("volume", forgotten, false)
        .await
        .expect_err("not listed yet");
    assert!(err.message.contains("not among"), "{err:?}");

    lifecycle.sweep().await.expect("swept");
    let report = core.hetzner().last_report().expect("report");
    assert_eq!(report.unknown.len(), 1, "{report:?}");
    assert_eq!(report.foreign.len(), 1, "{report:?}");
    assert!(core.hetzner().last_report().is_some());
    let generation = core.hetzner().report_generation();

    // The workspace's own disk is not SAM's to delete from here.
    let own = cloud
        .client
        .volumes(&format!("{LABEL_WORKSPACE}={}", workspace.id))
        .await
        .expect("volumes")[0]
        .id;
    core.hetzner()
        .delete_resource("volume", own, true)
        .await
        .expect_err("a live workspace's disk");
    // Another installation's: only when the user says it is no longer used.
    let err = core
        .hetzner()
        .delete_resource("volume", theirs, false)
        .await
        .expect_err("needs the user's word");
    assert!(err.message.contains("another installation"), "{err:?}");
    core.hetzner()
        .delete_resource("volume", theirs, true)
        .await
        .expect("deleted on request");
    core.hetzner()
        .delete_resource("volume", forgotten, false)
        .await
        .expect("deleted");
    assert!(
        core.hetzner().report_generation() > generation,
        "the window is told"
    );

    let left: Vec<String> = cloud
        .client
        .volumes(&format!("{LABEL_MANAGED}=true"))
        .await
        .expect("volumes")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(left, vec![format!("sam-{}", workspace.id)]);
    lifecycle.sweep().await.expect("swept");
    let report = core.hetzner().last_report().expect("report");
    assert!(
        report.unknown.is_empty() && report.foreign.is_empty(),
        "{report:?}"
    );
}
