//! The git credential broker with real git against a private repository server (`git
//! http-backend` behind a token check, `tests/support/git-http-server.py`): with the token pushed
//! to the agent, git clones and pushes through `sam-agent credential`; another repository on the
//! same server is refused with a message; an expired token says to open SAM; nothing of the token
//! reaches the clone's files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use sam_test_support::{binary, repo_root};

use super::harness::TestAgent;

const TOKEN: &str = "ghs_private-repo-token-0123456789";

/// The private repository server, killed with the test.
struct GitServer {
    child: Child,
    port: u16,
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitServer {
    fn start(root: &Path) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo_root().join("tests/support/git-http-server.py"))
            .arg(root)
            .arg(TOKEN)
            .stdout(Stdio::piped())
            .spawn()
            .expect("git server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let port = line.trim().parse().expect("a port");
        Self { child, port }
    }

    fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

/// Makes a bare repository `name` under `root` with one commit.
fn bare_repo(root: &Path, name: &str) {
    let seed = root.join(format!("{name}-seed"));
    git(root, &["init", "-q", "-b", "main", &seed.to_string_lossy()]);
    std::fs::write(seed.join("README.md"), "private\n").expect("write");
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "-qm", "first"]);
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            &seed.to_string_lossy(),
            &root.join(name).to_string_lossy(),
        ],
    );
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let output = git_command(dir, None).args(args).output().expect("git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    output
}

/// git as a workspace runs it: SAM's helper, the repository path in requests, no prompts.
fn git_command(dir: &Path, socket: Option<&Path>) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    if let Some(socket) = socket {
        let helper = format!(
            "{} credential --socket {}",
            binary("sam-agent").display(),
            socket.display()
        );
        command
            .arg("-c")
            .arg(format!("credential.helper={helper}"))
            .arg("-c")
            .arg("credential.useHttpPath=true");
    }
    command
}

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
    for entry in walk(&checkout) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            entry.display()
        );
    }
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

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
