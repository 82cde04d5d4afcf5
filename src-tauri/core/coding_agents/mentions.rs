//! `@file` mentions in prompts: a prompt that names a file of the repository as `@path` sends
//! the coding agent, beside the text as typed, a link to that file (ACP's `resource_link`, a
//! `file://` URI on the workspace's machine), which agents read as "this file matters". The
//! prompt box offers the repository's files to pick from.

use std::collections::BTreeMap;

use crate::Core;
use crate::error::SamError;
use crate::workspace::Workspace;

/// The most files the picker is offered.
pub const MAX_FILES: usize = 20_000;

/// The paths a prompt mentions: `@` at the start or after whitespace, then a path up to the next
/// whitespace, without trailing punctuation; each once, in order.
pub fn mentioned(text: &str) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let Some(path) = word.strip_prefix('@') else {
            continue;
        };
        let path = path.trim_end_matches([',', '.', ';', ':', '!', '?', ')', '"', '\'']);
        if !path.is_empty() && !paths.iter().any(|p| p == path) {
            paths.push(path.to_owned());
        }
    }
    paths
}

/// The repository's files (tracked, and untracked ones git does not ignore), for the picker;
/// at most [`MAX_FILES`].
pub async fn files(core: &Core, workspace: &Workspace) -> Result<Vec<String>, SamError> {
    let client = core.workspaces().connect(workspace).await?;
    let argv = [
        "git",
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut found = Vec::new();
    let mut on_line = |line: &str| {
        if found.len() < MAX_FILES && !line.is_empty() {
            found.push(line.to_owned());
        }
    };
    let run = client
        .run_to_end(argv, None, BTreeMap::new(), &mut on_line)
        .await
        .map_err(SamError::from)?;
    match run {
        Some(run) if run.status.code == Some(0) => {
            found.sort();
            found.dedup();
            Ok(found)
        }
        _ => Err(SamError::invalid_input(
            format!("The files of {} could not be listed.", workspace.name),
            "Its repository may not be a git repository; type the path after @ yourself.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_paths_after_an_at_sign_once_each() {
        assert_eq!(
            mentioned("see @src/main.rs, and @README.md. Not a@b.c; again @src/main.rs @"),
            ["src/main.rs", "README.md"]
        );
        assert!(mentioned("no mentions here").is_empty());
    }
}
