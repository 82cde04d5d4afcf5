//! End-to-end tests: the real app, in its real webview, driven through WebDriver under Xvfb.

mod harness;

use sam_desktop::core::store::Store;
use sam_desktop::core::workspace::{NewWorkspace, ProviderKind, WorkspaceId, WorkspaceStatus};

fn nothing(_: &sam_desktop::core::paths::AppPaths) {}

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
fn run_on_this_computer_leads_to_its_screen_which_says_it_is_not_ready() {
    harness::run("run-local", nothing, async |app| {
        app.click("run-local").await;
        let screen = app.text("run-local-screen").await;
        assert!(screen.contains("Run on this computer"), "{screen}");
        assert!(app.text("not-yet").await.starts_with("Not available yet"));
        app.click("back").await;
        app.find("empty-state").await;
    });
}

#[test]
fn connect_hetzner_leads_to_its_screen_which_says_it_is_not_ready() {
    harness::run("connect-hetzner", nothing, async |app| {
        app.click("connect-hetzner").await;
        let screen = app.text("connect-hetzner-screen").await;
        assert!(screen.contains("keyring"), "{screen}");
        assert!(app.text("not-yet").await.starts_with("Not available yet"));
        app.click("back").await;
        app.find("empty-state").await;
    });
}

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)><b>bold</b>";

#[test]
fn stored_workspaces_are_listed_with_outside_text_shown_as_text() {
    let seed = |paths: &sam_desktop::core::paths::AppPaths| {
        let store = Store::open(&paths.database()).expect("store");
        let id = WorkspaceId::generate().expect("id");
        let new = NewWorkspace {
            name: HOSTILE_NAME.to_owned(),
            repo_url: "https://github.com/example/project.git".to_owned(),
            branch: None,
            provider: ProviderKind::Local,
            idle_timeout_secs: None,
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
