//! The git credential broker with real git against a private repository server (`git
//! http-backend` behind a token check, `tests/support/git-http-server.py`): with the token pushed
//! to the agent, git clones and pushes through `sam-agent credential`; another repository on the
//! same server is refused with a message; an expired token says to open SAM; nothing of the token
//! reaches the clone's files.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use sam_test_support::binary;

use super::harness::{TestAgent, read_to_exit};
use crate::git_server::{GitServer, TOKEN, bare_repo, files_under, git, git_command};

#[tokio::test]
async fn git_clones_and_pushes_a_private_repository_only_through_the_broker() {
    let root = tempfile::tempdir().expect("dir");
    bare_repo(root.path(), "private.git");
    bare_repo(root.path(), "other.git");
    let server = GitServer::start(root.path());
    let agent = TestAgent::start(&[]);
    let socket = agent.dir.path().join("state").join("git-credential.sock");
    let client = agent.client().await;
    let work = tempfile::tempdir().expect("work");

    // Without SAM's helper the server refuses: the repository is private.
    let refused = git_command(work.path(), None)
        .args(["clone", "-q", &server.url("private.git"), "anonymous"])
        .output()
        .expect("git");
    assert!(!refused.status.success());

    // The desktop pushes the workspace's token; git clones and pushes through the broker.
    let name = format!("git:127.0.0.1:{}/private", server.port);
    client
        .push_secret(&name, TOKEN, None)
        .await
        .expect("pushed");
    let clone = git_command(work.path(), Some(&socket))
        .args(["clone", "-q", &server.url("private.git"), "private"])
        .output()
        .expect("git");
    assert!(clone.status.success(), "{clone:?}");
    let checkout = work.path().join("private");
    std::fs::write(checkout.join("change.txt"), "work\n").expect("write");
    git(&checkout, &["add", "."]);
    git(&checkout, &["commit", "-qm", "work"]);
    let push = git_command(&checkout, Some(&socket))
        .args(["push", "-q", "origin", "main"])
        .output()
        .expect("git");
    assert!(push.status.success(), "{push:?}");
    let log = git(
        &root.path().join("private.git"),
        &["log", "--format=%s", "-1"],
    );
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "work");

    // Another repository on the same server: refused, with the reason.
    let other = git_command(work.path(), Some(&socket))
        .args(["clone", "-q", &server.url("other.git"), "other"])
        .output()
        .expect("git");
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("SAM holds no credential"), "{stderr}");
    assert!(stderr.contains("own repository"), "{stderr}");

    // An expired token fails fast with what to do.
    client
        .push_secret(&name, TOKEN, Some(1))
        .await
        .expect("pushed");
    let expired = git_command(&checkout, Some(&socket))
        .args(["fetch", "-q", "origin"])
        .output()
        .expect("git");
    assert!(!expired.status.success());
    let stderr = String::from_utf8_lossy(&expired.stderr);
    assert!(
        stderr.contains("has expired") && stderr.contains("Open SAM"),
        "{stderr}"
    );

    // The token is nowhere in the clone (git keeps nothing: the helper does not store).
    for entry in files_under(&checkout) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            entry.display()
        );
    }
}

#[tokio::test]
async fn git_in_a_workspace_job_finds_the_broker_by_itself() {
    let root = tempfile::tempdir().expect("dir");
    bare_repo(root.path(), "private.git");
    let server = GitServer::start(root.path());
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    client
        .push_secret(
            &format!("git:127.0.0.1:{}/private", server.port),
            TOKEN,
            None,
        )
        .await
        .expect("pushed");
    // No -c options, no config file: the agent's environment for its processes does it. A
    // helper of the user's that would keep the token on disk (`store`) is not asked.
    let home = agent.workspace_root();
    std::fs::write(home.join(".gitconfig"), "[credential]\n\thelper = store\n").expect("config");
    let info = client
        .run_job(
            vec![
                "git".into(),
                "clone".into(),
                "-q".into(),
                server.url("private.git"),
                "cloned".into(),
            ],
            None,
            BTreeMap::from([
                ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
                ("HOME".to_owned(), home.display().to_string()),
            ]),
        )
        .await
        .expect("starts");
    let (mut job, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = read_to_exit(&mut job).await;
    assert_eq!(status.code, Some(0), "{}", String::from_utf8_lossy(&out));
    assert!(home.join("cloned/README.md").is_file());
    assert!(
        !home.join(".git-credentials").exists(),
        "the user's store helper kept the token"
    );
}

#[test]
fn without_a_reachable_agent_the_helper_gives_nothing_and_says_what_to_do() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let mut helper = Command::new(binary("sam-agent"))
        .args(["credential", "--socket"])
        .arg(dir.path().join("no-agent.sock"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("helper");
    helper
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"protocol=https\nhost=github.com\npath=owner/repo.git\n\n")
        .expect("request");
    let output = helper.wait_with_output().expect("helper");
    assert!(
        output.status.success(),
        "git goes on, and fails for want of a password"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot be asked") && stderr.contains("Open SAM"),
        "{stderr}"
    );
}
