//! The whole GitHub path on a Local workspace, against the fake GitHub serving git: sign in
//! in the browser, pick a private repository from the picker, create a workspace that clones
//! it through the credential broker with the GitHub token, commit (as the GitHub account,
//! unless git already has an identity) and push; the token renewed before it expires and
//! handed to the running workspace; a personal token for the host winning at once; sign-out
//! revoking the sign-in's token at GitHub; and no token in any file afterwards.

use std::collections::BTreeMap;

use sam_core::account::github::REFRESH_AHEAD;
use sam_core::github::{StoredTokens, TOKEN_ENTRY};
use sam_core::idle::IdleChoice;
use sam_core::installation::KeyStore;
use sam_core::lifecycle::CreateRequest;
use sam_core::redact::Secret;
use sam_core::workspace::{ProviderKind, Workspace, WorkspaceStatus};

use crate::git_server::{bare_repo, files_under};
use crate::github::{FakeGitHub, SECRET, browser_sign_in, core_for};

/// Runs `script` with `sh -c` in the workspace's repository; its output and whether it passed.
async fn sh(core: &sam_core::Core, workspace: &Workspace, script: &str) -> (String, bool) {
    let client = core
        .workspaces()
        .connect(workspace)
        .await
        .expect("connected");
    let info = client
        .run_job(
            vec!["sh".into(), "-c".into(), script.into()],
            None,
            BTreeMap::from([("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())]),
        )
        .await
        .expect("starts");
    let (mut job, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = crate::agent::harness::read_to_exit(&mut job).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        status.code == Some(0),
    )
}

/// The identity git has outside any repository on this computer, if any.
fn global_identity() -> Option<String> {
    let read = |key: &str| {
        let out = std::process::Command::new("git")
            .args(["config", "--global", key])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    Some(format!("{} <{}>", read("user.name")?, read("user.email")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_github_repository_clones_commits_pushes_and_keeps_a_fresh_token() {
    const TTL: i64 = 28_800;
    let root = tempfile::tempdir().expect("dir");
    bare_repo(root.path(), "octo-user/project-003.git");
    let fake = FakeGitHub::start(900, TTL as u32, Some(root.path()));
    let (dir, keys, core) = core_for(&fake, Some(SECRET));
    // The workspace stays running to the end; its agent ends with the test, failed or not.
    let _agents = sam_test_support::AgentsUnder::new(dir.path());
    let lifecycle = core.workspaces();
    browser_sign_in(&fake, &core).await;
    let tokens = || StoredTokens::parse(&keys.get(TOKEN_ENTRY).expect("keyring").expect("tokens"));
    let first = tokens();

    // Picked from the picker: private, cloned through the broker with the GitHub token.
    let list = core
        .github()
        .repos("project-003", false)
        .await
        .expect("repos");
    let repo = list.repos.first().expect("found").clone();
    assert!(repo.private);
    assert!(repo.clone_url.contains(&fake.host()), "{}", repo.clone_url);
    let (_, operation) = lifecycle
        .begin_create(&CreateRequest {
            repo: repo.clone_url.clone(),
            name: None,
            branch: Some(repo.default_branch.clone()),
            provider: ProviderKind::Local,
            idle: IdleChoice::Never,
            placement: None,
        })
        .expect("begins");
    let workspace = lifecycle
        .run(operation)
        .await
        .expect("cloned")
        .expect("exists");
    assert_eq!(workspace.status, WorkspaceStatus::Running);

    // A commit, attributed to the GitHub account unless git already has an identity here, is
    // pushed through the broker.
    let (out, pushed) = sh(
        &core,
        &workspace,
        "echo change >> README.md && git commit -qam 'from the workspace' && \
         git push -q origin HEAD:main && git log -1 --format='%an <%ae>'",
    )
    .await;
    assert!(pushed, "{out}");
    let expected = global_identity()
        .unwrap_or_else(|| "Octo User <583231+octo-user@users.noreply.github.com>".to_owned());
    assert!(out.contains(&expected), "{out} (expected {expected})");
    let pushed_log = std::process::Command::new("git")
        .args(["log", "-1", "--format=%s"])
        .current_dir(root.path().join("octo-user/project-003.git"))
        .output()
        .expect("git");
    assert_eq!(
        String::from_utf8_lossy(&pushed_log.stdout).trim(),
        "from the workspace"
    );

    // Ten minutes before expiry SAM renews the token and hands the new one to the workspace;
    // the old one is dead at GitHub, and git in the workspace still works.
    let expires = first.expires_at().expect("expires");
    core.github()
        .rotate_token(expires - TTL)
        .await
        .expect("rotates");
    let handed = core
        .github()
        .rotate_token(expires - REFRESH_AHEAD + 1)
        .await
        .expect("rotates");
    assert_eq!(handed, 1);
    assert_eq!(fake.stats().await["refreshes"], 1);
    let second = tokens();
    assert!(!fake.accepts(first.access().expose()).await);
    let (out, fetched) = sh(&core, &workspace, "git fetch -q origin && echo fetched").await;
    assert!(fetched, "{out}");

    // A personal access token for the host wins over the sign-in, at once in the running
    // workspace; signing out of GitHub revokes the sign-in's token at GitHub and leaves the
    // workspace with the personal token; removing that leaves it nothing.
    let pat = fake.pat().await;
    core.git()
        .set_token(&fake.host(), &Secret::new(pat.clone()))
        .await
        .expect("kept");
    let report = core.github().sign_out().await.expect("signed out");
    assert!(report.revoked_at_github);
    assert!(!fake.accepts(second.access().expose()).await);
    let (out, fetched) = sh(&core, &workspace, "git fetch -q origin && echo fetched").await;
    assert!(fetched, "with the personal token: {out}");
    core.git()
        .remove_token(&fake.host())
        .await
        .expect("removed");
    let (out, fetched) = sh(&core, &workspace, "git fetch -q origin").await;
    assert!(!fetched);
    assert!(out.contains("SAM holds no credential"), "{out}");

    // No token in the database, the logs or the workspace's files.
    for file in files_under(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        for token in [
            first.access().expose(),
            second.access().expose(),
            pat.as_str(),
        ] {
            assert!(!text.contains(token), "a token is in {}", file.display());
        }
    }
}
