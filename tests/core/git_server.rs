//! A private git repository server for tests (`tests/support/git-http-server.py`: `git
//! http-backend` behind a token check), and git as a workspace runs it.

use std::path::Path;
use std::process::{Command, Output};

use sam_test_support::{KillOnDrop, binary, start_fake};

pub use sam_test_support::bare_repo;

pub const TOKEN: &str = "ghs_private-repo-token-0123456789";

/// The private repository server, killed with the test.
pub struct GitServer {
    _process: KillOnDrop,
    pub port: u16,
}

impl GitServer {
    pub fn start(root: &Path) -> Self {
        let (process, line) = start_fake("git-http-server.py", &[&root.to_string_lossy(), TOKEN]);
        let port = line.parse().expect("a port");
        Self {
            _process: process,
            port,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

pub fn git(dir: &Path, args: &[&str]) -> Output {
    let output = git_command(dir, None).args(args).output().expect("git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    output
}

/// git as a workspace runs it: SAM's helper, the repository path in requests, no prompts.
pub fn git_command(dir: &Path, socket: Option<&Path>) -> Command {
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

pub use sam_test_support::files_under;
