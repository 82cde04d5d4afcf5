//! Coding agents' journals: every byte an ACP stream's process writes, also kept on the
//! workspace's disk, so what a coding agent said while no desktop was reading outlives the
//! agent — a workspace stopped and started, a machine that rebooted.
//!
//! A journal is `<workspace>/.sam/journals/<epoch>-<stream>.acp`, byte for byte the stream's
//! output (offset `n` of the stream is byte `n` of the file), except that the values of the
//! secrets pushed into the process are masked with `*` of the same length. The folder is the
//! agent's own (mode 0700): the workspace's user cannot read it. A journal is dropped when its
//! stream is closed or the client says it has read it (`journal_drop`), and any left older than
//! [`KEEP`] are removed when the agent next starts a coding agent.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sam_protocol::message::ErrorCode;

use crate::config::RunAs;
use crate::files::FsError;

/// The journals' folder, relative to the workspace root.
pub const FOLDER: &str = ".sam/journals";

/// How long a journal nobody dropped is kept.
pub const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most a journal holds; a coding agent that writes more has the rest only in the ring.
pub const MAX_JOURNAL: u64 = 256 * 1024 * 1024;

/// The workspace's journals.
#[derive(Debug)]
pub struct Journals {
    dir: PathBuf,
    /// Whether the folder was made ready (lazily: before the clone, the workspace's folder
    /// must stay empty).
    ready: Mutex<bool>,
    owner: Option<(u32, u32)>,
}

impl Journals {
    /// The journals of the workspace at `root`; nothing is created yet.
    pub fn new(root: &Path, run_as: Option<&RunAs>) -> Self {
        Self {
            dir: root.join(FOLDER),
            ready: Mutex::new(false),
            owner: run_as.map(|user| (user.uid, user.gid)),
        }
    }

    /// A new journal for stream `stream` of `epoch`, masking `secrets`. `None` (and the reason
    /// logged) when it cannot be written: the stream runs on without one.
    pub fn create(&self, epoch: &str, stream: u32, secrets: Vec<String>) -> Option<Writer> {
        let opened = self.prepare().and_then(|()| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(self.path(epoch, stream))
        });
        match opened {
            Ok(file) => Some(Writer::new(file, secrets)),
            Err(err) => {
                tracing::warn!(%err, stream, "the coding agent's journal cannot be written");
                None
            }
        }
    }

    /// Up to `length` bytes of a journal from `offset`, and whether it ends after them.
    pub fn read(
        &self,
        epoch: &str,
        stream: u32,
        offset: u64,
        length: u64,
    ) -> Result<(Vec<u8>, bool), FsError> {
        let path = self.existing(epoch, stream)?;
        let mut file = File::open(&path).map_err(|err| io_failure(&path, &err))?;
        let size = file
            .metadata()
            .map_err(|err| io_failure(&path, &err))?
            .len();
        let start = offset.min(size);
        file.seek(SeekFrom::Start(start))
            .map_err(|err| io_failure(&path, &err))?;
        let mut data = Vec::new();
        file.take(length.min(size - start))
            .read_to_end(&mut data)
            .map_err(|err| io_failure(&path, &err))?;
        let eof = start + data.len() as u64 >= size;
        Ok((data, eof))
    }

    /// Removes a journal.
    pub fn remove(&self, epoch: &str, stream: u32) -> Result<(), FsError> {
        let path = self.existing(epoch, stream)?;
        std::fs::remove_file(&path).map_err(|err| io_failure(&path, &err))
    }

    /// The journal's path when `epoch` is one the agent could have had and the journal exists.
    fn existing(&self, epoch: &str, stream: u32) -> Result<PathBuf, FsError> {
        if epoch.len() != 16 || !epoch.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FsError {
                code: ErrorCode::InvalidArgument,
                message: format!("{epoch:?} is not an epoch (16 hexadecimal digits)"),
            });
        }
        let path = self.path(&epoch.to_ascii_lowercase(), stream);
        if path.is_file() {
            Ok(path)
        } else {
            Err(FsError {
                code: ErrorCode::NotFound,
                message: format!("no journal of stream {stream} of epoch {epoch}"),
            })
        }
    }

    fn path(&self, epoch: &str, stream: u32) -> PathBuf {
        self.dir.join(format!("{epoch}-{stream}.acp"))
    }

    /// Makes the folder (and `.sam`, the workspace user's, kept out of git) once, and removes
    /// journals older than [`KEEP`].
    fn prepare(&self) -> std::io::Result<()> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if *ready {
            return Ok(());
        }
        let Some(sam) = self.dir.parent() else {
            return Err(std::io::Error::other("the journals' folder has no parent"));
        };
        if !sam.exists() {
            std::fs::create_dir_all(sam)?;
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::chown(sam, Some(uid), Some(gid))?;
            }
        }
        if let Some(root) = sam.parent() {
            exclude_from_git(root);
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&self.dir)?;
        prune(&self.dir, SystemTime::now());
        *ready = true;
        Ok(())
    }
}

/// Removes journals last written more than [`KEEP`] before `now`.
fn prune(dir: &Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|written| now.duration_since(written).ok())
            .is_some_and(|age| age > KEEP);
        if old && entry.path().extension().is_some_and(|e| e == "acp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Adds `/.sam/` to the repository's `.git/info/exclude` (when it has one and lacks the line),
/// so `git status` neither lists SAM's folder nor trips over the journals it cannot read.
fn exclude_from_git(root: &Path) {
    let info = root.join(".git/info");
    if !info.is_dir() {
        return;
    }
    let exclude = info.join("exclude");
    let text = std::fs::read_to_string(&exclude).unwrap_or_default();
    if text.lines().any(|line| line.trim() == "/.sam/") {
        return;
    }
    let separator = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let written = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&exclude)
        .and_then(|mut file| writeln!(file, "{separator}/.sam/"));
    if let Err(err) = written {
        tracing::warn!(%err, "cannot keep .sam out of git");
    }
}

fn io_failure(path: &Path, err: &std::io::Error) -> FsError {
    FsError {
        code: ErrorCode::Io,
        message: format!("journal {}: {err}", path.display()),
    }
}

/// Appends one stream's output to its journal, masking secrets across chunk boundaries: the
/// last `longest secret − 1` bytes wait for the next chunk (or [`Writer::finish`]).
#[derive(Debug)]
pub struct Writer {
    file: Option<File>,
    secrets: Vec<Vec<u8>>,
    /// How many trailing bytes wait for the next chunk: the longest secret less one.
    keep: usize,
    held: Vec<u8>,
    written: u64,
}

impl Writer {
    fn new(file: File, secrets: Vec<String>) -> Self {
        let secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes)
            .collect();
        let keep = secrets
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .saturating_sub(1);
        Self {
            file: Some(file),
            secrets,
            keep,
            held: Vec::new(),
            written: 0,
        }
    }

    /// Appends `bytes`.
    pub fn append(&mut self, bytes: &[u8]) {
        if self.file.is_none() {
            return;
        }
        self.held.extend_from_slice(bytes);
        mask(&mut self.held, &self.secrets);
        let ready = self.held.len().saturating_sub(self.keep);
        let out: Vec<u8> = self.held.drain(..ready).collect();
        self.write(&out);
    }

    /// Writes what is held and syncs the file: the process ended.
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.held);
        self.write(&rest);
        if let Some(file) = &self.file
            && let Err(err) = file.sync_data()
        {
            tracing::warn!(%err, "the coding agent's journal could not be synced");
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else { return };
        if bytes.is_empty() {
            return;
        }
        let room = MAX_JOURNAL.saturating_sub(self.written);
        let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let result = file.write_all(&bytes[..take]);
        self.written += take as u64;
        if let Err(err) = result {
            tracing::warn!(%err, "the coding agent's journal stopped: a write failed");
            self.file = None;
        } else if take < bytes.len() {
            tracing::warn!("the coding agent's journal is full ({MAX_JOURNAL} bytes); it stops");
            self.file = None;
        }
    }
}

/// Overwrites every occurrence of each secret in `bytes` with `*`.
fn mask(bytes: &mut [u8], secrets: &[Vec<u8>]) {
    for secret in secrets {
        let mut at = 0;
        while at + secret.len() <= bytes.len() {
            if bytes[at..].starts_with(secret) {
                bytes[at..at + secret.len()].fill(b'*');
                at += secret.len();
            } else {
                at += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
