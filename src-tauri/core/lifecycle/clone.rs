//! The clone step: `git clone` run by the agent as a job, its output streamed into the
//! workspace's event log, and its failure explained in the user's terms.

use std::collections::BTreeMap;

use crate::agent_client::AgentClient;
use crate::error::{ErrorCategory, SamError};
use crate::github;
use crate::workspace::{EventLevel, Workspace};

use super::Workspaces;

/// Clones the workspace's repository into the workspace root, unless a complete clone is there.
pub(super) async fn run(
    lifecycle: &Workspaces,
    client: &AgentClient,
    workspace: &Workspace,
) -> Result<(), SamError> {
    let id = &workspace.id;
    let (done, _) = job(
        lifecycle,
        client,
        workspace,
        &["git", "rev-parse", "--verify", "HEAD"],
        false,
    )
    .await?;
    if done {
        lifecycle.log(
            id,
            "clone",
            EventLevel::Info,
            "the repository is already cloned",
        );
        return Ok(());
    }
    // Whatever an interrupted attempt left behind goes first: git clones only into an empty folder.
    job(
        lifecycle,
        client,
        workspace,
        &[
            "find",
            ".",
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-exec",
            "rm",
            "-rf",
            "{}",
            "+",
        ],
        false,
    )
    .await?;
    let mut command = vec!["git", "clone", "--progress"];
    if let Some(branch) = &workspace.branch {
        command.extend(["--branch", branch.as_str()]);
    }
    command.extend(["--", workspace.repo_url.as_str(), "."]);
    let (ok, output) = job(lifecycle, client, workspace, &command, true).await?;
    if ok {
        lifecycle.log(id, "clone", EventLevel::Info, "cloned");
        commit_identity(lifecycle, client, workspace).await
    } else {
        Err(explain(&output).with_step("clone"))
    }
}

/// Commits made in the workspace are attributed to the GitHub account SAM is signed in with
/// (its name and `<id>+<login>@users.noreply.github.com`), unless git already has an identity
/// there (the user's own configuration on this computer, say).
async fn commit_identity(
    lifecycle: &Workspaces,
    client: &AgentClient,
    workspace: &Workspace,
) -> Result<(), SamError> {
    let Some(account) = github::account(lifecycle.store())? else {
        return Ok(());
    };
    let (has_identity, _) = job(
        lifecycle,
        client,
        workspace,
        &["git", "config", "user.email"],
        false,
    )
    .await?;
    if has_identity {
        return Ok(());
    }
    let (name, email) = account.commit_identity();
    for (key, value) in [("user.name", &name), ("user.email", &email)] {
        job(
            lifecycle,
            client,
            workspace,
            &["git", "config", key, value],
            false,
        )
        .await?;
    }
    lifecycle.log(
        &workspace.id,
        "clone",
        EventLevel::Info,
        &format!("commits are made as {name} <{email}>"),
    );
    Ok(())
}

/// Runs a command in the workspace root; returns whether it succeeded and its output. With
/// `record`, each output line also goes to the event log.
async fn job(
    lifecycle: &Workspaces,
    client: &AgentClient,
    workspace: &Workspace,
    command: &[&str],
    record: bool,
) -> Result<(bool, String), SamError> {
    // Never let git wait for a password nobody can type.
    let env = BTreeMap::from([
        ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
        ("GIT_ASKPASS".to_owned(), "/bin/false".to_owned()),
        ("LC_ALL".to_owned(), "C".to_owned()),
    ]);
    let argv = command.iter().map(|s| (*s).to_owned()).collect();
    let mut on_line = |line: &str| {
        if record {
            log_line(lifecycle, workspace, line);
        }
    };
    let run = client
        .run_to_end(argv, None, env, &mut on_line)
        .await
        .map_err(|err| SamError::from(err).with_step("clone"))?;
    let Some(run) = run else {
        return Err(SamError::new(
            ErrorCategory::Agent,
            "The workspace's agent restarted during the clone.",
            "Retry the workspace.",
        )
        .with_step("clone"));
    };
    Ok((run.status.code == Some(0), run.output))
}

/// A progress line keeps only its last carriage-return segment (what a terminal would show).
fn log_line(lifecycle: &Workspaces, workspace: &Workspace, line: &str) {
    let shown = line
        .trim_end()
        .rsplit('\r')
        .next()
        .unwrap_or_default()
        .trim();
    if !shown.is_empty() {
        lifecycle.log(&workspace.id, "clone", EventLevel::Info, shown);
    }
}

/// Turns git's complaint into an error a person can act on.
pub(super) fn explain(output: &str) -> SamError {
    let lower = output.to_ascii_lowercase();
    let detail = output
        .lines()
        .rev()
        .find(|line| line.contains("fatal:"))
        .unwrap_or("git clone failed")
        .trim()
        .to_owned();
    let any = |needles: &[&str]| needles.iter().any(|needle| lower.contains(needle));
    // SAM's credential helper says why it gave nothing.
    if let Some(refusal) = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("sam: "))
    {
        return SamError::new(
            ErrorCategory::Credentials,
            format!("The repository needs credentials: {refusal}"),
            "Add a token for its host (Settings → Credentials, or `sam git set-token HOST`), then retry.",
        );
    }
    if any(&[
        "authentication failed",
        "could not read username",
        "terminal prompts disabled",
        "permission denied",
        "403",
    ]) {
        SamError::new(
            ErrorCategory::Credentials,
            format!(
                "The repository needs credentials: it is private, or it does not exist ({detail})."
            ),
            "For a private repository, add a token for its host (Settings → Credentials, or `sam git set-token HOST`), then retry; otherwise check the URL.",
        )
    } else if any(&[
        "could not resolve host",
        "failed to connect",
        "connection timed out",
        "connection refused",
        "network is unreachable",
    ]) {
        SamError::new(
            ErrorCategory::Transient,
            format!("The repository's server could not be reached ({detail})."),
            "Check the network and the host name, then retry.",
        )
        .with_retryable(true)
    } else if any(&[
        "not found",
        "does not appear to be a git repository",
        "does not exist",
    ]) {
        SamError::new(
            ErrorCategory::WorkspaceBuild,
            format!("There is no repository at that URL ({detail})."),
            "Check the URL, then delete this workspace and create it again.",
        )
    } else if any(&["remote branch", "not found in upstream"]) {
        SamError::new(
            ErrorCategory::WorkspaceBuild,
            format!("The branch does not exist ({detail})."),
            "Check the branch name.",
        )
    } else {
        SamError::new(
            ErrorCategory::WorkspaceBuild,
            format!("The repository could not be cloned ({detail})."),
            "Read the log, then retry.",
        )
        .with_retryable(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_failures_are_sorted_into_categories() {
        let cases = [
            (
                "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
                ErrorCategory::Credentials,
            ),
            (
                "fatal: unable to access 'https://nowhere.invalid/r/': Could not resolve host: nowhere.invalid",
                ErrorCategory::Transient,
            ),
            (
                "fatal: '/tmp/missing' does not appear to be a git repository",
                ErrorCategory::WorkspaceBuild,
            ),
            (
                "fatal: Remote branch nope not found in upstream origin",
                ErrorCategory::WorkspaceBuild,
            ),
        ];
        for (output, category) in cases {
            let err = explain(output);
            assert_eq!(err.category, category, "{output}");
            assert!(err.message.contains("fatal:"), "{}", err.message);
        }
    }
}
