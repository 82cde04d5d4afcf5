//! SAM's block in the user's `~/.ssh/config`: one marked block at the top holding only an
//! `Include` of SAM's own file, so that everything SAM writes about its workspaces lives in a file
//! SAM owns, and the user's file changes by exactly that block.
//!
//! The block goes first because OpenSSH takes the first value it finds for each option and an
//! `Include` below a `Host` line would only apply inside that host's section. Everything outside
//! the block is kept byte for byte (comments, `Host *` sections, other `Include`s, line endings,
//! a missing final newline). A file whose markers are not exactly one begin line followed by one
//! end line is refused with what is wrong and where, never guessed at. Writes are atomic (a
//! temporary file beside the target, renamed over it) and keep the file's permissions; a
//! symbolic link (a dotfile manager's) is written through to its target.

use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{ErrorCategory, SamError};

/// The block's first line.
pub const BEGIN: &str = "# >>> SAM workspaces (added by `sam ssh-config`) >>>";
/// The block's last line.
pub const END: &str = "# <<< SAM workspaces <<<";

/// What installing or removing the block would do to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file's text now (empty when it does not exist).
    pub before: String,
    /// Its text afterwards.
    pub after: String,
}

impl Change {
    /// Whether the file stays as it is.
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }

    /// The change as lines starting with `-` (removed) and `+` (added); the user's own lines are
    /// the same on both sides and are not shown.
    pub fn diff(&self) -> String {
        let old = block_lines(&self.before);
        let new = block_lines(&self.after);
        let mut out = String::new();
        for line in old.iter().filter(|l| !new.contains(l)) {
            out.push_str(&format!("-{line}\n"));
        }
        for line in new.iter().filter(|l| !old.contains(l)) {
            out.push_str(&format!("+{line}\n"));
        }
        out
    }
}

/// The lines of SAM's block in `text`, markers included (none when there is no block).
fn block_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim() == BEGIN {
            inside = true;
        }
        if inside {
            lines.push(line.to_owned());
        }
        if line.trim() == END {
            inside = false;
        }
    }
    lines
}

/// Where SAM's block is in a file: the byte range of its lines (with their line endings).
fn find_block(text: &str) -> Result<Option<std::ops::Range<usize>>, SamError> {
    let mut begin: Option<(usize, usize)> = None; // (byte offset, line number)
    let mut block = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let content = line.trim_end_matches(['\n', '\r']).trim();
        if content == BEGIN {
            if begin.is_some() || block.is_some() {
                return Err(malformed(format!(
                    "a second begin marker is on line {number}"
                )));
            }
            begin = Some((offset, number));
        } else if content == END {
            match begin.take() {
                Some((start, _)) => block = Some(start..offset + line.len()),
                None if block.is_some() => {
                    return Err(malformed(format!(
                        "a second end marker is on line {number}"
                    )));
                }
                None => {
                    return Err(malformed(format!(
                        "the end marker on line {number} has no begin marker before it"
                    )));
                }
            }
        }
        offset += line.len();
    }
    if let Some((_, number)) = begin {
        return Err(malformed(format!(
            "the begin marker on line {number} has no end marker after it"
        )));
    }
    Ok(block)
}

fn malformed(what: String) -> SamError {
    SamError::new(
        ErrorCategory::InvalidInput,
        format!("SAM's block in your SSH config is damaged: {what}. SAM changed nothing."),
        format!(
            "Open the file, delete the lines from `{BEGIN}` to `{END}` (or any one of them left \
             alone), and run `sam ssh-config` again."
        ),
    )
}

/// The line ending the file uses (its first line's), so the block matches it.
fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(at) if at > 0 && text.as_bytes()[at - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// `text` with SAM's block (including `include`) at the top, replacing any block elsewhere.
pub fn with_block(text: &str, include: &Path) -> Result<String, SamError> {
    let rest = without_block(text)?;
    let eol = line_ending(text);
    let mut out = String::with_capacity(rest.len() + 200);
    out.push_str(BEGIN);
    out.push_str(eol);
    out.push_str(
        "# SAM keeps its hosts in the file below; `sam ssh-config --remove` takes this out.",
    );
    out.push_str(eol);
    out.push_str(&format!("Include \"{}\"", include.display()));
    out.push_str(eol);
    out.push_str(END);
    out.push_str(eol);
    if !rest.is_empty() {
        out.push_str(eol);
    }
    out.push_str(&rest);
    Ok(out)
}

/// `text` without SAM's block (and the one blank line [`with_block`] puts after it).
pub fn without_block(text: &str) -> Result<String, SamError> {
    let Some(range) = find_block(text)? else {
        return Ok(text.to_owned());
    };
    let mut end = range.end;
    let after = &text[end..];
    if range.start == 0
        && let Some(blank) = ["\r\n", "\n"].iter().find(|b| after.starts_with(**b))
    {
        end += blank.len();
    }
    Ok(format!("{}{}", &text[..range.start], &text[end..]))
}

/// One workspace in SAM's own hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// What the user types: `sam-<name>`.
    pub alias: String,
    /// Under which name the workspace's host key is pinned in SAM's known-hosts file
    /// (`sam-<id>`, stable when the workspace is renamed or moves to a new server).
    pub key_alias: String,
    /// The user on the workspace.
    pub user: String,
    /// The ProxyCommand's words (`sam ssh --stdio <workspace>`), quoted for the shell here.
    pub proxy_command: Vec<String>,
}

/// SAM's own hosts file: a `Host` section per workspace that reaches it through `sam`, checks
/// its host key against SAM's `known_hosts` strictly, and never asks.
pub fn hosts_file(entries: &[HostEntry], known_hosts: &Path) -> Result<String, SamError> {
    let mut out = String::from(
        "# Written by SAM; it rewrites this file as workspaces come and go. Edit ~/.ssh/config instead.\n",
    );
    let known_hosts = known_hosts.to_string_lossy();
    if known_hosts.contains(['"', '\n', '%']) {
        return Err(SamError::invalid_input(
            format!("SAM's known-hosts path {known_hosts:?} cannot go into an SSH config."),
            "Use a data folder whose path has no quotes or percent signs (SAM_DATA_DIR).",
        ));
    }
    for entry in entries {
        for (what, value) in [
            ("host", &entry.alias),
            ("key alias", &entry.key_alias),
            ("user", &entry.user),
        ] {
            let plain = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !plain {
                return Err(SamError::invalid_input(
                    format!("The SSH {what} {value:?} cannot go into an SSH config."),
                    "Use letters, digits, dots, dashes and underscores only.",
                ));
            }
        }
        let command: Vec<String> = entry.proxy_command.iter().map(|w| shell_word(w)).collect();
        out.push_str(&format!(
            "\nHost {alias}\n    User {user}\n    ProxyCommand {command}\n    HostKeyAlias {key}\n    UserKnownHostsFile \"{known_hosts}\"\n    StrictHostKeyChecking yes\n",
            alias = entry.alias,
            user = entry.user,
            command = command.join(" "),
            key = entry.key_alias,
        ));
    }
    Ok(out)
}

/// A word for the shell that runs a ProxyCommand: single-quoted unless plain, and with `%`
/// doubled (OpenSSH expands `%` tokens in ProxyCommand).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'=' | b':')
        });
    let quoted = if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    };
    quoted.replace('%', "%%")
}

/// What installing the block (with `include`) in the file at `config` would change.
pub fn plan_install(config: &Path, include: &Path) -> Result<Change, SamError> {
    let before = read(config)?;
    let after = with_block(&before, include)?;
    Ok(Change { before, after })
}

/// What removing the block from the file at `config` would change.
pub fn plan_remove(config: &Path) -> Result<Change, SamError> {
    let before = read(config)?;
    let after = without_block(&before)?;
    Ok(Change { before, after })
}

/// Writes `change` to `config` atomically, if it changes anything and the file still holds
/// what the change was planned from.
pub fn apply(config: &Path, change: &Change) -> Result<(), SamError> {
    if change.is_noop() {
        return Ok(());
    }
    if read(config)? != change.before {
        return Err(SamError::new(
            ErrorCategory::Transient,
            format!(
                "{} changed while SAM was about to edit it; SAM changed nothing.",
                config.display()
            ),
            "Run the command again to see the change against the file as it is now.",
        ));
    }
    write_atomic(config, change.after.as_bytes())
}

fn read(config: &Path) -> Result<String, SamError> {
    match std::fs::read(config) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            SamError::new(
                ErrorCategory::InvalidInput,
                format!(
                    "{} is not UTF-8 text; SAM will not edit it.",
                    config.display()
                ),
                "Fix the file's encoding, or add SAM's Include line by hand.",
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(io_error("read", config, &err)),
    }
}

/// Gives `file` the permissions of `target`, or the user's alone when there is no `target` yet.
/// (Elsewhere than Unix, a new file's permissions are the folder's.)
fn keep_mode(file: &std::fs::File, target: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mode = std::fs::metadata(target)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o600);
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    #[cfg(not(unix))]
    let _ = (file, target);
    Ok(())
}

/// Writes `bytes` to `path` (through a symbolic link to its target) by renaming a temporary
/// file over it; a new file is private to the user, an existing one keeps its mode.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SamError> {
    let target = resolve_link(path)?;
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder
            .create(dir)
            .map_err(|err| io_error("create", dir, &err))?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let temp = dir.join(format!(".sam-ssh-config.{}.{nanos}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            keep_mode(&file, &target)?;
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, &target));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error("write", &target, &err));
    }
    Ok(())
}

/// `path`, or where its chain of symbolic links ends.
fn resolve_link(path: &Path) -> Result<PathBuf, SamError> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&current) {
            Ok(next) => {
                current = match current.parent() {
                    Some(parent) if next.is_relative() => parent.join(next),
                    _ => next,
                };
            }
            Err(_) => return Ok(current),
        }
    }
    Err(SamError::new(
        ErrorCategory::InvalidInput,
        format!("{} is a loop of symbolic links.", path.display()),
        "Point the link at a real file.",
    ))
}

fn io_error(action: &str, path: &Path, err: &std::io::Error) -> SamError {
    SamError::new(
        ErrorCategory::Configuration,
        format!("SAM could not {action} {}: {err}.", path.display()),
        "Check the file's permissions and that the disk has space.",
    )
}

#[cfg(test)]
mod tests;
