//! The lifecycle on the Local provider, headless: real SQLite, the real agent binary, real git.

use std::path::PathBuf;
use std::sync::Arc;

use sam_core::Core;
use sam_core::error::ErrorCategory;
use sam_core::idle::IdleChoice;
use sam_core::installation::MemoryKeys;
use sam_core::lifecycle::{CreateRequest, MAX_RETRIES};
use sam_core::paths::AppPaths;
use sam_core::store::{OperationKind, StoreError};
use sam_core::workspace::{ProviderKind, WorkspaceStatus};
use sam_test_support::binary;
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    pub core: Core,
    keys: Arc<MemoryKeys>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        sam_test_support::kill_agents_under(self.dir.path());
    }
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let keys = Arc::new(MemoryKeys::default());
        let core = open_core(&dir, &keys);
        Self { dir, core, keys }
    }

    /// Another core on the same data and keyring: the app started again.
    pub fn reopen(&self) -> Core {
        open_core(&self.dir, &self.keys)
    }

    pub fn workspace_dir(&self, id: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/workspaces")
            .join(id)
            .join("repo")
    }
}

fn open_core(dir: &TempDir, keys: &Arc<MemoryKeys>) -> Core {
    Core::open_with(
        AppPaths::under(dir.path().join("data")),
        sam_core::config::Config::default().with_agent_binary(binary("sam-agent")),
        Arc::clone(keys) as Arc<dyn sam_core::installation::KeyStore>,
        None,
    )
    .expect("core")
}

pub use sam_test_support::source_repo;

fn request(repo: &str) -> CreateRequest {
    CreateRequest {
        repo: repo.to_owned(),
        name: None,
        branch: None,
        provider: ProviderKind::Local,
        idle: IdleChoice::Never,
        placement: None,
    }
}

/// A Local workspace created from a one-commit repository, running.
pub async fn running_local_workspace(fixture: &Fixture) -> sam_core::workspace::WorkspaceId {
    let repo = source_repo(fixture.dir.path());
    let lifecycle = fixture.core.workspaces();
    let (_, operation) = lifecycle.begin_create(&request(&repo)).expect("begins");
    let running = lifecycle
        .run(operation)
        .await
        .expect("creates")
        .expect("exists");
    assert_eq!(running.status, WorkspaceStatus::Running);
    running.id
}

/// How many `sam-agent` processes serve workspace `id` right now.
pub fn agent_processes_for(id: &str) -> usize {
    std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| {
            let text = String::from_utf8_lossy(cmdline);
            text.contains("sam-agent") && text.contains(&format!("--workspace-id={id}"))
        })
        .count()
}

#[tokio::test]
async fn create_stop_start_delete_with_files_surviving_the_stop() {
    let fixture = Fixture::new();
    let repo = source_repo(fixture.dir.path());
    let lifecycle = fixture.core.workspaces();

    let (workspace, operation) = lifecycle.begin_create(&request(&repo)).expect("begins");
    assert_eq!(workspace.status, WorkspaceStatus::Creating);
    assert_eq!(workspace.name, "source");
    let running = lifecycle
        .run(operation)
        .await
        .expect("creates")
        .expect("exists");
    assert_eq!(running.status, WorkspaceStatus::Running);
    let id = running.id.to_string();
    let root = fixture.workspace_dir(&id);
    assert_eq!(
        std::fs::read_to_string(root.join("README.md")).expect("cloned"),
        "hello\n"
    );
    assert_eq!(agent_processes_for(&id), 1);

    std::fs::write(root.join("uncommitted.txt"), "work in progress").expect("write");
    let stop = lifecycle
        .begin(&running.id, OperationKind::Stop)
        .expect("begins");
    let stopped = lifecycle.run(stop).await.expect("stops").expect("exists");
    assert_eq!(stopped.status, WorkspaceStatus::Stopped);
    assert_eq!(agent_processes_for(&id), 0, "stop ends the agent");

    let start = lifecycle
        .begin(&running.id, OperationKind::Start)
        .expect("begins");
    assert_eq!(
        lifecycle
            .run(start)
            .await
            .expect("starts")
            .expect("exists")
            .status,
        WorkspaceStatus::Running
    );
    assert_eq!(
        std::fs::read_to_string(root.join("uncommitted.txt")).expect("kept"),
        "work in progress"
    );
    assert_eq!(agent_processes_for(&id), 1);

    let delete = lifecycle
        .begin(&running.id, OperationKind::Delete)
        .expect("begins");
    assert!(lifecycle.run(delete).await.expect("deletes").is_none());
    assert!(!root.exists());
    assert_eq!(agent_processes_for(&id), 0);
    assert!(fixture.core.list_workspaces().expect("lists").is_empty());

    let events = fixture
        .core
        .store()
        .events(&running.id, 0, 1000)
        .expect("events");
    assert!(events.is_empty(), "events go with the workspace");
}

#[tokio::test]
async fn an_invalid_url_is_refused_before_anything_starts() {
    let fixture = Fixture::new();
    let err = fixture
        .core
        .workspaces()
        .begin_create(&request("git@github.com:owner/repo.git"))
        .expect_err("refused");
    assert_eq!(err.category, ErrorCategory::InvalidInput);
    assert!(err.next_step.contains("https://github.com/owner/repo.git"));
    assert!(fixture.core.list_workspaces().expect("lists").is_empty());
}

#[tokio::test]
async fn an_unreachable_repository_fails_the_clone_step_and_retry_is_capped() {
    let fixture = Fixture::new();
    let lifecycle = fixture.core.workspaces();
    let missing = format!("file://{}/nothing-here", fixture.dir.path().display());
    let (workspace, operation) = lifecycle.begin_create(&request(&missing)).expect("begins");
    let err = lifecycle.run(operation).await.expect_err("fails");
    assert_eq!(err.category, ErrorCategory::WorkspaceBuild);
    assert_eq!(err.step.as_deref(), Some("clone"));
    let failed = fixture
        .core
        .store()
        .workspace(&workspace.id)
        .expect("exists");
    assert_eq!(failed.status, WorkspaceStatus::Error);
    assert_eq!(
        failed.error.as_ref().map(|e| e.category),
        Some(ErrorCategory::WorkspaceBuild)
    );

    for attempt in 1..=MAX_RETRIES {
        let retry = lifecycle.begin_retry(&workspace.id).expect("retries");
        assert!(lifecycle.run(retry).await.is_err());
        assert_eq!(
            fixture
                .core
                .store()
                .workspace(&workspace.id)
                .expect("exists")
                .retry_count,
            attempt
        );
    }
    let capped = lifecycle.begin_retry(&workspace.id).expect_err("capped");
    assert_eq!(capped.category, ErrorCategory::InvalidInput);
    assert_eq!(
        agent_processes_for(workspace.id.as_str()),
        1,
        "retries reuse one agent"
    );

    // Fixing the source and retrying is what the cap protects against; delete cleans up.
    let delete = lifecycle
        .begin(&workspace.id, OperationKind::Delete)
        .expect("begins");
    lifecycle.run(delete).await.expect("deletes");
    assert_eq!(agent_processes_for(workspace.id.as_str()), 0);
}

#[tokio::test]
async fn one_operation_at_a_time_per_workspace() {
    let fixture = Fixture::new();
    let repo = source_repo(fixture.dir.path());
    let lifecycle = fixture.core.workspaces();
    let (workspace, create) = lifecycle.begin_create(&request(&repo)).expect("begins");
    let err = fixture
        .core
        .store()
        .begin_operation(&workspace.id, OperationKind::Delete, "someone-else", 30_000)
        .expect_err("busy");
    assert!(matches!(err, StoreError::Busy { .. }));
    lifecycle.run(create).await.expect("creates");
    let delete = lifecycle
        .begin(&workspace.id, OperationKind::Delete)
        .expect("free again");
    lifecycle.run(delete).await.expect("deletes");
}

#[tokio::test]
async fn a_workspace_in_the_wrong_state_explains_what_it_can_do() {
    let fixture = Fixture::new();
    let repo = source_repo(fixture.dir.path());
    let lifecycle = fixture.core.workspaces();
    let (workspace, create) = lifecycle.begin_create(&request(&repo)).expect("begins");
    lifecycle.run(create).await.expect("creates");
    let err = lifecycle
        .begin(&workspace.id, OperationKind::Start)
        .expect_err("already running");
    assert_eq!(err.category, ErrorCategory::InvalidInput);
    assert!(
        lifecycle.begin_retry(&workspace.id).is_err(),
        "nothing to retry"
    );
    let delete = lifecycle
        .begin(&workspace.id, OperationKind::Delete)
        .expect("begins");
    lifecycle.run(delete).await.expect("deletes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_clones_with_a_token_for_its_host_and_never_without() {
    use crate::git_server::{GitServer, TOKEN, bare_repo, files_under};
    let fixture = Fixture::new();
    let lifecycle = fixture.core.workspaces();
    let root = tempfile::tempdir().expect("dir");
    bare_repo(root.path(), "private.git");
    let server = GitServer::start(root.path());

    // No token for the host: the create fails with the broker's reason and what to do.
    let (workspace, operation) = lifecycle
        .begin_create(&request(&server.url("private.git")))
        .expect("begins");
    let err = lifecycle.run(operation).await.expect_err("refused");
    assert_eq!(err.category, ErrorCategory::Credentials, "{err:?}");
    assert!(err.message.contains("SAM holds no credential"), "{err:?}");
    assert!(err.next_step.contains("set-token"), "{err:?}");

    // A token for the host, then Retry: cloned.
    let host = format!("127.0.0.1:{}", server.port);
    assert!(
        fixture
            .core
            .git()
            .set_token("https://github.com", &sam_core::redact::Secret::new("x"))
            .await
            .is_err(),
        "a host, not a URL"
    );
    fixture
        .core
        .git()
        .set_token(&host, &sam_core::redact::Secret::new(TOKEN))
        .await
        .expect("kept");
    assert_eq!(
        fixture.core.git().token_hosts().expect("hosts"),
        vec![host.clone()]
    );
    let operation = lifecycle.begin_retry(&workspace.id).expect("retry");
    let running = lifecycle
        .run(operation)
        .await
        .expect("cloned")
        .expect("exists");
    assert_eq!(running.status, WorkspaceStatus::Running);
    assert!(
        fixture
            .workspace_dir(running.id.as_str())
            .join("README.md")
            .is_file()
    );

    // The token is in the keyring only: not in the database, the logs or the workspace.
    for file in files_under(&fixture.dir.path().join("data")) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            file.display()
        );
    }
    // Removing the token takes it back from the running workspace: git there is refused now.
    fixture
        .core
        .git()
        .remove_token(&host)
        .await
        .expect("removed");
    assert!(fixture.core.git().token_hosts().expect("hosts").is_empty());
    let client = lifecycle.connect(&running).await.expect("connected");
    let info = client
        .run_job(
            vec!["git".into(), "fetch".into(), "-q".into(), "origin".into()],
            None,
            std::collections::BTreeMap::from([("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())]),
        )
        .await
        .expect("starts");
    let (mut job, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = crate::agent::harness::read_to_exit(&mut job).await;
    assert_ne!(status.code, Some(0));
    assert!(
        String::from_utf8_lossy(&out).contains("SAM holds no credential"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cores_background_tasks_end_at_shutdown() {
    let fixture = Fixture::new();
    fixture.core.start_background();
    // The idle check and token renewal, the sweep, and the resumption of unfinished work.
    assert!(
        fixture.core.tasks().running() >= 2,
        "{} tasks",
        fixture.core.tasks().running()
    );
    let outcome = fixture
        .core
        .shutdown(std::time::Duration::from_secs(10))
        .await;
    assert_eq!(outcome, sam_core::tasks::Shutdown::Clean);
    assert_eq!(fixture.core.tasks().running(), 0);
    // Nothing new starts once shut down: an operation asked for now waits for the next start.
    let (_, operation) = fixture
        .core
        .workspaces()
        .begin_create(&request("file:///nowhere/repo.git"))
        .expect("recorded");
    fixture.core.run_in_background(operation);
    assert_eq!(fixture.core.tasks().running(), 0);
}
