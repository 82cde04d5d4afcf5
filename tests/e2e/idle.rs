//! The idle policy in the real window with a real notification daemon (dunst, started by
//! `scripts/lib/in-session.sh` with a menu command this test steers): a workspace set to stop
//! after 5 minutes is warned at once, on its page and as a desktop notification offering "Keep
//! running 1 h" and "Stop now"; "Keep running 1 h" on the page and in the notification each move
//! the deadline; clicking the notification opens the workspace; "do not disturb" keeps
//! notifications away while the page still warns.

use std::time::Duration;

use crate::dunst::{pick_from_notification, read};
use crate::harness::{self, App, until};
use crate::source_repo;

const WARNING: Duration = Duration::from_secs(30);

/// What dunst received about workspace `name`'s idleness: one line per notification.
fn idle_warnings_received(name: &str) -> usize {
    let summary = format!("{name} is idle and will stop soon");
    read("received")
        .lines()
        .filter(|line| line.contains(&summary))
        .count()
}

/// Waits until dunst has received `count` idle warnings about workspace `name`.
async fn on_the_desktop(name: &str, count: usize) {
    until(
        &format!("idle warning {count} reaches the notification daemon"),
        async || idle_warnings_received(name),
        |received| *received >= count,
    )
    .await;
}

/// Sets the page's idle timeout to never and then to 5 minutes: a fresh deadline, warned at once.
async fn idle_for_five_minutes(app: &App) {
    let select = app.find("idle-timeout").await;
    select.select_by_value("never").await.expect("never");
    app.wait_css(
        "[data-testid='idle-timeout'] option[value='never']:checked",
        WARNING,
    )
    .await;
    let select = app.find("idle-timeout").await;
    select.select_by_value("5").await.expect("5 minutes");
}

async fn warned(app: &App) {
    app.wait_css("[data-testid='idle-warning']", WARNING).await;
}

async fn kept(app: &App) {
    let kept = app.wait_css("[data-testid='idle-kept']", WARNING).await;
    let text = kept.text().await.expect("text");
    assert!(text.contains("Kept running until"), "{text}");
    assert!(
        app.all_css("[data-testid='idle-warning']").await.is_empty(),
        "the warning is gone"
    );
}

#[test]
fn an_idle_workspace_is_warned_on_its_page_and_by_notification_and_kept_running_from_both() {
    let env = vec![("SAM_IDLE_TICK_SECS".to_owned(), "1".to_owned())];
    harness::run_with_env("idle", env, source_repo, async |app, repo| {
        app.create_local_workspace(&repo).await;
        let name = app.text("workspace-name").await;

        // From the page: warned at once (5 min is within the warning's 5 min), kept running.
        idle_for_five_minutes(app).await;
        warned(app).await;
        let warning = app.text("idle-warning").await;
        assert!(warning.contains("unless you keep it running"), "{warning}");
        app.click("idle-keep-running").await;
        kept(app).await;

        // From the notification: a fresh deadline warns again, on the page and on the desktop,
        // with both actions offered; "Keep running 1 h" there moves the deadline.
        idle_for_five_minutes(app).await;
        warned(app).await;
        on_the_desktop(&name, 2).await;
        pick_from_notification(&format!("#Keep running 1 h ({name} is idle"));
        kept(app).await;
        let offered = read("offered");
        for action in ["#Keep running 1 h (", "#Stop now (", "#Open ("] {
            assert!(
                offered.contains(&format!("{action}{name} is idle")),
                "{action} offered: {offered}"
            );
        }

        // Clicking a notification opens its workspace, from wherever the window is.
        idle_for_five_minutes(app).await;
        warned(app).await;
        on_the_desktop(&name, 3).await;
        app.click("nav-workspaces").await;
        app.find("workspace-list").await;
        pick_from_notification(&format!("#Open ({name} is idle"));
        let shown = app.text("workspace-name").await;
        assert_eq!(shown, name);

        // Do not disturb: the page warns, the desktop hears nothing.
        app.click("nav-hetzner").await;
        app.click("do-not-disturb").await;
        // Read back from the core (the checkbox ticks itself on click).
        app.click("nav-workspaces").await;
        app.click("nav-hetzner").await;
        app.wait_css("[data-testid='do-not-disturb']:checked", WARNING)
            .await;
        let before = idle_warnings_received(&name);
        app.click("nav-workspaces").await;
        app.open_first_workspace().await;
        idle_for_five_minutes(app).await;
        warned(app).await;
        until(
            "the app logs the notification it held back",
            async || logged(app, "not shown: do not disturb"),
            |found| *found,
        )
        .await;
        assert_eq!(
            idle_warnings_received(&name),
            before,
            "nothing reached dunst"
        );
    });
}

/// Whether the app's log has a line containing `text`.
fn logged(app: &App, text: &str) -> bool {
    let logs = app.home().join("data").join("logs");
    std::fs::read_dir(logs)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .any(|log| log.contains(text))
}
