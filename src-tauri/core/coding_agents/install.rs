//! Installing a coding agent distributed on npm where it runs, on demand: `install.sh` runs as a
//! job on the workspace's machine, finds or installs a new enough Node.js and the package into a
//! prefix that outlives the session, and says how to start it. Its progress goes to the caller
//! and the workspace's log; a failure is an error that says what to do.

use std::collections::BTreeMap;

use crate::Core;
use crate::agent_client::{AgentClient, JobRun};
use crate::error::{ErrorCategory, SamError};
use crate::workspace::{EventLevel, ProviderKind, Workspace};

/// The script, run as `sh -c SCRIPT sam-install PREFIX PACKAGE NODE_MIN`.
const SCRIPT: &str = include_str!("install.sh");
/// What the script's last line starts with.
const READY: &str = "sam-install-ready\t";
/// What its progress lines start with.
const PROGRESS: &str = "sam-install: ";

/// How to start an installed agent: its program, and the `PATH` that puts its Node.js first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The program (the package's bin).
    pub program: String,
    /// The environment to start it with.
    pub env: BTreeMap<String, String>,
}

/// Installs `package` (needing Node.js `node_min` or later) for `agent` on the workspace's
/// machine unless it is there already; reports each step to `progress`.
pub async fn ensure(
    core: &Core,
    workspace: &Workspace,
    client: &AgentClient,
    agent: &str,
    package: &str,
    node_min: Option<u32>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Installed, SamError> {
    // On this computer one folder in SAM's data serves every workspace; on a server, the
    // workspace's disk, which is the repository's folder (the script keeps it out of git), so
    // a stop and start keeps it.
    let prefix = match workspace.provider {
        ProviderKind::Local => core.paths().data_dir.join("agents").display().to_string(),
        _ => ".sam/agents".to_owned(),
    };
    let argv = [
        "sh",
        "-c",
        SCRIPT,
        "sam-install",
        &prefix,
        package,
        &node_min.unwrap_or(0).to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let lifecycle = core.workspaces();
    let mut on_line = |line: &str| {
        if let Some(step) = line.strip_prefix(PROGRESS) {
            progress(step);
            lifecycle.log(&workspace.id, "agent install", EventLevel::Info, step);
        }
    };
    let run = client
        .run_to_end(argv, None, BTreeMap::new(), &mut on_line)
        .await
        .map_err(|err| SamError::from(err).with_step("agent install"))?;
    let Some(JobRun { status, output }) = run else {
        return Err(SamError::new(
            ErrorCategory::Agent,
            "The workspace's agent restarted while a coding agent was being installed.",
            "Start the coding agent again.",
        )
        .with_step("agent install"));
    };
    if status.code == Some(0)
        && let Some(ready) = output.lines().rev().find_map(|l| l.strip_prefix(READY))
        && let Some((path, program)) = ready.split_once('\t')
    {
        return Ok(Installed {
            program: program.to_owned(),
            env: BTreeMap::from([("PATH".to_owned(), path.to_owned())]),
        });
    }
    let err = explain(agent, package, node_min, status.code, &output);
    lifecycle.log(
        &workspace.id,
        "agent install",
        EventLevel::Error,
        &err.message,
    );
    Err(err.with_step("agent install"))
}

/// What went wrong, from the script's exit status and what it and npm printed.
pub(crate) fn explain(
    agent: &str,
    package: &str,
    node_min: Option<u32>,
    code: Option<i32>,
    output: &str,
) -> SamError {
    let said = output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(PROGRESS))
        .unwrap_or_default();
    let npm_error = output
        .lines()
        .find(|line| line.starts_with("npm error") || line.starts_with("npm ERR!"))
        .unwrap_or_default();
    let lower = output.to_ascii_lowercase();
    let network = [
        "enotfound",
        "etimedout",
        "eai_again",
        "econnreset",
        "econnrefused",
        "network",
        "could not resolve host",
        "failed to connect",
        "connection timed out",
    ]
    .iter()
    .any(|needle| lower.contains(needle));
    let node = node_min.map_or_else(|| "Node.js".to_owned(), |v| format!("Node.js {v}"));
    match code {
        Some(3) => SamError::new(
            ErrorCategory::Configuration,
            format!(
                "{agent} is installed with npm, and SAM cannot get npm on the workspace's machine: \
                 {}.",
                if said.is_empty() {
                    "it has no npm"
                } else {
                    said
                }
            ),
            format!(
                "Install curl there (SAM then fetches {node} and npm itself), or Node.js and npm \
                 (Debian or Ubuntu: sudo apt install curl, or nodejs npm)."
            ),
        ),
        Some(4 | 5) if network => SamError::new(
            ErrorCategory::Transient,
            format!("npm could not reach its registry to install {agent}: {npm_error}"),
            "Check the machine's internet connection, then start the coding agent again.",
        ),
        Some(4) if lower.contains("e404") || lower.contains("enoent") => SamError::new(
            ErrorCategory::Configuration,
            format!("npm has no package {package} for {agent}: {npm_error}"),
            "Check the package's name and version in the agent's catalogue entry.",
        ),
        Some(4) => SamError::new(
            ErrorCategory::WorkspaceBuild,
            format!("npm could not install {package} for {agent}: {npm_error}"),
            "npm's full output is in the workspace's log; start the coding agent again to retry.",
        ),
        Some(5) => SamError::new(
            ErrorCategory::WorkspaceBuild,
            format!("{node}, which {agent} needs, could not be installed: {said} {npm_error}"),
            format!("Install {node} or later on the workspace's machine, then start it again."),
        ),
        Some(6) => SamError::new(
            ErrorCategory::Configuration,
            format!("The npm package {package} has no program to start {agent} with."),
            "Check the agent's catalogue entry: its package must provide one command.",
        ),
        Some(7) => SamError::new(
            ErrorCategory::Configuration,
            format!("Coding agents cannot be installed on the workspace's machine: {said}."),
            "Make that folder writable for the workspace's user.",
        ),
        _ => SamError::new(
            ErrorCategory::Agent,
            format!("Installing {agent} failed ({code:?}): {said}"),
            "The workspace's log has what it printed.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_explained_by_kind() {
        let cases = [
            (Some(3), "", ErrorCategory::Configuration, "has no npm"),
            (
                Some(3),
                "sam-install: npm is not installed on this machine, and there is no curl to fetch it with",
                ErrorCategory::Configuration,
                "no curl to fetch it with",
            ),
            (
                Some(5),
                "sam-install: installing Node.js 22 and npm\ncurl: (6) Could not resolve host: registry.npmjs.org\nsam-install: Node.js 22.1.0 could not be fetched",
                ErrorCategory::Transient,
                "could not reach its registry",
            ),
            (
                Some(4),
                "npm error code ENOTFOUND\nnpm error network request failed",
                ErrorCategory::Transient,
                "could not reach its registry",
            ),
            (
                Some(4),
                "npm error code E404\nnpm error 404 Not Found",
                ErrorCategory::Configuration,
                "npm has no package",
            ),
            (
                Some(4),
                "npm error code EACCES",
                ErrorCategory::WorkspaceBuild,
                "could not install",
            ),
            (
                Some(5),
                "sam-install: no Node.js 22 for riscv64",
                ErrorCategory::WorkspaceBuild,
                "no Node.js 22 for riscv64",
            ),
            (Some(6), "", ErrorCategory::Configuration, "no program"),
            (
                Some(7),
                "sam-install: cannot write /x",
                ErrorCategory::Configuration,
                "cannot write /x",
            ),
            (None, "", ErrorCategory::Agent, "failed"),
        ];
        for (code, output, category, says) in cases {
            let err = explain("Claude Code", "pkg@1", Some(22), code, output);
            assert_eq!(err.category, category, "{code:?} {output}");
            assert!(err.message.contains(says), "{code:?}: {}", err.message);
        }
    }
}
