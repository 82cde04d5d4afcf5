//! Helpers shared by SAM's test binaries.
//!
//! Tests find the programs they run (the app, the agent, the CLI) through [`binary`], which fails
//! with instructions when a binary has not been built, instead of a confusing "file not found"
//! deep inside a test.

use std::path::{Path, PathBuf};

/// The repository's root folder.
///
/// Read at run time: cargo sets `CARGO_MANIFEST_DIR` for the test process (the root package's
/// folder is the repository root). A path baked in at compile time would go stale when two
/// checkouts share one target folder, as CI's clone and a working tree do.
pub fn repo_root() -> PathBuf {
    let at_run_time = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| {
            dir.ancestors()
                .find(|d| d.join("tauri.conf.json").is_file())
                .map(Path::to_path_buf)
        });
    if let Some(root) = at_run_time {
        return root;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support sits two levels below the repository root")
        .to_path_buf()
}

/// The profile folder the running test was built into (`<target>/debug`, say).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    // Test binaries live in `<target>/<profile>/deps/`.
    let deps = exe.parent().expect("the test binary is in a folder");
    let profile = if deps.ends_with("deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    profile.to_path_buf()
}

/// The target folder (`<target>`), where tests keep artifacts such as screenshots.
pub fn target_dir() -> PathBuf {
    let profile = profile_dir();
    profile.parent().map(Path::to_path_buf).unwrap_or(profile)
}

/// The path of a workspace binary built in the same profile as this test. Panics with the
/// command to run when it is missing.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary `{name}` was not found at {}.\nBuild every workspace binary first: \
         `cargo build --workspace --bins{}` (scripts/test does this).",
        path.display(),
        if profile_dir().ends_with("release") {
            " --release"
        } else {
            ""
        }
    );
    path
}

/// Runs git in `dir` with a fixed identity, asserting it succeeds.
fn git_in(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// Makes a git repository with one commit (`README.md` = "hello\n") at `dir/source` and returns
/// its `file://` URL: a repository to clone with no network.
pub fn source_repo(dir: &Path) -> String {
    let repo = dir.join("source");
    std::fs::create_dir_all(&repo).expect("source folder");
    git_in(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").expect("write");
    git_in(&repo, &["add", "."]);
    git_in(&repo, &["commit", "-q", "-m", "init"]);
    format!("file://{}", repo.display())
}

/// Makes a bare repository `name` (which may be `owner/repo.git`) under `root`, with one commit
/// (`README.md` = "private\n"): what a git server serves.
pub fn bare_repo(root: &Path, name: &str) {
    let seed = root.join(format!("{name}-seed"));
    std::fs::create_dir_all(&seed).expect("seed folder");
    git_in(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README.md"), "private\n").expect("write");
    git_in(&seed, &["add", "."]);
    git_in(&seed, &["commit", "-qm", "first"]);
    git_in(
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

/// Kills every `sam-agent` whose workspace lives under `dir`: Local agents run detached, so a
/// test that fails before its own cleanup would otherwise leave them running.
pub fn kill_agents_under(dir: &Path) {
    let marker = format!("--workspace-root={}", dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline);
        if text.contains("sam-agent") && text.contains(&marker) {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }
}

/// Kills, when dropped, every agent whose workspace is under a folder: Local workspaces a test
/// made and did not delete (or could not, having failed half-way) end with the test.
#[derive(Debug)]
pub struct AgentsUnder(PathBuf);

impl AgentsUnder {
    /// Guards the agents of workspaces under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self(dir.to_path_buf())
    }
}

impl Drop for AgentsUnder {
    fn drop(&mut self) {
        kill_agents_under(&self.0);
    }
}

/// Every file under `dir`, recursively (to check that no secret reached any of them).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

/// A process killed (and reaped) when dropped: a test's fake server, or a command a failing test
/// would otherwise leave running.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts one of the Python fakes in `tests/support` (`script` with `args`) and returns it,
/// stopped when dropped, with the first line it prints (its address or port).
pub fn start_fake(script: &str, args: &[&str]) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .arg(repo_root().join("tests/support").join(script))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {script}: {err}"));
    let stdout = child.stdout.take().expect("stdout");
    let child = KillOnDrop(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|err| panic!("{script} printed nothing: {err}"));
    (child, line.trim().to_owned())
}

/// The resident memory of a process, in KiB (for benchmarks).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// An npm package, packed into `dir` (`npm pack`), whose one program runs `fake-acp`, and the
/// catalogue entry (`agent.json`, as JSON text) of agent `id` installed from it. Installing it
/// fetches nothing from the registry; `node_min` 18 is met by any Node.js that runs npm.
pub fn npm_fake_agent(dir: &Path, id: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let package = dir.join("package");
    std::fs::create_dir_all(&package).expect("package dir");
    std::fs::write(
        package.join("package.json"),
        r#"{"name": "sam-fake-npm-agent", "version": "1.0.0", "bin": {"fake-npm-agent": "agent.sh"}}"#,
    )
    .expect("package.json");
    let program = package.join("agent.sh");
    let fake = binary("fake-acp");
    std::fs::write(
        &program,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", fake.display()),
    )
    .expect("program");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let packed = std::process::Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(dir)
        .current_dir(&package)
        .output()
        .expect("npm pack runs");
    assert!(packed.status.success(), "{packed:?}");
    let tarball = dir.join(String::from_utf8_lossy(&packed.stdout).trim());
    format!(
        r#"{{"id": "{id}", "name": "npm agent {id}", "distribution": {{"npx": {{"package": "{}", "nodeMin": 18}}}}}}"#,
        tarball.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_root_has_the_app_manifest() {
        assert!(repo_root().join("tauri.conf.json").is_file());
    }

    #[test]
    #[should_panic(expected = "cargo build --workspace --bins")]
    fn a_missing_binary_fails_loudly_with_the_fix() {
        binary("no-such-binary-anywhere");
    }
}
