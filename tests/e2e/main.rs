//! End-to-end tests: the real app, in its real webview, driven through WebDriver under Xvfb.

mod agents;
mod dunst;
mod github;
mod harness;
mod hetzner;
mod hetzner_workspace;
mod idle;
mod ports;
mod settings;
mod terminal;
mod terminal_desktop;
mod tray;
mod x11;

use sam_core::store::Store;
use sam_core::workspace::{NewWorkspace, ProviderKind, WorkspaceId, WorkspaceStatus};

fn nothing(_: &sam_core::paths::AppPaths) {}

#[test]
fn the_window_opens_on_the_empty_workspace_list() {
    harness::run("empty-state", nothing, async |app| {
        assert_eq!(app.title().await, "SAM");
        let empty = app.text("empty-state").await;
        assert!(empty.contains("git repository"), "{empty}");
        assert!(empty.contains("Hetzner"), "{empty}");
        assert_eq!(app.text("run-local").await, "Run on this computer");
        assert_eq!(app.text("connect-hetzner").await, "Connect Hetzner");
    });
}

#[test]
fn run_on_this_computer_leads_to_the_create_form_which_warns_code_runs_as_you() {
    harness::run("run-local", nothing, async |app| {
        app.click("run-local").await;
        let warning = app.text("runs-as-you").await;
        assert!(warning.contains("runs as you"), "{warning}");
        app.find("repo-url").await;
        app.click("back").await;
        app.find("empty-state").await;
    });
}

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)><b>bold</b>";

#[test]
fn stored_workspaces_are_listed_with_outside_text_shown_as_text() {
    let seed = |paths: &sam_core::paths::AppPaths| {
        let store = Store::open(&paths.database()).expect("store");
        let id = WorkspaceId::generate().expect("id");
        let new = NewWorkspace {
            name: HOSTILE_NAME.to_owned(),
            repo_url: "https://github.com/example/project.git".to_owned(),
            branch: None,
            provider: ProviderKind::Local,
            idle_timeout_secs: None,
            placement: None,
        };
        store.insert_workspace(&id, &new).expect("insert");
        store
            .set_workspace_status(&id, WorkspaceStatus::Running, None)
            .expect("status");
    };
    harness::run("workspace-list", seed, async |app| {
        let list = app.text("workspace-list").await;
        assert!(
            list.contains("https://github.com/example/project.git"),
            "{list}"
        );
        assert!(list.contains("running"), "{list}");
        let name = app.find_css("[data-testid='workspace-row'] .name").await;
        assert_eq!(name.text().await.expect("text"), HOSTILE_NAME);
        assert!(
            app.all_css("[data-testid='workspace-row'] b, [data-testid='workspace-row'] img")
                .await
                .is_empty()
        );
    });
}

/// A git repository next to the app's data folder; its `file://` URL.
pub(crate) fn source_repo(paths: &sam_core::paths::AppPaths) -> String {
    sam_test_support::source_repo(paths.data_dir.parent().expect("home"))
}

/// The folder of the one workspace under the app's data folder.
pub(crate) fn only_workspace_folder(data_dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(data_dir.join("workspaces"))
        .expect("workspaces")
        .next()
        .expect("one")
        .expect("entry")
        .path()
}

const SLOW: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn a_local_workspace_is_created_stopped_started_with_its_files_and_deleted() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with("local-lifecycle", prepare, async |app, (repo, data_dir)| {
        app.create_local_workspace(&repo).await;
        // The status and the log arrive in separate answers: wait for the log's line.
        harness::until(
            "the clone in the log",
            async || app.text("event-log").await,
            |log| log.contains("cloned"),
        )
        .await;

        // Work that is not committed anywhere must survive a stop.
        let folder = only_workspace_folder(&data_dir);
        let scratch = folder.join("repo/scratch.txt");
        std::fs::write(&scratch, "unsaved thoughts").expect("write");

        app.click("action-stop").await;
        app.wait_css("[data-testid='status'].status-stopped", SLOW)
            .await;
        app.click("action-start").await;
        app.wait_css("[data-testid='status'].status-running", SLOW)
            .await;
        assert_eq!(
            std::fs::read_to_string(&scratch).expect("still there"),
            "unsaved thoughts"
        );

        app.click("action-delete").await;
        app.click("confirm-delete").await;
        app.wait_css("[data-testid='empty-state']", SLOW).await;
        assert!(!folder.exists(), "the folder is gone");
    });
}

#[test]
fn a_failed_create_shows_the_error_card_without_a_retry_that_cannot_help() {
    let prepare = |paths: &sam_core::paths::AppPaths| {
        format!(
            "file://{}/no-repository-here",
            paths.data_dir.parent().expect("home").display()
        )
    };
    harness::run_with("failed-create", prepare, async |app, repo| {
        app.click("run-local").await;
        app.type_into("repo-url", &repo).await;
        app.click("create").await;
        let card = app.wait_css("[data-testid='error-card']", SLOW).await;
        let text = card.text().await.expect("text");
        assert!(
            text.contains("WORKSPACE BUILD") || text.contains("Workspace build"),
            "{text}"
        );
        assert!(text.contains("Check the URL"), "{text}");
        // There is no repository at that URL: the core marks the error not retryable, so the
        // card offers no Retry (and no retry count) and says a change is needed first.
        let unavailable = app.text("retry-unavailable").await;
        assert!(unavailable.contains("will not help"), "{unavailable}");
        assert!(
            app.all_css("[data-testid='retry'], [data-testid='retry-count']")
                .await
                .is_empty(),
            "no Retry offered"
        );
        app.click("action-delete").await;
        app.click("confirm-delete").await;
        app.wait_css("[data-testid='empty-state']", SLOW).await;
    });
}

#[test]
fn a_retryable_create_failure_offers_retry_and_counts_it() {
    // Nothing listens on port 1: git cannot connect, which the core calls transient and
    // retryable, so the card offers Retry and counts each one against the core's cap.
    harness::run_with("retried-create", nothing, async |app, ()| {
        app.click("run-local").await;
        app.type_into("repo-url", "http://127.0.0.1:1/nothing.git")
            .await;
        app.click("create").await;
        let card = app.wait_css("[data-testid='error-card']", SLOW).await;
        let text = card.text().await.expect("text");
        assert!(text.contains("could not be reached"), "{text}");
        app.click("retry").await;
        app.wait_css("[data-testid='retry-count']", SLOW).await;
        let counted = app
            .client_wait_text("retry-count", "Retried 1 of 3 times", SLOW)
            .await;
        assert!(counted, "the retry was counted");
        app.click("action-delete").await;
        app.click("confirm-delete").await;
        app.wait_css("[data-testid='empty-state']", SLOW).await;
    });
}

#[test]
fn the_app_notices_a_workspace_the_cli_creates() {
    let prepare = |paths: &sam_core::paths::AppPaths| (source_repo(paths), paths.data_dir.clone());
    harness::run_with("cli-change", prepare, async |app, (repo, data_dir)| {
        app.find("empty-state").await;
        let output = std::process::Command::new(sam_test_support::binary("sam"))
            .args([
                "--json",
                "workspace",
                "create",
                "--repo",
                &repo,
                "--name",
                "from-the-cli",
                "--wait",
            ])
            .env("SAM_DATA_DIR", &data_dir)
            .output()
            .expect("sam runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let row = app.wait_css("[data-testid='workspace-row']", SLOW).await;
        assert!(row.text().await.expect("text").contains("from-the-cli"));
        let deleted = std::process::Command::new(sam_test_support::binary("sam"))
            .args(["workspace", "delete", "from-the-cli", "--yes", "--wait"])
            .env("SAM_DATA_DIR", &data_dir)
            .output()
            .expect("sam runs");
        assert!(deleted.status.success());
        app.wait_css("[data-testid='empty-state']", SLOW).await;
    });
}
