//! A Hetzner workspace's whole life in the real window, against the fake Hetzner Cloud: the
//! create dialog shows the price of the chosen server type and location; a create that finds no
//! capacity ends on the error card, and Retry (once there is capacity) brings it up; the page
//! shows the server, its location, address and cost; stop deletes the server and keeps the disk,
//! start brings a new one; a resource SAM does not know is shown with its cost and deleted in one
//! click; deleting the workspace names each resource first and leaves nothing behind.

use std::time::Duration;

use serde_json::json;

use crate::harness::{self, App, until};
use crate::hetzner::{FakeCloud, TOKEN};
use crate::source_repo;

const SLOW: Duration = Duration::from_secs(60);

async fn wait_status(app: &App, status: &str) {
    app.wait_css(&format!("[data-testid='status'].status-{status}"), SLOW)
        .await;
}

#[test]
fn a_hetzner_workspace_is_priced_retried_stopped_restarted_and_deleted_and_an_orphan_removed() {
    let cloud = FakeCloud::start(TOKEN);
    let env = [
        ("HCLOUD_ENDPOINT", cloud.url.as_str()),
        ("HCLOUD_TOKEN", TOKEN),
        // The fake boots its own agent binary; the download is never fetched.
        ("SAM_AGENT_URL", "https://example.com/sam-agent"),
        (
            "SAM_AGENT_SHA256",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("SAM_SWEEP_SECS", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    harness::run_with_env("hetzner-workspace", env, source_repo, async |app, repo| {
        // The dialog prices the default choice (the preferences: fsn1, cx23) before anything
        // is billed.
        app.click("run-local").await;
        app.type_into("repo-url", &repo).await;
        let provider = app.find("provider").await;
        provider
            .select_by_value("hetzner")
            .await
            .expect("Hetzner chosen");
        let price = app.text("price").await;
        assert!(
            price.contains("per hour") && price.contains("per month") && price.contains('€'),
            "{price}"
        );
        let location = app.find("location").await;
        assert_eq!(
            location.prop("value").await.expect("value").as_deref(),
            Some("fsn1")
        );

        // No capacity anywhere at the moment of creating: the error card says so.
        let (status, _) = cloud.request(
            "PUT",
            "/__fake/faults",
            Some(json!({"unavailable": ["@fsn1", "@nbg1", "@hel1"]})),
        );
        assert_eq!(status, 200);
        app.click("create").await;
        app.find("workspace-page").await;
        wait_status(app, "error").await;
        let card = app.text("error-card").await;
        assert!(card.contains("capacity"), "{card}");
        assert!(cloud.names("servers").is_empty(), "nothing billed");

        // Capacity is back: Retry brings the workspace up.
        let (status, _) = cloud.request("PUT", "/__fake/faults", Some(json!({})));
        assert_eq!(status, 200);
        app.click("retry").await;
        wait_status(app, "running").await;
        let servers = cloud.names("servers");
        assert_eq!(servers.len(), 1, "{servers:?}");
        let server = servers[0].clone();
        let machine = until(
            "the machine card",
            async || app.text("machine").await,
            |text| text.contains(&server) && text.contains("127.0.0."),
        )
        .await;
        assert!(machine.contains("fsn1"), "{machine}");
        assert!(machine.contains("so far"), "{machine}");

        // Stop: the server is deleted, the disk kept.
        app.click("action-stop").await;
        wait_status(app, "stopped").await;
        assert!(cloud.names("servers").is_empty());
        assert_eq!(cloud.names("volumes"), vec![server.clone()]);
        // Start: a new server with the same disk.
        app.click("action-start").await;
        wait_status(app, "running").await;
        assert_eq!(cloud.names("servers"), vec![server.clone()]);

        // A Volume with this installation's labels but no workspace: SAM does not know it.
        let (_, listed) = cloud.request("GET", "/v1/servers", None);
        let installation = listed["servers"][0]["labels"]["sam-installation"]
            .as_str()
            .expect("the installation label")
            .to_owned();
        let (status, made) = cloud.request(
            "POST",
            "/v1/volumes",
            Some(json!({
                "name": "sam-forgottenws2",
                "size": 20,
                "location": "fsn1",
                "labels": {
                    "sam-managed": "true",
                    "sam-installation": installation,
                    "sam-workspace": "forgottenws2",
                },
            })),
        );
        assert_eq!(status, 201, "{made}");
        app.click("nav-workspaces").await;
        let banner = until(
            "the sweep's warning",
            async || {
                app.script(
                    "const b = document.querySelector(\"[data-testid='orphans-banner']\"); return b ? b.textContent : '';",
                    vec![],
                )
                .await
                .as_str()
                .unwrap_or_default()
                .to_owned()
            },
            |text| !text.is_empty(),
        )
        .await;
        assert!(
            banner.contains("1 resource ") && banner.contains('€'),
            "{banner}"
        );
        app.click("review-orphans").await;
        let row = app
            .wait_css(
                "[data-testid='resource-row'][data-name='sam-forgottenws2']",
                SLOW,
            )
            .await;
        let text = row.text().await.expect("row text");
        assert!(text.contains("volume") && text.contains('€'), "{text}");
        row.find(fantoccini::Locator::Css("[data-testid='delete-resource']"))
            .await
            .expect("delete button")
            .click()
            .await
            .expect("clicked");
        app.click("confirm-delete-resource").await;
        app.find("no-unknown").await;
        assert_eq!(
            cloud.names("volumes"),
            vec![server.clone()],
            "only the workspace's disk is left"
        );

        // Delete names every resource first, then leaves nothing.
        app.click("nav-workspaces").await;
        app.open_first_workspace().await;
        // What the confirmation lists comes with the machine's details: wait for them (their
        // card also moves the buttons down as it appears, under a click aimed before it did).
        app.find("machine").await;
        app.click("action-delete").await;
        let confirmation = app.text("delete-confirmation").await;
        for named in [
            format!("the server {server}"),
            format!("the disk {server}"),
            format!("the firewall {server}"),
        ] {
            assert!(confirmation.contains(&named), "{named}: {confirmation}");
        }
        app.click("confirm-delete").await;
        until(
            "everything deleted",
            async || {
                (
                    cloud.names("servers"),
                    cloud.names("volumes"),
                    cloud.names("firewalls"),
                )
            },
            |(s, v, f)| s.is_empty() && v.is_empty() && f.is_empty(),
        )
        .await;
    });
}
